import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AppRepo,
  GokuServer,
  httpdApp,
  httpGet,
  httpRequest,
  type SshKey,
  uniquePrefix,
} from '../helpers/goku.js';

// A CGI script that answers a POST with its body: a POST lost or cut by a reload shows.
const echoApp = (v: string) => ({
  ...httpdApp(v),
  'www/cgi-bin/echo': '#!/bin/sh\necho "Content-Type: text/plain"\necho\nhead -c "$CONTENT_LENGTH"\n',
});

// A load generator hits the app through nginx while it is pushed three times, restarted,
// reconfigured and rolled back: not one request may fail (a socket error or timeout) or
// answer non-2xx, on new connections or on kept-alive ones.
describe('zero downtime under load', () => {
  // The default health policy, 1 s uptime watch included, as users run it.
  const server = new GokuServer({ env: { GOKU_CHECK_UPTIME: '1' } });
  const p = uniquePrefix();
  const app = `${p}-load`;
  let key: SshKey;

  beforeAll(async () => {
    key = await server.startWithKey();
  });
  afterAll(async () => {
    await server.cleanup();
  });

  it('three pushes, a restart, a config change and a rollback drop nothing', async () => {
    const repo = new AppRepo(server.tmp, app, server, key);
    await repo.deploy(echoApp('v0'), 'v0');

    const seen = new Map<string, number>();
    const failures: string[] = [];
    let running = true;
    // Half the clients open a new connection per request, half keep theirs alive (as browsers
    // and wrk do): a reload must cut neither.
    const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 3 });
    const worker = async (agent: http.Agent | false) => {
      while (running) {
        try {
          const r = await httpGet(server.proxyPort, `${app}.${server.domain}`, '/', agent);
          if (r.status !== 200) failures.push(`status ${r.status}`);
          else seen.set(r.body, (seen.get(r.body) ?? 0) + 1);
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    };
    // POSTs on kept-alive connections: the edge may send a request again only when the routes
    // nginx closed a reused connection without reading it; the body must arrive, once.
    let posted = 0;
    const poster = async () => {
      for (let i = 0; running; i++) {
        const body = `post-${i}-${Math.random()}`;
        try {
          const r = await httpRequest(server.proxyPort, `${app}.${server.domain}`, {
            method: 'POST',
            path: '/cgi-bin/echo',
            body,
            agent: keepAlive,
          });
          if (r.status !== 200 || r.body !== body) failures.push(`POST: status ${r.status}, body ${r.body}`);
          else posted++;
        } catch (err) {
          failures.push(`POST: ${(err as Error).message}`);
        }
      }
    };
    const load = Promise.all([worker(false), worker(false), worker(keepAlive), worker(keepAlive), poster()]);
    try {
      for (const v of ['v1', 'v2', 'v3']) {
        repo.write(echoApp(v));
        repo.commit(v);
        const r = await repo.push();
        expect(r.code, r.stderr).toBe(0);
      }
      const restart = await server.cli(['ps:restart', app]);
      expect(restart.code, restart.stderr).toBe(0);
      const config = await server.cli(['config:set', app, 'FEATURE=on']);
      expect(config.code, config.stderr).toBe(0);
      const rollback = await server.cli(['rollback', app]);
      expect(rollback.code, rollback.stderr).toBe(0);
      // Keep the load on while the last old container is retired.
      await new Promise((r) => setTimeout(r, 1500));
    } finally {
      running = false;
      await load;
      keepAlive.destroy();
    }
    expect(failures).toEqual([]);
    expect([...seen.keys()].sort()).toEqual(['v0\n', 'v1\n', 'v2\n', 'v3\n']);
    const served = [...seen.values()].reduce((a, b) => a + b, 0);
    expect(served).toBeGreaterThan(100);
    expect(posted).toBeGreaterThan(20);
    // The rollback undid the config change: v3's image again, without FEATURE.
    expect((await httpGet(server.proxyPort, `${app}.${server.domain}`)).body).toBe('v3\n');
    expect(JSON.parse((await server.cli(['config', app, '--json'])).stdout)).toEqual({});
  });
});
