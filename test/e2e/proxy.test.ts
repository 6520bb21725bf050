import { readFileSync } from 'node:fs';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppRepo, GokuServer, type SshKey, uniquePrefix } from '../helpers/goku.js';

// What goes through goku's nginx pair (the edge on the proxy port, the routes nginx behind
// it): request bodies of any size, the client's address, and kept-alive client connections
// that outlive a deploy.
describe('the proxy path', () => {
  const server = new GokuServer();
  const p = uniquePrefix();
  const app = `${p}-px`;
  let key: SshKey;
  let repo: AppRepo;

  /** A CGI app: GET says its version and the forwarding headers it got; POST counts the body. */
  const cgiApp = (version: string) => ({
    Dockerfile: `FROM goku-test/busybox:1\nCOPY index.cgi /www/cgi-bin/index.cgi\nRUN chmod +x /www/cgi-bin/index.cgi\nEXPOSE 8000\nCMD ["httpd", "-f", "-p", "8000", "-h", "/www"]\n`,
    'index.cgi': `#!/bin/sh\necho "Content-Type: text/plain"\necho\nif [ "$REQUEST_METHOD" = POST ]; then wc -c | tr -d ' '; else echo "${version} real=$HTTP_X_REAL_IP fwd=$HTTP_X_FORWARDED_FOR"; fi\n`,
  });

  /** One request on the given agent; says whether it went over a reused connection. */
  const request = (
    agent: http.Agent | false,
    opts: { method?: string; body?: Buffer; headers?: Record<string, string> } = {},
  ) =>
    new Promise<{ status: number; body: string; reused: boolean }>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: server.proxyPort,
          path: '/cgi-bin/index.cgi',
          method: opts.method ?? 'GET',
          headers: { Host: `${app}.${server.domain}`, ...opts.headers },
          agent,
          timeout: 10000,
        },
        (res) => {
          let body = '';
          res.on('data', (d) => {
            body += d;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, reused: req.reusedSocket }));
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end(opts.body);
    });

  beforeAll(async () => {
    key = await server.startWithKey();
    repo = new AppRepo(server.tmp, app, server, key);
    repo.write(cgiApp('v1'));
    repo.commit('v1');
    const r = await repo.push();
    expect(r.code, r.stderr).toBe(0);
  });
  afterAll(async () => {
    await server.cleanup();
  });

  it('passes request bodies larger than nginx keeps in memory', async () => {
    // Over 16 KiB nginx writes a body to a temp file under GOKU_HOME/nginx, as its worker user.
    // (busybox httpd's CGI stalls on bodies of about 1 MB behind any nginx, so this stays below.)
    for (const size of [100, 20_000, 200_000]) {
      const r = await request(false, { method: 'POST', body: Buffer.alloc(size, 'x') });
      expect(r.status, `POST of ${size} bytes`).toBe(200);
      expect(r.body.trim()).toBe(String(size));
    }
  });

  it("tells the app the client's address, keeping a forwarded chain", async () => {
    expect((await request(false)).body.trim()).toBe('v1 real=127.0.0.1 fwd=127.0.0.1');
    const chained = await request(false, {
      headers: { 'X-Forwarded-For': '203.0.113.7', 'X-Real-IP': '6.6.6.6' },
    });
    expect(chained.body.trim()).toBe('v1 real=127.0.0.1 fwd=203.0.113.7, 127.0.0.1');
  });

  it('keeps a client connection open across a deploy: the same socket gets the new release', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const edge = server.edgePid() as number;
      const workers = () => readFileSync(`/proc/${edge}/task/${edge}/children`, 'utf8').trim();
      const edgeWorkers = workers();
      const before = await request(agent);
      expect(before.body).toMatch(/^v1 /);
      repo.write(cgiApp('v2'));
      repo.commit('v2');
      const r = await repo.push();
      expect(r.code, r.stderr).toBe(0);
      const after = await request(agent);
      expect(after.status).toBe(200);
      expect(after.body).toMatch(/^v2 /);
      expect(after.reused).toBe(true);
      // The edge nginx was not reloaded by the deploy: same master, same workers.
      expect(server.edgePid()).toBe(edge);
      expect(workers()).toBe(edgeWorkers);
    } finally {
      agent.destroy();
    }
  });
});
