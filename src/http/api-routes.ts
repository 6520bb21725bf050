import { z } from 'zod';

type Flags = Record<string, string | boolean | undefined>;

/** What a request becomes: the command's arguments and flags, and its stdin. */
export interface Invocation {
  args: string[];
  flags?: Flags;
  stdin?: string;
}

type Schema = z.ZodObject;
type Input<S> = S extends z.ZodType ? z.output<S> : Record<string, never>;

/**
 * One route of `/api/`: a command of the command table behind a resource-style path. The
 * schemas validate the request (fastify-type-provider-zod) and are what /api/openapi.json
 * documents.
 */
export interface ApiRoute {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** fastify's form: /api/apps/:app/config */
  url: string;
  /** The command it runs (a name in the command table). */
  command: string;
  params?: Schema;
  query?: Schema;
  body?: Schema;
  /** The command prints JSON with --json: the response is that object. */
  json?: boolean;
  /** Long work (a deploy, logs -t, run): progress streams as Server-Sent Events. */
  stream?: boolean | ((input: { query: Record<string, unknown> }) => boolean);
  /** The command reads a terminal (run, enter): stdin from the body, output as stdout/stderr events. */
  terminal?: boolean;
  call(input: {
    params: Record<string, string>;
    query: Record<string, unknown>;
    body: Record<string, unknown>;
  }): Invocation;
}

/** Keeps each route's call typed by its own schemas. */
function route<P extends Schema | undefined, Q extends Schema | undefined, B extends Schema | undefined>(r: {
  method: ApiRoute['method'];
  url: string;
  command: string;
  params?: P;
  query?: Q;
  body?: B;
  json?: boolean;
  stream?: boolean | ((input: { query: Input<Q> }) => boolean);
  terminal?: boolean;
  call(input: { params: Input<P>; query: Input<Q>; body: Input<B> }): Invocation;
}): ApiRoute {
  return r as unknown as ApiRoute;
}

const app = z.strictObject({ app: z.string().max(200).describe('the app name') });
const force = z
  .boolean()
  .optional()
  .describe('do it now although the app may not run two copies and its window is closed');
const restart = z.boolean().optional().describe('false: only store it for the next deploy (--no-restart)');
const types = z.array(z.string().max(100)).max(30).optional().describe('process types (default: all)');
const flag = (v: boolean | undefined): Flags => (v ? { force: true } : {});

/** A route whose only input is the app: `COMMAND APP` (with --json: its object). */
const appOnly = (method: ApiRoute['method'], url: string, command: string, json = false) =>
  route({
    method,
    url: `/api/apps/:app${url}`,
    command,
    params: app,
    json,
    call: ({ params }) => ({ args: [params.app] }),
  });

/** Every command of the table but `server` (which starts the daemon): HTTP's way in. */
export function apiRoutes(): ApiRoute[] {
  return [
    ...keyRoutes(),
    ...serverRoutes(),
    ...appRoutes(),
    ...configRoutes(),
    ...processRoutes(),
    ...runRoutes(),
    ...portRoutes(),
    ...releaseRoutes(),
    ...imageRoutes(),
  ];
}

/** help and the ssh keys. */
function keyRoutes(): ApiRoute[] {
  return [
    route({
      method: 'GET',
      url: '/api/help',
      command: 'help',
      query: z.object({ command: z.string().max(100).optional() }),
      call: ({ query }) => ({ args: query.command ? [query.command] : [] }),
    }),
    route({ method: 'GET', url: '/api/keys', command: 'keys:list', json: true, call: () => ({ args: [] }) }),
    route({
      method: 'POST',
      url: '/api/keys',
      command: 'keys:add',
      body: z.strictObject({
        name: z.string().max(200),
        key: z
          .string()
          .max(16 * 1024)
          .describe('an OpenSSH public key line'),
        admin: z.boolean().optional().describe('may run commands, not only push'),
      }),
      call: ({ body }) => ({ args: [body.name], flags: body.admin ? { admin: true } : {}, stdin: body.key }),
    }),
    route({
      method: 'DELETE',
      url: '/api/keys/:name',
      command: 'keys:remove',
      params: z.strictObject({ name: z.string().max(200) }),
      call: ({ params }) => ({ args: [params.name] }),
    }),
  ];
}

