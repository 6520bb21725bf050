import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppRepo, freePort, GokuServer, httpGet, type SshKey, uniquePrefix } from '../helpers/goku.js';

// Dokku's proxy:ports: the default http:PROXY:PORT mapping, and extra HTTP ports that serve the
// same domains on another host port, to another container port, across deploys.
describe('proxy:ports', () => {
  const server = new GokuServer();
  const p = uniquePrefix();
  const app = `${p}-pp`;
  let key: SshKey;
  let repo: AppRepo;

  // Two ports: 8000 serves the page, 9000 a second one (an admin port, say).
  const twoPorts = (body: string) => ({
    Dockerfile:
      'FROM goku-test/busybox:1\nCOPY www /www\nCOPY admin /admin\nEXPOSE 8000\nCMD ["sh", "-c", "httpd -p 9000 -h /admin; exec httpd -f -p 8000 -h /www"]\n',
    'www/index.html': `${body}\n`,
    'admin/index.html': `admin ${body}\n`,
  });

  beforeAll(async () => {
    key = await server.startWithKey();
    repo = new AppRepo(server.tmp, app, server, key);
    await repo.deploy(twoPorts('one'), 'one');
  });
  afterAll(() => server.cleanup());

  it('adds an HTTP port that serves the app across deploys, lists it, and removes it', async () => {
    const extra = await freePort();
    expect(JSON.parse((await server.ok(['proxy:ports', app, '--json'])).stdout)).toEqual([
      { scheme: 'http', host: server.proxyPort, container: 8000, default: true },
    ]);
    const add = await server.ok(['proxy:ports-add', app, `http:${extra}:9000`]);
    expect(add.stdout).toContain(`is served on port ${extra} too (http:${extra}:9000)`);
    const host = `${app}.${server.domain}`;
    expect((await httpGet(extra, host)).body).toBe('admin one\n');
    expect((await server.get(host)).body).toBe('one\n');
    // Unknown hosts on the extra port: goku's 404, never the app.
    expect((await httpGet(extra, 'nobody.example.com')).status).toBe(404);
    expect((await server.ok(['proxy:ports', app])).stdout).toMatch(new RegExp(`http +${extra} +9000`));

    repo.write(twoPorts('two'));
    repo.commit('two');
    expect((await repo.push()).code).toBe(0);
    expect((await httpGet(extra, host)).body).toBe('admin two\n');

    await server.ok(['proxy:ports-remove', app, String(extra)]);
    await expect(httpGet(extra, host)).rejects.toThrow();
    expect((await server.get(host)).body).toBe('two\n');
  });

  it('refuses bad, taken and unsupported mappings, changing nothing', async () => {
    const taken = await freePort();
    const { createServer } = await import('node:net');
    const other = createServer().listen(taken, '127.0.0.1');
    await new Promise((r) => other.once('listening', r));
    try {
      for (const [spec, says] of [
        ['http:80', 'invalid proxy port mapping "http:80"'],
        ['https:8443:5000', 'scheme https is not served by proxy:ports-add'],
        ['tcp:2000:22', 'for tcp or udp, use goku ports:add'],
        [`http:${server.proxyPort}:9000`, `goku config:set ${app} PORT=9000`],
        [`http:${server.sshPort}:9000`, "is goku's own"],
        [`http:${taken}:9000`, 'is taken by another program'],
      ] as const) {
        const r = await server.cli(['proxy:ports-add', app, spec]);
        expect(r.code, spec).not.toBe(0);
        expect(r.stderr.trim().split('\n')).toHaveLength(1);
        expect(r.stderr).toContain(says);
      }
      const nothing = await server.cli(['proxy:ports-remove', app, 'http:12345:80']);
      expect(nothing.stderr).toContain(`app ${app} maps no host port 12345`);
    } finally {
      other.close();
    }
    expect(JSON.parse((await server.ok(['proxy:ports', app, '--json'])).stdout)).toHaveLength(1);
    expect((await server.get(`${app}.${server.domain}`)).body).toBe('two\n');
  });
});
