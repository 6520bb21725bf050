import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE_IMAGE } from '../helpers/global-setup.js';
import { AppRepo, eventually, GokuServer, type SshKey, uniquePrefix } from '../helpers/goku.js';

// What goes through goku's nginx pair (the edge on the proxy port, the routes nginx behind
// it): request bodies of any size, the client's address, and kept-alive client connections
// that outlive a deploy.
describe('the proxy path', () => {
  const server = new GokuServer();
  const p = uniquePrefix();
  const app = `${p}-px`;
  let key: SshKey;
  let repo: AppRepo;

  /**
   * A Node app: POST answers the body's length; GET its version, the forwarding headers it
   * got, and how many requests its connection from nginx has carried.
   */
  const nodeApp = (version: string) => ({
    Dockerfile: `FROM ${NODE_IMAGE}\nCOPY server.js /server.js\nEXPOSE 8000\nCMD ["/usr/bin/node", "/server.js"]\n`,
    'server.js': `const served = new WeakMap();
require('http').createServer((req, res) => {
  const n = (served.get(req.socket) ?? 0) + 1;
  served.set(req.socket, n);
  let size = 0;
  req.on('data', (d) => { size += d.length; });
  req.on('end', () => res.end(req.method === 'POST' ? String(size)
    : \`${version} real=\${req.headers['x-real-ip']} fwd=\${req.headers['x-forwarded-for']} conn=\${n}\`));
}).listen(8000);
`,
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
          path: '/',
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
          res.on('error', reject);
          res.on('close', () => {
            if (!res.complete) reject(new Error('the response was cut off'));
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end(opts.body);
    });

  beforeAll(async () => {
    key = await server.startWithKey();
    repo = new AppRepo(server.tmp, app, server, key);
    repo.write(nodeApp('v1'));
    repo.commit('v1');
    const r = await repo.push();
    expect(r.code, r.stderr).toBe(0);
  });
  afterAll(async () => {
    await server.cleanup();
  });

  it('passes request bodies larger than nginx keeps in memory', async () => {
    // Over 16 KiB nginx writes a body to a temp file under GOKU_HOME/nginx, as its worker user.
    for (const size of [100, 20_000, 5_000_000]) {
      const r = await request(false, { method: 'POST', body: Buffer.alloc(size, 'x') });
      expect(r.status, `POST of ${size} bytes`).toBe(200);
      expect(r.body.trim()).toBe(String(size));
    }
  });

  it("tells the app the client's address, keeping a forwarded chain", async () => {
    expect((await request(false)).body).toMatch(/^v1 real=127\.0\.0\.1 fwd=127\.0\.0\.1 conn=/);
    const chained = await request(false, {
      headers: { 'X-Forwarded-For': '203.0.113.7', 'X-Real-IP': '6.6.6.6' },
    });
    expect(chained.body).toMatch(/^v1 real=127\.0\.0\.1 fwd=203\.0\.113\.7, 127\.0\.0\.1 conn=/);
  });

  it('keeps its connections to the app alive (no TIME_WAIT socket per request)', async () => {
    let most = 0;
    for (let i = 0; i < 20; i++) {
      most = Math.max(most, Number(/conn=(\d+)/.exec((await request(false)).body)?.[1]));
    }
    expect(most).toBeGreaterThan(1);
  });

  it('keeps a client connection open across a deploy: the same socket gets the new release', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const edge = server.edgePid() as number;
      const workers = () => readFileSync(`/proc/${edge}/task/${edge}/children`, 'utf8').trim();
      const edgeWorkers = workers();
      const before = await request(agent);
      expect(before.body).toMatch(/^v1 /);
      repo.write(nodeApp('v2'));
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
  it('retires the old routes workers itself at a reload, and nginx respawns none of them', async () => {
    const master = server.nginxPid() as number;
    const workers = () =>
      readFileSync(`/proc/${master}/task/${master}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    // worker_processes auto: one per CPU. A worker of an earlier reload may still be finishing
    // its last connection: wait for just the current ones first.
    const count = availableParallelism();
    const before = await eventually(
      async () => workers(),
      (w) => w.length === count,
    );
    for (let i = 0; i < 3; i++) {
      const r = await server.cli(['ps:restart', app]);
      expect(r.code, r.stderr).toBe(0);
    }
    // Old workers exit once their requests are done; as many new ones run as before.
    const after = await eventually(
      async () => workers(),
      (w) => w.length === count && !w.some((x) => before.includes(x)),
    );
    expect(after.filter((w) => before.includes(w))).toEqual([]);
    expect(server.nginxPid()).toBe(master);
    expect((await request(false)).status).toBe(200);
  });

  it("lets no other local user reach the routes nginx's socket (only the edge may set X-Real-IP)", async () => {
    const sock = join(server.home, 'nginx', 'sock', 'routes.sock');
    const tryAs = (uid: number) =>
      spawnSync(
        process.execPath,
        [
          '-e',
          `require('net').connect(${JSON.stringify(sock)}).on('connect', () => { console.log('connected'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(1); })`,
        ],
        { uid, gid: uid },
      )
        .stdout.toString()
        .trim();
    expect(tryAs(1)).toBe('EACCES'); // daemon, any local user
    expect(tryAs(65534)).toBe('connected'); // nobody: nginx's workers
    // A forged address from the outside is replaced by the edge.
    const r = await request(false, { headers: { 'X-Real-IP': '6.6.6.6' } });
    expect(r.body).toContain('real=127.0.0.1');
  });
});