/** Apps, registries and webhooks: the server-wide commands. */
function serverRoutes(): ApiRoute[] {
  return [
    route({ method: 'GET', url: '/api/apps', command: 'apps', json: true, call: () => ({ args: [] }) }),
    route({
      method: 'POST',
      url: '/api/apps',
      command: 'apps:create',
      body: z.strictObject({
        name: z.string().max(200),
        image: z.string().max(1000).optional().describe('an image reference: an image app'),
      }),
      call: ({ body }) => ({ args: [body.name], flags: body.image ? { image: body.image } : {} }),
    }),
    route({
      method: 'GET',
      url: '/api/registries',
      command: 'registries',
      json: true,
      call: () => ({ args: [] }),
    }),
    route({
      method: 'POST',
      url: '/api/registries',
      command: 'registries:login',
      body: z.strictObject({
        host: z.string().max(300),
        user: z.string().max(300),
        secret: z
          .string()
          .max(16 * 1024)
          .describe('password or token'),
      }),
      call: ({ body }) => ({ args: [body.host, body.user], stdin: body.secret }),
    }),
    route({
      method: 'DELETE',
      url: '/api/registries/:host',
      command: 'registries:logout',
      params: z.strictObject({ host: z.string().max(300) }),
      call: ({ params }) => ({ args: [params.host] }),
    }),
    route({
      method: 'GET',
      url: '/api/webhooks',
      command: 'webhooks',
      json: true,
      call: () => ({ args: [] }),
    }),
    route({
      method: 'POST',
      url: '/api/webhooks/rotate',
      command: 'webhooks:rotate',
      call: () => ({ args: [] }),
    }),
    ...clusterRoutes(),
  ];
}

/** The swarm goku's engine is part of (cluster, cluster:*). */
function clusterRoutes(): ApiRoute[] {
  const advertise = z.string().max(300).optional().describe("this node's address as the others reach it");
  return [
    route({ method: 'GET', url: '/api/cluster', command: 'cluster', json: true, call: () => ({ args: [] }) }),
    route({
      method: 'POST',
      url: '/api/cluster/init',
      command: 'cluster:init',
      body: z.strictObject({ advertiseAddr: advertise }),
      call: ({ body }) => ({
        args: [],
        flags: body.advertiseAddr ? { 'advertise-addr': body.advertiseAddr } : {},
      }),
    }),
    route({
      method: 'GET',
      url: '/api/cluster/join-token',
      command: 'cluster:join-token',
      query: z.strictObject({ manager: z.enum(['true', 'false']).optional() }),
      call: ({ query }) => ({ args: [], flags: { manager: query.manager === 'true' } }),
    }),
    route({
      method: 'POST',
      url: '/api/cluster/join',
      command: 'cluster:join',
      body: z.strictObject({
        manager: z.string().max(300).describe('HOST[:PORT] of a manager'),
        token: z.string().max(300),
        advertiseAddr: advertise,
      }),
      call: ({ body }) => ({
        args: [body.manager, body.token],
        flags: body.advertiseAddr ? { 'advertise-addr': body.advertiseAddr } : {},
      }),
    }),
    route({
      method: 'POST',
      url: '/api/cluster/leave',
      command: 'cluster:leave',
      body: z.strictObject({ force: z.boolean().optional() }),
      call: ({ body }) => ({ args: [], flags: { force: body.force === true } }),
    }),
  ];
}

