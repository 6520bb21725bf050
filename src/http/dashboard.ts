import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import nunjucks from 'nunjucks';
import type { Monitor } from '../app/monitor.js';
import type { Services } from '../commands/types.js';
import { webhookUrls } from '../commands/webhooks.js';
import { assertAppName } from '../core/names.js';
import { errorBody, GokuError, httpStatus } from '../errors.js';
import { PACKAGE_ROOT } from '../paths.js';
import { sameSecret } from '../util/secret.js';
import { PAGE_ROUTES, SESSION_COOKIE, type Sessions } from './auth.js';

/** Logins per client address in a minute (the right token included: it is one form). */
const LOGIN_LIMIT = { max: 10, timeWindow: 60_000 };

/**
 * Pages only run goku's own script and styles: an injected tag or handler would not run even
 * if escaping failed somewhere.
 */
const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

export interface DashboardDeps {
  services: Services;
  monitor: Monitor;
  sessions: Sessions;
}

/**
 * The dashboard: server-rendered pages (nunjucks, every value escaped) and one small script
 * that changes things through /api/ with the session's CSRF token and follows deploys, logs
 * and stats. Returns how a failed login request is shown (a page, not JSON).
 */
export async function registerDashboard(
  app: FastifyInstance,
  d: DashboardDeps,
): Promise<(req: FastifyRequest, reply: FastifyReply, err: unknown) => boolean> {
  const dir = join(PACKAGE_ROOT, 'templates', 'dashboard');
  const env = new nunjucks.Environment(new nunjucks.FileSystemLoader(dir), {
    autoescape: true,
    throwOnUndefined: false,
  });
  env.addFilter('age', (iso: string) => age(iso));
  const views: Views = {
    base: (req) => ({
      version: d.services.version,
      csrf: d.sessions.get(req.cookies[SESSION_COOKIE])?.csrf ?? '',
      host: d.services.settings.GOKU_DOMAIN ?? req.hostname.replace(/:\d+$/, ''),
      sshPort: d.services.settings.GOKU_SSH_PORT,
      prefix: d.services.settings.GOKU_CONTAINER_PREFIX,
    }),
    render: (reply, status, template, ctx) =>
      reply.code(status).headers(PAGE_HEADERS).send(env.render(template, ctx)),
  };
  await registerAssets(app, join(dir, 'assets'));
  registerLogin(app, d.sessions, views);
  registerPages(app, d, views);
  // Errors of the login form and of pages are pages too (an API client still gets JSON).
  return (req, reply, err) => {
    const route = req.routeOptions.url;
    if (req.method === 'POST' && route === '/login') {
      void views.render(reply, httpStatus(err), 'login.njk', {
        ...views.base(req),
        csrf: '',
        error: errorBody(err).message,
      });
      return true;
    }
    if (req.method !== 'GET' || route === undefined || !PAGE_ROUTES.has(route)) return false;
    void views.render(reply, httpStatus(err), 'error.njk', {
      ...views.base(req),
      status: httpStatus(err),
      message: errorBody(err).message,
    });
    return true;
  };
}

/** What every page is rendered with, and how. */
interface Views {
  base(req: FastifyRequest): Record<string, unknown>;
  render(reply: FastifyReply, status: number, template: string, ctx: object): FastifyReply;
}

/** The stylesheet and the script, read once at start. */
async function registerAssets(app: FastifyInstance, dir: string): Promise<void> {
  const assets = {
    'dashboard.css': { body: await readFile(join(dir, 'dashboard.css')), type: 'text/css; charset=utf-8' },
    'dashboard.js': {
      body: await readFile(join(dir, 'dashboard.js')),
      type: 'text/javascript; charset=utf-8',
    },
  };
  app.get('/assets/:file', async (req, reply) => {
    const a = assets[(req.params as { file: string }).file as keyof typeof assets];
    if (!a) throw new GokuError('GOKU_ERR_NOT_FOUND', 'no such asset');
    return reply
      .headers({
        'content-type': a.type,
        'cache-control': 'public, max-age=3600',
        'x-content-type-options': 'nosniff',
      })
      .send(a.body);
  });
}

