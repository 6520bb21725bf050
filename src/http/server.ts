import type { Server as HttpServerType, RequestListener } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Server as TlsServer } from 'node:tls';
import fastifyCookie from '@fastify/cookie';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifySwagger from '@fastify/swagger';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
} from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import type { AppEvents } from '../app/events.js';
import type { Monitor } from '../app/monitor.js';
import type { Caller, Command, Services } from '../commands/types.js';
import { errorBody, GokuError, httpStatus, oneLine } from '../errors.js';
import { HOOK_KINDS, type HookKind } from '../registry/webhooks.js';
import { sameSecret } from '../util/secret.js';
import { registerApi } from './api.js';
import { callerOf, PAGE_ROUTES, PUBLIC_ROUTES, SESSION_COOKIE, Sessions } from './auth.js';
import { registerDashboard } from './dashboard.js';
import type { ApiTls, TlsPair } from './tls.js';
import { watcherRoute } from './watcher-api.js';

/** Webhook bodies past this are refused with 413 before they are read whole. */
export const MAX_HOOK_BODY = 1024 * 1024;

/** API bodies past this are refused with 413 (a config value or a run's stdin may be large). */
const MAX_API_BODY = 2 * 1024 * 1024;

export interface HttpDeps {
  table: Command[];
  services: Services;
  events: AppEvents;
  monitor: Monitor;
  adminToken: string;
  log: Logger;
  /** TLS of its own (GOKU_HTTP_TLS_*); absent: plain HTTP. */
  tls?: ApiTls | null;
}

declare module 'fastify' {
  interface FastifyRequest {
    gokuCaller?: Caller;
  }
}

/**
 * The HTTP endpoint on fastify: /ping, the registry webhooks (secret in the path), and behind
 * the admin token (bearer, or a dashboard session with its CSRF token) registrywatcher's API,
 * every command under /api/, its OpenAPI document, and the dashboard.
 */
export class HttpServer {
  private app: FastifyInstance | null = null;

  constructor(private readonly d: HttpDeps) {}