function appRoutes(): ApiRoute[] {
  return [
    appOnly('GET', '', 'apps:info', true),
    route({
      method: 'DELETE',
      url: '/api/apps/:app',
      command: 'apps:destroy',
      params: app,
      stream: true,
      call: ({ params }) => ({ args: [params.app], flags: { force: true } }),
    }),
    route({
      method: 'POST',
      url: '/api/apps/:app/rename',
      command: 'apps:rename',
      params: app,
      body: z.strictObject({ name: z.string().max(200).describe('the new name') }),
      stream: true,
      call: ({ params, body }) => ({ args: [params.app, body.name] }),
    }),
    route({
      method: 'POST',
      url: '/api/apps/:app/deploy',
      command: 'deploy',
      params: app,
      body: z.strictObject({ ref: z.string().max(1000).optional().describe('a new image reference'), force }),
      stream: true,
      call: ({ params, body }) => ({
        args: [params.app, ...(body.ref ? [body.ref] : [])],
        flags: flag(body.force),
      }),
    }),
    appOnly('GET', '/url', 'url'),
    appOnly('GET', '/domains', 'domains', true),
    route({
      method: 'POST',
      url: '/api/apps/:app/domains',
      command: 'domains:add',
      params: app,
      body: z.strictObject({ domains: z.array(z.string().max(300)).min(1).max(100) }),
      call: ({ params, body }) => ({ args: [params.app, ...body.domains] }),
    }),
    route({
      method: 'DELETE',
      url: '/api/apps/:app/domains/:domain',
      command: 'domains:remove',
      params: app.extend({ domain: z.string().max(300) }),
      call: ({ params }) => ({ args: [params.app, params.domain] }),
    }),
  ];
}

function configRoutes(): ApiRoute[] {
  return [
    appOnly('GET', '/config', 'config', true),
    route({
      method: 'PUT',
      url: '/api/apps/:app/config',
      command: 'config:set',
      params: app,
      body: z.strictObject({
        values: z
          .record(z.string().max(200), z.string().max(256 * 1024))
          // zod drops a __proto__ key: a body of only that sets nothing, and says so.
          .refine((v) => Object.keys(v).length > 0, 'give at least one KEY')
          .describe('KEY: value'),
        restart,
        force,
      }),
      stream: true,
      call: ({ params, body }) => ({
        args: [params.app, ...Object.entries(body.values).map(([k, v]) => `${k}=${v}`)],
        flags: { ...flag(body.force), ...(body.restart === false ? { 'no-restart': true } : {}) },
      }),
    }),
    route({
      method: 'DELETE',
      url: '/api/apps/:app/config',
      command: 'config:unset',
      params: app,
      body: z.strictObject({ keys: z.array(z.string().max(200)).min(1).max(1000), restart, force }),
      stream: true,
      call: ({ params, body }) => ({
        args: [params.app, ...body.keys],
        flags: { ...flag(body.force), ...(body.restart === false ? { 'no-restart': true } : {}) },
      }),
    }),
    route({
      method: 'GET',
      url: '/api/apps/:app/config/:key',
      command: 'config:get',
      params: app.extend({ key: z.string().max(200) }),
      call: ({ params }) => ({ args: [params.app, params.key] }),
    }),
    appOnly('GET', '/config-keys', 'config:keys'),
    appOnly('GET', '/config-export', 'config:export'),
  ];
}

