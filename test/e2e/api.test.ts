import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRoutes } from '../../src/http/api-routes.js';
import { Api, parseSse, type SseEvent } from '../helpers/api.js';
import { TestCa } from '../helpers/certs.mjs';
import {
  AppRepo,
  eventually,
  freePort,
  GokuServer,
  makeKey,
  type SshKey,
  uniquePrefix,
} from '../helpers/goku.js';

/** An app that serves HTTP and prints a line every 0.3 s (for logs -t). */
const tickingApp = (body: string) => ({
  Dockerfile:
    'FROM goku-test/busybox:1\nCOPY www /www\nEXPOSE 8000\nCMD ["sh", "-c", "httpd -p 8000 -h /www; i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.3; done"]\n',
  'www/index.html': `${body}\n`,
});

// Every command over HTTP as JSON under /api/, driven the way a client does: with and without
// the token, good and bad bodies, long work as Server-Sent Events, against a real pushed app.
describe('HTTP API', () => {
  const server = new GokuServer();
  const p = uniquePrefix();
  const app = `${p}-api`;
  const other = `${p}-img`;
  let key: SshKey;
  let repo: AppRepo;
  let api: Api;
  /** Every route pattern a test called with a good request. */
  const called = new Set<string>();
  const call = (method: string, pattern: string, params: Record<string, string>, body?: unknown) => {
    called.add(`${method} ${pattern}`);
    const path = pattern.replace(/:([a-z]+)/g, (_, k: string) => encodeURIComponent(params[k] as string));
    return api.json(method, path, body);
  };
  const events = (method: string, pattern: string, params: Record<string, string>, body?: unknown) => {
    called.add(`${method} ${pattern}`);
    const path = pattern.replace(/:([a-z]+)/g, (_, k: string) => encodeURIComponent(params[k] as string));
    return api.events(method, path, body);
  };

  beforeAll(async () => {
    key = await server.startWithKey();
    api = new Api(server);
    repo = new AppRepo(server.tmp, app, server, key);
    await repo.deploy(tickingApp('api v1'), 'v1');
  });
  afterAll(async () => {
    await server.cleanup();
  });

  it('answers every route with 401 and a code without the token, or with a wrong one', async () => {
    const wrong = new Api(server, 'not-the-token');
    const none = new Api(server, null);
    for (const r of apiRoutes()) {
      const path = r.url.replace(/:([a-z]+)/g, 'x');
      for (const client of [none, wrong]) {
        const res = await client.request(r.method, path, r.body ? { body: {} } : {});
        expect(res.status, `${r.method} ${r.url}`).toBe(401);
        expect(res.json.code).toBe('GOKU_ERR_UNAUTHORIZED');
      }
    }
    for (const path of [
      '/api/openapi.json',
      '/api/apps/x/events',
      '/api/apps/x/live',
      '/api/apps/x/stats',
      '/repos',
    ]) {
      expect((await none.request('GET', path)).status).toBe(401);
    }
    // Paths that are /api/apps once decoded or resolved are no way around the token.
    for (const path of ['/%61pi/apps', '/ap%69/keys', '/%72epos', '/api/./apps', '//api/apps', '/API/apps']) {
      expect((await none.request('GET', path)).status, path).toBe(401);
    }
    const absolute = await new Promise<string>((resolve) => {
      const s = net.connect(server.httpPort, '127.0.0.1', () =>
        s.write(`GET http://elsewhere/api/apps HTTP/1.1\r\nHost: elsewhere\r\nConnection: close\r\n\r\n`),
      );
      let text = '';
      s.on('data', (d) => {
        text += d;
      });
      s.on('end', () => resolve(text.split('\r\n')[0] as string));
    });
    expect(absolute).toBe('HTTP/1.1 401 Unauthorized');
  });

  it('refuses bad bodies of every route with 400 and changes nothing', async () => {
    const before = (await api.json('GET', `/api/apps/${app}/releases`)).json.length;
    for (const r of apiRoutes().filter((x) => x.body)) {
      const path = r.url.replace(/:app/, app).replace(/:([a-z]+)/g, 'x');
      for (const body of ['[]', '{', '{"values": 5, "formation": "x", "name": 7, "command": "ls"}']) {
        const res = await api.request(r.method, path, { body, accept: 'application/json' });
        expect(res.status, `${r.method} ${r.url} ${body}`).toBe(400);
        expect(res.json.code, res.text).toBe('GOKU_ERR_USAGE');
        expect(res.json.message).toMatch(/\S/);
      }
    }
    expect((await api.json('GET', `/api/apps/${app}/releases`)).json.length).toBe(before);
    // A body declared over the limit is refused from its length alone: the server answers 413
    // and closes. (The request is sent without its body: a client still writing 3 MiB when the
    // connection closes may get a reset before it reads the answer, a race of TCP seen in CI.)
    const big = await new Promise<{ status: number; json: { code?: string } }>((resolve, reject) => {
      const sock = net.connect(server.httpPort, '127.0.0.1');
      let text = '';
      sock.on('data', (d) => {
        text += d;
      });
      sock.on('error', reject);
      sock.on('close', () => {
        const [head = '', body = ''] = text.split('\r\n\r\n');
        resolve({ status: Number(head.split(' ')[1]), json: JSON.parse(body || '{}') });
      });
      sock.write(
        `PUT /api/apps/${app}/config HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${api.token}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${3 * 1024 * 1024}\r\n\r\n`,
      );
    });
    expect(big.status).toBe(413);
    expect(big.json.code).toBe('GOKU_ERR_BODY_TOO_LARGE');
    const unknown = await api.json('GET', '/api/nothing-here');
    expect([unknown.status, unknown.json.code]).toEqual([404, 'GOKU_ERR_NOT_FOUND']);
    const bad = await api.json('GET', '/api/apps/Not_An-App!');
    expect([bad.status, bad.json.code]).toEqual([400, 'GOKU_ERR_INVALID_APP_NAME']);
  });

  it('lists, creates, renames and destroys apps; keys; help', async () => {
    const help = await call('GET', '/api/help', {});
    expect(help.json.output).toContain('apps:create');
    expect((await api.json('GET', '/api/help?command=ps:scale')).json.output).toContain('ps:scale APP');
    expect((await call('GET', '/api/apps', {})).json.map((a: { name: string }) => a.name)).toContain(app);
    const info = await call('GET', '/api/apps/:app', { app });
    expect(info.json.name).toBe(app);
    expect(info.json.deployments[0].instances).toBe(1);
    expect((await call('GET', '/api/apps/:app/url', { app })).json.output).toContain(`${app}.goku.test`);

    expect(
      (await call('POST', '/api/apps', {}, { name: other, image: '127.0.0.1:1/none/app:1.0.0' })).status,
    ).toBe(200);
    const dup = await api.json('POST', '/api/apps', { name: other });
    expect([dup.status, dup.json.code]).toEqual([409, 'GOKU_ERR_APP_EXISTS']);
    const w = await call('GET', '/api/apps/:app/watch', { app: other });
    expect(w.status, w.text).toBe(200);
    expect((await call('PUT', '/api/apps/:app/watch/auto', { app: other }, { enabled: false })).status).toBe(
      200,
    );
    expect((await api.json('GET', `/api/apps/${other}/watch`)).json.autoDeploy).toBe(false);
    // The registry is not there: the watcher's errors arrive with their codes.
    const pin = await call('POST', '/api/apps/:app/watch/pin', { app: other }, { tag: '1.0.1' });
    expect([pin.status, pin.json.code]).toEqual([502, 'GOKU_ERR_REGISTRY']);
    const reset = await call('POST', '/api/apps/:app/watch/reset', { app: other });
    expect(reset.status, reset.text).toBe(200);
    const dep = await call('POST', '/api/apps/:app/deploy', { app: other }, {});
    expect([dep.status, dep.json.code]).toEqual([502, 'GOKU_ERR_REGISTRY']);
    const gitDeploy = await api.json('POST', `/api/apps/${app}/deploy`, {});
    expect([gitDeploy.status, gitDeploy.json.code]).toEqual([409, 'GOKU_ERR_SOURCE_MISMATCH']);

    const window = await call('PUT', '/api/apps/:app/schedule', { app: other }, { window: '01:00-02:00' });
    expect(window.status, window.text).toBe(200);
    expect(JSON.stringify((await call('GET', '/api/apps/:app/schedule', { app: other })).json)).toContain(
      '01:00',
    );
    expect((await call('DELETE', '/api/apps/:app/schedule', { app: other })).status).toBe(200);

    const renamed = `${p}-img2`;
    expect((await call('POST', '/api/apps/:app/rename', { app: other }, { name: renamed })).status).toBe(200);
    expect((await api.json('GET', `/api/apps/${other}`)).status).toBe(404);
    const gone = await call('DELETE', '/api/apps/:app', { app: renamed });
    expect(gone.status, gone.text).toBe(200);
    expect((await api.json('GET', `/api/apps/${renamed}`)).json.code).toBe('GOKU_ERR_APP_NOT_FOUND');

    const second = makeKey(server.tmp, 'api-key');
    const add = await call('POST', '/api/keys', {}, { name: 'api-key', key: second.pub });
    expect(add.status, add.text).toBe(200);
    const keys = (await call('GET', '/api/keys', {})).json as { name: string; role: string }[];
    expect(keys.find((k) => k.name === 'api-key')?.role).toBe('deploy');
    expect((await api.json('POST', '/api/keys', { name: 'bad', key: 'ssh-rsa nope' })).json.code).toBe(
      'GOKU_ERR_INVALID_KEY',
    );
    expect((await call('DELETE', '/api/keys/:name', { name: 'api-key' })).status).toBe(200);
    expect((await api.json('DELETE', '/api/keys/api-key')).json.code).toBe('GOKU_ERR_KEY_NOT_FOUND');
  });

  it('sets config as a streamed release, reads it back, and unsets it', async () => {
    const value = 'a "quoted" <b>value</b>\nsecond line ✓';
    const set = await events('PUT', '/api/apps/:app/config', { app }, { values: { GREETING: value } });
    expect(set.status).toBe(200);
    const kinds = set.events.map((e) => e.event);
    expect(kinds.at(-1)).toBe('result');
    expect(JSON.parse(set.events.at(-1)?.data as string)).toEqual({ exitCode: 0 });
    expect(
      set.events
        .filter((e) => e.event === 'progress')
        .map((e) => e.data)
        .join('\n'),
    ).toMatch(/deployed|restarted|config/i);
    expect((await call('GET', '/api/apps/:app/config', { app })).json.GREETING).toBe(value);
    expect((await call('GET', '/api/apps/:app/config/:key', { app, key: 'GREETING' })).json.output).toBe(
      `${value}\n`,
    );
    expect((await call('GET', '/api/apps/:app/config-keys', { app })).json.output).toContain('GREETING');
    expect((await call('GET', '/api/apps/:app/config-export', { app })).json.output).toContain('GREETING=');
    const releases = (await call('GET', '/api/apps/:app/releases', { app })).json as { kind: string }[];
    expect(releases.at(-1)?.kind ?? releases[0]?.kind).toBeDefined();
    expect(releases.some((r) => r.kind === 'config')).toBe(true);
    const badKey = await api.json('PUT', `/api/apps/${app}/config`, { values: { 'BAD KEY': 'x' } });
    expect([badKey.status, badKey.json.code]).toEqual([400, 'GOKU_ERR_INVALID_CONFIG']);
    const proto = await api.json('PUT', `/api/apps/${app}/config`, '{"values": {"__proto__": "x"}}');
    expect([proto.status, proto.json.code], proto.text).toEqual([400, 'GOKU_ERR_USAGE']);
    expect(proto.json.message).toContain('give at least one KEY');
    const unset = await call(
      'DELETE',
      '/api/apps/:app/config',
      { app },
      { keys: ['GREETING'], restart: false },
    );
    expect(unset.status, unset.text).toBe(200);
    expect((await api.json('GET', `/api/apps/${app}/config`)).json.GREETING).toBeUndefined();
  });

  it('scales, restarts, stops, starts and rebuilds; reports and checks', async () => {
    const up = await call('POST', '/api/apps/:app/scale', { app }, { formation: { web: 2 } });
    expect(up.status, up.text).toBe(200);
    called.add('GET /api/apps/:app/ps');
    await eventually(
      async () => (await api.json('GET', `/api/apps/${app}/ps`)).json as { state: string }[],
      (ps) => ps.filter((i) => i.state === 'running').length === 2,
    );
    const scale = (await call('GET', '/api/apps/:app/scale', { app })).json as {
      process_type: string;
      quantity: number;
    }[];
    expect(scale).toContainEqual({ process_type: 'web', quantity: 2 });
    expect((await api.json('POST', `/api/apps/${app}/scale`, { formation: { web: 1 } })).status).toBe(200);
    const none = await api.json('POST', `/api/apps/${app}/scale`, { formation: {} });
    expect([none.status, none.json.code]).toEqual([400, 'GOKU_ERR_USAGE']);
    const restart = await events('POST', '/api/apps/:app/restart', { app }, {});
    expect(restart.events.at(-1)?.event).toBe('result');
    expect((await call('GET', '/api/apps/:app/report', { app })).status).toBe(200);
    expect((await call('GET', '/api/apps/:app/checks', { app })).status).toBe(200);
    for (const verb of ['skip', 'disable', 'enable']) {
      const r = await call('POST', `/api/apps/:app/checks/${verb}`, { app }, { types: ['web'] });
      expect(r.status, r.text).toBe(200);
    }
    expect((await api.json('GET', `/api/apps/${app}/checks`)).json).toEqual({ disabled: [], skipped: [] });
    expect((await call('POST', '/api/apps/:app/stop', { app }, {})).status).toBe(200);
    expect(server.containers(app).filter((c) => c.state === 'running')).toHaveLength(0);
    expect((await call('POST', '/api/apps/:app/start', { app }, {})).status).toBe(200);
    expect(server.containers(app).filter((c) => c.state === 'running')).toHaveLength(1);
    const rebuild = await call('POST', '/api/apps/:app/rebuild', { app }, {});
    expect(rebuild.status, rebuild.text).toBe(200);
    expect(rebuild.json.exitCode).toBe(0);
  });

  it('shows logs, follows them as events, runs and enters commands', async () => {
    const logs = await call('GET', '/api/apps/:app/logs', { app });
    expect(logs.json.output).toMatch(/tick \d+/);
    const follow = api.open('GET', `/api/apps/${app}/logs?follow=true&lines=0`);
    await eventually(
      async () => follow.events.filter((e) => e.event === 'progress').length,
      (n) => n >= 2,
      10_000,
    );
    follow.close();
    expect(follow.events[0]?.data).toMatch(/tick \d+/);

    // The dashboard's streams: stats once and live (deploys, logs, stats on one connection).
    const first = await api.json('GET', `/api/apps/${app}/stats?once=true`);
    expect(first.json.instances[0]).toMatchObject({ name: app, state: 'running', cpu: null });
    expect(first.json.instances[0].memory).toBeGreaterThan(0);
    const second = await api.json('GET', `/api/apps/${app}/stats?once=true`);
    expect(typeof second.json.instances[0].cpu).toBe('number');
    const live = api.open('GET', `/api/apps/${app}/live?lines=5`);
    const seen = await eventually(
      async () => new Set(live.events.map((e) => e.event)),
      (kinds) => kinds.has('log') && kinds.has('stats'),
      10_000,
    );
    live.close();
    expect(seen.has('log')).toBe(true);

    const ran = await call(
      'POST',
      '/api/apps/:app/run',
      { app },
      { command: ['sh', '-c', 'cat; echo oops >&2; exit 3'], stdin: 'from stdin' },
    );
    expect(ran.status, ran.text).toBe(200);
    expect(ran.json).toMatchObject({ output: 'from stdin', stderr: 'oops\n', exitCode: 3 });
    const streamed = await api.events('POST', `/api/apps/${app}/run`, { command: ['echo', 'streamed'] });
    expect(streamed.events.find((e) => e.event === 'stdout')?.data).toBe('streamed\n');
    expect(JSON.parse(streamed.events.at(-1)?.data as string)).toEqual({ exitCode: 0 });
    const detached = await api.json('POST', `/api/apps/${app}/run`, { command: ['true'], detach: true });
    expect(detached.json.output).toContain('runs detached');
    const entered = await call(
      'POST',
      '/api/apps/:app/enter',
      { app },
      { command: ['sh', '-c', 'echo "in $HOSTNAME"'] },
    );
    expect(entered.json.output).toMatch(/^in \S+/);
  });

  it('adds and removes domains, ports and proxy ports', async () => {
    expect(
      (await call('POST', '/api/apps/:app/domains', { app }, { domains: ['api.example.test'] })).status,
    ).toBe(200);
    expect((await call('GET', '/api/apps/:app/domains', { app })).json.extra).toContain('api.example.test');
    const bad = await api.json('POST', `/api/apps/${app}/domains`, { domains: ['not a domain'] });
    expect([bad.status, bad.json.code]).toEqual([400, 'GOKU_ERR_INVALID_DOMAIN']);
    const rm = await call('DELETE', '/api/apps/:app/domains/:domain', { app, domain: 'api.example.test' });
    expect(rm.status).toBe(200);

    const port = await freePort();
    const added = await call('POST', '/api/apps/:app/ports', { app }, { mapping: `${port}:8000` });
    expect(added.status, added.text).toBe(200);
    expect((await call('GET', '/api/apps/:app/ports', { app })).json).toHaveLength(1);
    expect(
      (await call('DELETE', '/api/apps/:app/ports/:hostport', { app, hostport: String(port) })).status,
    ).toBe(200);

    const proxyPort = await freePort();
    const padd = await call(
      'POST',
      '/api/apps/:app/proxy-ports',
      { app },
      { mappings: [`http:${proxyPort}:8000`] },
    );
    expect(padd.status, padd.text).toBe(200);
    const listed = (await call('GET', '/api/apps/:app/proxy-ports', { app })).json as { host: number }[];
    expect(listed.map((x) => x.host)).toContain(proxyPort);
    const premove = await call(
      'DELETE',
      '/api/apps/:app/proxy-ports',
      { app },
      { mappings: [String(proxyPort)] },
    );
    expect(premove.status, premove.text).toBe(200);
  });

  it('shows releases and rolls back', async () => {
    const list = (await api.json('GET', `/api/apps/${app}/releases`)).json as { version: number }[];
    const first = list.map((r) => r.version).sort((a, b) => a - b)[0] as number;
    const one = await call('GET', '/api/apps/:app/releases/:version', { app, version: `v${first}` });
    expect(one.json.version).toBe(first);
    const back = await events('POST', '/api/apps/:app/rollback', { app }, { version: `v${first}` });
    expect(back.events.at(-1)?.event, JSON.stringify(back.events)).toBe('result');
    const missing = await api.json('POST', `/api/apps/${app}/rollback`, { version: 'v999' });
    expect([missing.status, missing.json.code]).toEqual([404, 'GOKU_ERR_RELEASE_NOT_FOUND']);
  });

  it('manages registries, webhooks and schedules', async () => {
    expect((await call('GET', '/api/registries', {})).json).toEqual([]);
    const login = await call('POST', '/api/registries', {}, { host: '127.0.0.1:1', user: 'u', secret: 's' });
    expect(login.status).toBe(502);
    const logout = await call('DELETE', '/api/registries/:host', { host: 'nothing.example' });
    expect([logout.status, logout.json.code]).toEqual([404, 'GOKU_ERR_NO_LOGIN']);
    const hooks = (await call('GET', '/api/webhooks', {})).json as { deploy: string };
    expect((await call('POST', '/api/webhooks/rotate', {})).status).toBe(200);
    expect((await api.json('GET', '/api/webhooks')).json.deploy).not.toBe(hooks.deploy);
    const gitApp = await api.json('PUT', `/api/apps/${app}/schedule`, { window: '01:00-02:00' });
    expect([gitApp.status, gitApp.json.code]).toEqual([409, 'GOKU_ERR_SOURCE_MISMATCH']);
  });

  it("streams an app's deploys started by a git push; hanging up never cancels a deploy", async () => {
    const watch = api.open('GET', `/api/apps/${app}/events`);
    await watch.ready;
    expect(watch.status).toBe(200);
    repo.write(tickingApp('api v2'));
    repo.commit('v2');
    expect((await repo.push()).code).toBe(0);
    // The stream may open while the last deploy still writes its last lines: from its start on.
    const fromStart = (es: SseEvent[]) =>
      es.slice(
        Math.max(
          0,
          es.findIndex((e) => e.event === 'start'),
        ),
      );
    const seen = fromStart(
      await eventually(
        async () => watch.events,
        (es) => es.some((e) => e.event === 'start') && fromStart(es).some((e) => e.event === 'done'),
        10_000,
      ),
    );
    watch.close();
    expect(seen[0]?.event).toBe('start');
    expect(JSON.parse(seen[0]?.data as string)).toMatchObject({ kind: 'push', by: 'dev' });
    expect(
      seen
        .filter((e) => e.event === 'progress')
        .map((e) => e.data)
        .join('\n'),
    ).toContain('Building');

    // A config change whose stream is closed at its first line still lands, as a release.
    const before = (await api.json('GET', `/api/apps/${app}/releases`)).json.length;
    const hangUp = api.open('PUT', `/api/apps/${app}/config`, { values: { AFTER_HANGUP: 'yes' } });
    await eventually(
      async () => hangUp.text,
      (t) => t.includes('event: progress'),
      10_000,
    );
    hangUp.close();
    await eventually(
      async () =>
        (await api.json('GET', `/api/apps/${app}/releases`)).json as { kind: string; status: string }[],
      (rs) => rs.length === before + 1 && rs[0]?.kind === 'config' && rs[0]?.status === 'succeeded',
      30_000,
    );
    expect((await api.json('GET', `/api/apps/${app}/config`)).json.AFTER_HANGUP).toBe('yes');
    expect((await server.get(`${app}.goku.test`)).body).toBe('api v2\n');
  });

  it('publishes an OpenAPI document generated from the schemas, covering every route', async () => {
    const doc = (await api.json('GET', '/api/openapi.json')).json;
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.components.securitySchemes.bearer.scheme).toBe('bearer');
    for (const r of apiRoutes()) {
      const path = r.url.replace(/:([a-z]+)/g, '{$1}');
      expect(doc.paths[path]?.[r.method.toLowerCase()], `${r.method} ${path}`).toBeDefined();
    }
    const put = doc.paths['/api/apps/{app}/config'].put;
    expect(put.requestBody.content['application/json'].schema.properties.values).toBeDefined();
  });

  it('installs, shows, redirects and removes a certificate', async () => {
    const ca = new TestCa(server.tmp);
    const leaf = ca.leaf([`${app}.${server.domain}`]);
    const added = await call('PUT', '/api/apps/:app/certs', { app }, { bundle: leaf.cert + leaf.key });
    expect(added.status, added.text).toBe(200);
    const shown = await call('GET', '/api/apps/:app/certs', { app });
    expect(shown.json.cert.names).toEqual([`${app}.${server.domain}`]);
    expect(shown.text).not.toContain('PRIVATE KEY');
    const bad = await api.json('PUT', `/api/apps/${app}/certs`, { bundle: 'garbage' });
    expect([bad.status, bad.json.code]).toEqual([422, 'GOKU_ERR_CERT']);
    expect(
      (await call('POST', '/api/apps/:app/certs/redirect', { app }, { on: true, hsts: true })).status,
    ).toBe(200);
    expect((await server.get(`${app}.${server.domain}`)).status).toBe(308);
    expect((await api.json('POST', `/api/apps/${app}/certs/redirect`, { on: false })).status).toBe(200);
    expect((await call('DELETE', '/api/apps/:app/certs', { app })).status).toBe(200);
    // This server has no GOKU_ACME_EMAIL: certs:auto says what to set.
    const auto = await call('POST', '/api/apps/:app/certs/auto', { app }, { on: true });
    expect([auto.status, auto.json.code, auto.json.message]).toEqual([
      400,
      'GOKU_ERR_USAGE',
      expect.stringContaining('set GOKU_ACME_EMAIL'),
    ]);
  });

  it('called every route with a good request', () => {
    // /api/cluster/* changes the engine's swarm membership: test/e2e/cluster.test.ts calls each
    // of them on engines of its own (this server's engine is the machine's, which must never
    // join a swarm).
    const missing = apiRoutes()
      .map((r) => `${r.method} ${r.url}`)
      .filter((r) => !called.has(r) && !r.includes(' /api/cluster'));
    expect(missing).toEqual([]);
  });
});

describe('SSE parsing helper', () => {
  it('joins multi-line data', () => {
    expect(parseSse('event: a\ndata: 1\ndata: 2\n\n')).toEqual([{ event: 'a', data: '1\n2' }]);
  });
});