  async listen(host: string, port: number): Promise<number> {
    const tls = this.d.tls?.initial() ?? null;
    const app = await buildHttp(this.d, tls);
    await app.listen({ host, port });
    this.app = app;
    if (tls) this.d.tls?.attach(app.server as unknown as TlsServer);
    return (app.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    this.d.tls?.stop();
    // Open event streams would hold close() until their clients leave.
    this.app?.server.closeAllConnections();
    await this.app?.close();
  }
}

/** Builds the fastify app (over TLS with `tls`); HttpServer.listen binds it. */
export async function buildHttp(d: HttpDeps, tls: TlsPair | null = null): Promise<FastifyInstance> {
  const app = Fastify({
    // fastify's types know http servers only; an https one takes the same handler.
    ...(tls
      ? {
          serverFactory: (handler: RequestListener) =>
            createHttpsServer(tls, handler) as unknown as HttpServerType,
        }
      : {}),
    logger: false,
    bodyLimit: MAX_API_BODY,
    requestTimeout: 30_000,
    // An app or domain name is at most a few hundred bytes; URLs past this are hostile.
    maxParamLength: 1000,
    forceCloseConnections: true,
    // No automatic HEAD: on an event stream it would start one nobody reads.
    exposeHeadRoutes: false,
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.server.headersTimeout = 10_000;
  await app.register(fastifyCookie);
  await app.register(fastifyRateLimit, { global: false });
  await app.register(fastifySwagger, {
    openapi: {
      info: { title: 'goku', version: d.services.version, description: 'Every goku command over HTTP' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
    hideUntagged: true,
  });
  acceptAnyBody(app);
  let asPage: (req: FastifyRequest, reply: FastifyReply, err: unknown) => boolean = () => false;
  app.setErrorHandler((err, req, reply) => answerError(d.log, err as Error, req, reply, asPage));
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send(errorBody(notFound(req)));
  });
  const sessions = new Sessions(d.adminToken);
  app.addHook('onRequest', async (req) => authorize(d, sessions, req));
  for (const ping of ['/ping', '/ping/']) app.get(ping, async () => ({ message: 'pong' }));
  registerHooks(app, d);
  registerWatcher(app, d);
  registerApi(app, { ...d, caller: callerOrThrow });
  app.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  asPage = await registerDashboard(app, { services: d.services, monitor: d.monitor, sessions });
  return app;
}

function notFound(req: FastifyRequest): GokuError {
  return new GokuError('GOKU_ERR_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]?.slice(0, 80)}`);
}

/**
 * Bodies arrive as text whatever their type (registries send their own JSON media types) and
 * are parsed here, so a bad body gets goku's error and code rather than fastify's.
 */
function acceptAnyBody(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  app.addHook('preValidation', async (req) => {
    if (typeof req.body !== 'string') return;
    if (req.body.trim() === '') {
      req.body = undefined;
      return;
    }
    const route = req.routeOptions.url;
    if (route === '/login' || route === '/logout') return;
    try {
      req.body = JSON.parse(req.body);
    } catch {
      throw route === '/hooks/:kind/:secret'
        ? new GokuError('GOKU_ERR_WEBHOOK_PAYLOAD', 'the body is not JSON')
        : new GokuError('GOKU_ERR_USAGE', 'the body is not JSON');
    }
  });
}

async function authorize(d: HttpDeps, sessions: Sessions, req: FastifyRequest): Promise<void> {
  const route = req.routeOptions.url;
  if (route !== undefined && PUBLIC_ROUTES.has(route)) return;
  const who = callerOf(
    { adminToken: d.adminToken, sessions },
    req.headers.authorization,
    req.cookies[SESSION_COOKIE],
  );
  if (!who) {
    if (route !== undefined && PAGE_ROUTES.has(route)) return; // the page redirects to /login
    throw unauthorized();
  }
  // A browser sends the cookie with any request, even one another site makes it send: every
  // change made with a session also carries the session's CSRF token, which only its pages know.
  const safe = req.method === 'GET' || req.method === 'HEAD';
  if (who.csrf !== null && !safe) {
    const sent = req.headers['x-csrf-token'];
    if (typeof sent !== 'string' || !sameSecret(sent, who.csrf)) {
      throw new GokuError(
        'GOKU_ERR_CSRF',
        'the request lacks the CSRF token of your session; reload the page',
      );
    }
  }
  req.gokuCaller = who.caller;
}

function unauthorized(): GokuError {
  return new GokuError('GOKU_ERR_UNAUTHORIZED', 'send Authorization: Bearer TOKEN (GOKU_HOME/admin-token)');
}

/** Who called; a second check behind authorize(), for every handler that acts. */
function callerOrThrow(req: FastifyRequest): Caller {
  if (!req.gokuCaller) throw unauthorized();
  return req.gokuCaller;
}

function registerHooks(app: FastifyInstance, d: HttpDeps): void {
  app.route({
    method: ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'],
    url: '/hooks/:kind/:secret',
    bodyLimit: MAX_HOOK_BODY,
    // The secret is part of the path: a wrong one (or an unknown hook) is a plain 404 before the
    // body is read, and neither the path nor the body is logged.
    onRequest: async (req, reply) => {
      const { kind, secret } = req.params as { kind: string; secret: string };
      if (!HOOK_KINDS.includes(kind as HookKind) || !d.services.webhooks.accepts(secret)) {
        reply.header('connection', 'close');
        await reply.code(404).send({ message: 'not found' });
        return reply;
      }
      if (req.method !== 'POST') {
        reply.header('connection', 'close');
        await reply.code(405).send({ message: 'webhooks take POST' });
        return reply;
      }
    },
    handler: async (req, reply) => {
      if (req.body === undefined) throw new GokuError('GOKU_ERR_WEBHOOK_PAYLOAD', 'the body is not JSON');
      const answer = await d.services.webhooks.handle((req.params as { kind: HookKind }).kind, req.body);
      return reply.code(answer.status).send(answer.body);
    },
  });
}

/** registrywatcher's API (GET /repos, GET|POST /tags/REPO, POST /tags/REPO/reset). */
function registerWatcher(app: FastifyInstance, d: HttpDeps): void {
  const handler = async (req: FastifyRequest, reply: FastifyReply) => {
    callerOrThrow(req);
    // The matched route, not the raw path (which may be percent-encoded or absolute-form).
    const path =
      req.routeOptions.url === '/repos' ? '/repos' : `/tags/${(req.params as { '*': string })['*']}`;
    const answer = await watcherRoute(d.services.watch, req.method, path, async () => req.body ?? {});
    if (!answer) throw notFound(req);
    return reply.code(answer.status).send(answer.body);
  };
  app.route({ method: ['GET', 'POST'], url: '/repos', handler });
  app.route({ method: ['GET', 'POST'], url: '/tags/*', handler });
}

function answerError(
  log: Logger,
  err: FastifyError | Error,
  req: FastifyRequest,
  reply: FastifyReply,
  asPage: (req: FastifyRequest, reply: FastifyReply, err: unknown) => boolean,
): void {
  let coded: unknown = err;
  const fe = err as FastifyError;
  if (hasZodFastifySchemaValidationErrors(err)) {
    const first = err.validation[0];
    const where = first?.instancePath ? `${first.instancePath.replace(/^\//, '').replace(/\//g, '.')}: ` : '';
    coded = new GokuError(
      'GOKU_ERR_USAGE',
      `${err.validationContext ?? 'request'} ${where}${first?.message ?? 'is invalid'}`,
    );
  } else if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    // A body still arriving past the limit: answer, then drop the connection.
    reply.header('connection', 'close');
    coded = new GokuError(
      'GOKU_ERR_BODY_TOO_LARGE',
      `the body is over ${req.routeOptions.bodyLimit ?? MAX_API_BODY} bytes`,
    );
  } else if (fe.statusCode === 429) {
    coded = new GokuError('GOKU_ERR_RATE_LIMITED', oneLine(err));
  } else if (!(err instanceof GokuError) && fe.statusCode && fe.statusCode < 500) {
    coded = new GokuError('GOKU_ERR_USAGE', oneLine(err));
  }
  const status = httpStatus(coded);
  if (asPage(req, reply, coded)) return;
  if (status >= 500)
    log.warn({ err: oneLine(err), path: req.url.split('?')[0]?.slice(0, 80) }, 'HTTP request failed');
  void reply.code(status).send(errorBody(coded));
}