function processRoutes(): ApiRoute[] {
  const action = (url: string, command: string, withForce: boolean) =>
    route({
      method: 'POST',
      url: `/api/apps/:app/${url}`,
      command,
      params: app,
      body: z.strictObject({ force }),
      stream: true,
      call: ({ params, body }) => ({ args: [params.app], flags: withForce ? flag(body.force) : {} }),
    });
  const checks = (verb: string) =>
    route({
      method: 'POST',
      url: `/api/apps/:app/checks/${verb}`,
      command: `checks:${verb}`,
      params: app,
      body: z.strictObject({ types }),
      call: ({ params, body }) => ({
        args: [params.app, ...(body.types?.length ? [body.types.join(',')] : [])],
      }),
    });
  return [
    appOnly('GET', '/ps', 'ps', true),
    appOnly('GET', '/certs', 'certs', true),
    route({
      method: 'PUT',
      url: '/api/apps/:app/certs',
      command: 'certs:add',
      params: app,
      body: z.strictObject({
        bundle: z
          .string()
          .max(64 * 1024)
          .describe('the certificate, its chain and its private key, in PEM'),
      }),
      call: ({ params, body }) => ({ args: [params.app], stdin: body.bundle }),
    }),
    appOnly('DELETE', '/certs', 'certs:remove'),
    route({
      method: 'POST',
      url: '/api/apps/:app/certs/auto',
      command: 'certs:auto',
      params: app,
      body: z.strictObject({ on: z.boolean() }),
      call: ({ params, body }) => ({ args: [params.app, body.on ? 'on' : 'off'] }),
    }),
    route({
      method: 'POST',
      url: '/api/apps/:app/certs/redirect',
      command: 'certs:redirect',
      params: app,
      body: z.strictObject({ on: z.boolean(), hsts: z.boolean().optional() }),
      call: ({ params, body }) => ({
        args: [params.app, body.on ? 'on' : 'off'],
        flags: body.hsts ? { hsts: true } : {},
      }),
    }),
    route({
      method: 'POST',
      url: '/api/apps/:app/restart',
      command: 'ps:restart',
      params: app,
      body: z.strictObject({
        force,
        service: z
          .string()
          .regex(/^[a-z0-9][a-z0-9-]{0,31}$/)
          .optional()
          .describe("a compose app's service to restart alone"),
      }),
      stream: true,
      call: ({ params, body }) => ({
        args: [params.app, ...(body.service ? [body.service] : [])],
        flags: flag(body.force),
      }),
    }),
    action('rebuild', 'ps:rebuild', true),
    action('stop', 'ps:stop', false),
    action('start', 'ps:start', false),
    appOnly('GET', '/report', 'ps:report', true),
    appOnly('GET', '/scale', 'ps:scale', true),
    route({
      method: 'POST',
      url: '/api/apps/:app/scale',
      command: 'ps:scale',
      params: app,
      body: z.strictObject({
        formation: z
          .record(z.string().max(100), z.number().int().min(0).max(1000))
          // Without a count ps:scale would only list the formation: a POST must change something.
          .refine((v) => Object.keys(v).length > 0, 'give at least one TYPE: count')
          .describe('type: count'),
        force,
      }),
      stream: true,
      call: ({ params, body }) => ({
        args: [params.app, ...Object.entries(body.formation).map(([t, n]) => `${t}=${n}`)],
        flags: flag(body.force),
      }),
    }),
    appOnly('GET', '/checks', 'checks:report', true),
    checks('enable'),
    checks('disable'),
    checks('skip'),
  ];
}

/** Logs and one-off commands: `logs`, `run`, `enter`. */
function runRoutes(): ApiRoute[] {
  return [
    route({
      method: 'GET',
      url: '/api/apps/:app/logs',
      command: 'logs',
      params: app,
      query: z.object({
        lines: z.string().max(10).optional().describe('past lines (default 100)'),
        process: z.string().max(100).optional(),
        follow: z
          .enum(['true', 'false', '1', '0'])
          .optional()
          .describe('keep streaming (Server-Sent Events)'),
      }),
      stream: ({ query }) => query.follow === 'true' || query.follow === '1',
      call: ({ params, query }) => ({
        args: [params.app],
        flags: {
          ...(query.lines !== undefined ? { num: query.lines } : {}),
          ...(query.process !== undefined ? { process: query.process } : {}),
          ...(query.follow === 'true' || query.follow === '1' ? { tail: true } : {}),
        },
      }),
    }),
    route({
      method: 'POST',
      url: '/api/apps/:app/run',
      command: 'run',
      params: app,
      body: z.strictObject({
        command: z
          .array(z.string().max(64 * 1024))
          .min(1)
          .max(1000),
        stdin: z
          .string()
          .max(1024 * 1024)
          .optional(),
        detach: z.boolean().optional(),
      }),
      stream: true,
      terminal: true,
      call: ({ params, body }) => ({
        args: [params.app, ...body.command],
        flags: body.detach ? { detach: true } : {},
        ...(body.stdin !== undefined ? { stdin: body.stdin } : {}),
      }),
    }),
    route({
      method: 'POST',
      url: '/api/apps/:app/enter',
      command: 'enter',
      params: app,
      body: z.strictObject({
        instance: z.string().max(300).optional().describe('a container name or process type'),
        command: z
          .array(z.string().max(64 * 1024))
          .max(1000)
          .optional()
          .describe('default /bin/sh'),
        stdin: z
          .string()
          .max(1024 * 1024)
          .optional(),
      }),
      stream: true,
      terminal: true,
      call: ({ params, body }) => ({
        args: [params.app, ...(body.instance ? [body.instance] : []), ...(body.command ?? [])],
        ...(body.stdin !== undefined ? { stdin: body.stdin } : {}),
      }),
    }),
  ];
}