/** /login (the admin token buys a session cookie; rate limited) and /logout. */
function registerLogin(app: FastifyInstance, sessions: Sessions, views: Views): void {
  app.get('/login', async (req, reply) => {
    if (req.gokuCaller || sessions.get(req.cookies[SESSION_COOKIE])) return reply.redirect('/', 303);
    return views.render(reply, 200, 'login.njk', { ...views.base(req), csrf: '' });
  });
  app.post('/login', { config: { rateLimit: LOGIN_LIMIT } }, async (req, reply) => {
    const token = formField(req.body, 'token');
    const s = token === null ? null : sessions.login(token);
    if (!s) {
      return views.render(reply, 401, 'login.njk', {
        ...views.base(req),
        csrf: '',
        error: 'That is not the admin token.',
      });
    }
    reply.setCookie(SESSION_COOKIE, s.id, {
      path: '/',
      httpOnly: true,
      sameSite: 'strict',
      secure: req.protocol === 'https',
    });
    return reply.redirect('/', 303);
  });
  app.post('/logout', async (req, reply) => {
    const id = req.cookies[SESSION_COOKIE];
    const s = sessions.get(id);
    const sent = formField(req.body, 'csrf');
    if (s && (sent === null || !sameSecret(sent, s.csrf))) {
      throw new GokuError(
        'GOKU_ERR_CSRF',
        'the request lacks the CSRF token of your session; reload the page',
      );
    }
    sessions.logout(id);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.redirect('/login', 303);
  });
}

/** The pages behind the login: apps, an app, ssh keys, registries and hooks. */
function registerPages(app: FastifyInstance, d: DashboardDeps, views: Views): void {
  /** A page needs a session; without one, the login form. */
  const page =
    (nav: string, template: string, data: (req: FastifyRequest) => Promise<object>) =>
    async (req: FastifyRequest, reply: FastifyReply) => {
      if (!req.gokuCaller) return reply.redirect('/login', 303);
      return views.render(reply, 200, template, { ...views.base(req), nav, ...(await data(req)) });
    };
  app.get(
    '/',
    page('apps', 'apps.njk', async () => ({ apps: await d.monitor.overview() })),
  );
  app.get(
    '/apps/:app',
    page('apps', 'app.njk', (req) => appPage(d, (req.params as { app: string }).app)),
  );
  app.get(
    '/keys',
    page('keys', 'keys.njk', async () => ({ keys: d.services.keys.list() })),
  );
  app.get(
    '/settings',
    page('settings', 'settings.njk', async () => ({
      hooks: webhookUrls(d.services),
      registries: d.services.registries.list(),
      watches: d.services.watch.views(),
    })),
  );
}

/** Everything an app's page shows. */
async function appPage(d: DashboardDeps, name: string): Promise<object> {
  const app = assertAppName(name);
  const { ops, watch } = d.services;
  // First: an unknown app throws here, before the promises below start (one of them rejecting
  // while another throws as it is made would leave that rejection unhandled).
  const rec = ops.get(app);
  const [summary, info, instances] = await Promise.all([d.monitor.app(app), ops.info(app), ops.ps(app)]);
  const releases = ops.releases(app);
  const watchView = rec.image ? watch.view(app) : null;
  return {
    app: summary,
    info,
    instances: instances.filter((i) => i.process !== 'run' || i.state === 'running'),
    releases: [...releases].sort((a, b) => b.version - a.version),
    currentVersion: summary.release?.version ?? null,
    configKeys: Object.keys(ops.config(app)).sort(),
    formation: ops.formation(app),
    domains: ops.domains(app),
    ports: ops.ports(app),
    proxyPorts: ops.proxyPorts(app),
    watch: watchView,
    schedule: watchView?.schedule ?? null,
  };
}

/** One field of a urlencoded form body (goku's parser hands bodies over as text). */
function formField(body: unknown, name: string): string | null {
  if (typeof body !== 'string') return null;
  return new URLSearchParams(body).get(name);
}

/** "3 minutes ago", for pages (the script keeps it current). */
function age(iso: string | null | undefined): string {
  if (!iso) return '-';
  const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (!Number.isFinite(s)) return '-';
  const [n, unit] =
    s < 60
      ? [s, 'second']
      : s < 3600
        ? [s / 60, 'minute']
        : s < 86400
          ? [s / 3600, 'hour']
          : [s / 86400, 'day'];
  const k = Math.round(n);
  return `${k} ${unit}${k === 1 ? '' : 's'} ago`;
}