function portRoutes(): ApiRoute[] {
  const mappings = z.strictObject({ mappings: z.array(z.string().max(100)).min(1).max(100) });
  return [
    appOnly('GET', '/ports', 'ports', true),
    route({
      method: 'POST',
      url: '/api/apps/:app/ports',
      command: 'ports:add',
      params: app,
      body: z.strictObject({ mapping: z.string().max(100).describe('HOSTPORT:CONTAINERPORT[/udp]') }),
      stream: true,
      call: ({ params, body }) => ({ args: [params.app, body.mapping] }),
    }),
    route({
      method: 'DELETE',
      url: '/api/apps/:app/ports/:hostport',
      command: 'ports:remove',
      params: app.extend({ hostport: z.string().max(20) }),
      stream: true,
      call: ({ params }) => ({ args: [params.app, params.hostport] }),
    }),
    appOnly('GET', '/proxy-ports', 'proxy:ports', true),
    route({
      method: 'POST',
      url: '/api/apps/:app/proxy-ports',
      command: 'proxy:ports-add',
      params: app,
      body: mappings.describe('http:HOSTPORT:CONTAINERPORT each'),
      stream: true,
      call: ({ params, body }) => ({ args: [params.app, ...body.mappings] }),
    }),
    route({
      method: 'DELETE',
      url: '/api/apps/:app/proxy-ports',
      command: 'proxy:ports-remove',
      params: app,
      body: mappings.describe('http:HOSTPORT:CONTAINERPORT or HOSTPORT each'),
      stream: true,
      call: ({ params, body }) => ({ args: [params.app, ...body.mappings] }),
    }),
  ];
}

function releaseRoutes(): ApiRoute[] {
  return [
    appOnly('GET', '/releases', 'releases', true),
    route({
      method: 'GET',
      url: '/api/apps/:app/releases/:version',
      command: 'releases:info',
      params: app.extend({ version: z.string().max(20).describe('vN or N') }),
      json: true,
      call: ({ params }) => ({
        args: [params.app, params.version.startsWith('v') ? params.version : `v${params.version}`],
      }),
    }),
    route({
      method: 'POST',
      url: '/api/apps/:app/rollback',
      command: 'rollback',
      params: app,
      body: z.strictObject({
        version: z.string().max(20).optional().describe('vN (default: the release before the current)'),
        force,
      }),
      stream: true,
      call: ({ params, body }) => ({
        args: [
          params.app,
          ...(body.version ? [body.version.startsWith('v') ? body.version : `v${body.version}`] : []),
        ],
        flags: flag(body.force),
      }),
    }),
  ];
}

function imageRoutes(): ApiRoute[] {
  return [
    appOnly('GET', '/watch', 'watch', true),
    route({
      method: 'POST',
      url: '/api/apps/:app/watch/pin',
      command: 'watch:pin',
      params: app,
      body: z.strictObject({ tag: z.string().max(200), force }),
      stream: true,
      call: ({ params, body }) => ({ args: [params.app, body.tag], flags: flag(body.force) }),
    }),
    appOnly('POST', '/watch/reset', 'watch:reset'),
    route({
      method: 'PUT',
      url: '/api/apps/:app/watch/auto',
      command: 'watch:auto',
      params: app,
      body: z.strictObject({ enabled: z.boolean() }),
      call: ({ params, body }) => ({ args: [params.app, body.enabled ? 'on' : 'off'] }),
    }),
    appOnly('GET', '/schedule', 'schedule', true),
    route({
      method: 'PUT',
      url: '/api/apps/:app/schedule',
      command: 'schedule:set',
      params: app,
      body: z.strictObject({
        window: z.string().max(20).optional().describe('HH:MM-HH:MM (UTC), daily'),
        at: z.string().max(100).optional().describe('one time instead of a daily window'),
        downtime: z.boolean().optional().describe('the app may not run two copies'),
      }),
      call: ({ params, body }) => ({
        args: [params.app, ...(body.window !== undefined ? [body.window] : [])],
        flags: {
          ...(body.at !== undefined ? { at: body.at } : {}),
          ...(body.downtime ? { downtime: true } : {}),
        },
      }),
    }),
    appOnly('DELETE', '/schedule', 'schedule:clear'),
  ];
}
