import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AppRepo,
  eventually,
  GOKU_BIN,
  GokuServer,
  httpdApp,
  makeKey,
  run,
  type SshKey,
  uniquePrefix,
} from '../helpers/goku.js';

describe('goku restarts never interrupt app traffic', () => {
  const server = new GokuServer({ env: { GOKU_DEPLOY_TIMEOUT: '30' } });
  const p = uniquePrefix();
  const app = `${p}-live`;
  let key: SshKey;
  let repo: AppRepo;

  beforeAll(async () => {
    key = await server.startWithKey();
    repo = new AppRepo(server.tmp, app, server, key);
    await repo.deploy(httpdApp('v1'), 'v1');
  });
  afterAll(async () => {
    await server.cleanup();
  });

  it('keeps serving while goku is stopped, adopts the same nginx on start, and deploys again', async () => {
    const nginx = server.nginxPid();
    const edge = server.edgePid();
    expect(nginx).not.toBeNull();
    expect(edge).not.toBeNull();
    await server.stop();
    expect((await server.get(`${app}.${server.domain}`)).body).toBe('v1\n');
    await server.start();
    expect(server.nginxPid()).toBe(nginx);
    expect(server.edgePid()).toBe(edge);
    expect(server.log).toContain('adopting running nginx');
    expect(server.log).toContain('adopting running edge nginx');
    expect((await server.get(`${app}.${server.domain}`)).body).toBe('v1\n');
    repo.write(httpdApp('v2'));
    repo.commit('v2');
    const r = await repo.push();
    expect(r.code, r.stderr).toBe(0);
    expect((await server.get(`${app}.${server.domain}`)).body).toBe('v2\n');
  });

  it('restarts the managed nginx when it dies', async () => {
    const pid = server.nginxPid() as number;
    // A crashed master: its workers are left behind holding the port, as after a real crash.
    process.kill(pid, 'SIGKILL');
    const r = await eventually(
      () => server.get(`${app}.${server.domain}`),
      (x) => x.status === 200 && server.nginxPid() !== null && server.nginxPid() !== pid,
      10000,
    );
    expect(r.body).toBe('v2\n');

    // The same for the edge nginx that holds the proxy port.
    const edge = server.edgePid() as number;
    process.kill(edge, 'SIGKILL');
    const e = await eventually(
      () => server.get(`${app}.${server.domain}`),
      (x) => x.status === 200 && server.edgePid() !== null && server.edgePid() !== edge,
      10000,
    );
    expect(e.body).toBe('v2\n');
  });

  it('after a SIGKILL in the middle of a deploy: the old release serves, no leftover container, the lock is free', async () => {
    // The previous release is fully retired before this deploy starts.
    await eventually(
      async () => server.containers(app).length,
      (n) => n === 1,
      10000,
    );
    repo.write({ Dockerfile: 'FROM goku-test/busybox:1\nEXPOSE 8000\nCMD ["sleep", "3600"]\n' });
    repo.commit('never answers');
    const push = repo.push();
    // Wait until the new container runs beside the old one, then kill goku hard.
    await eventually(
      async () => server.containers(app).length,
      (n) => n === 2,
      30000,
    );
    await server.kill();
    await push;
    expect((await server.get(`${app}.${server.domain}`)).body).toBe('v2\n');
    await server.start();
    const cs = server.containers(app);
    expect(cs.map((c) => c.name)).toEqual([app]);
    // The interrupted release is recorded as failed; the one before it is still current.
    const [last, prev] = JSON.parse((await server.cli(['releases', app, '--json'])).stdout);
    expect(last).toMatchObject({
      status: 'failed',
      reason: 'interrupted: goku stopped before the deploy finished',
    });
    expect(prev).toMatchObject({ status: 'succeeded' });
    expect((await server.get(`${app}.${server.domain}`)).body).toBe('v2\n');
    repo.write(httpdApp('v3'));
    repo.commit('v3');
    const r = await repo.push();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('waiting');
    expect((await server.get(`${app}.${server.domain}`)).body).toBe('v3\n');
  });
});

describe('settings and nginx modes', () => {
  it('exits non-zero with one line on a bad setting', async () => {
    for (const [k, v, msg] of [
      ['GOKU_SSH_PORT', 'abc', /^error: bad setting GOKU_SSH_PORT="abc"/],
      ['GOKU_NGINX', 'apache', /^error: bad setting GOKU_NGINX="apache"/],
      ['GOKU_PROXY_PORT', '70000', /^error: bad setting GOKU_PROXY_PORT="70000"/],
      [
        'GOKU_ACME_EMAIL',
        'not-an-email',
        /^error: bad setting GOKU_ACME_EMAIL="not-an-email": must be an email/,
      ],
      ['GOKU_ACME_DIRECTORY', 'http://ca/dir', /^error: bad setting GOKU_ACME_DIRECTORY=.*https:\/\//],
      [
        'GOKU_REGISTRY',
        'registry.example.com',
        /^error: bad setting GOKU_REGISTRY=.*must be HOST\[:PORT\]\/PREFIX/,
      ],
      [
        'GOKU_REGISTRY',
        'https://r.example.com/goku',
        /^error: bad setting GOKU_REGISTRY=.*HOST\[:PORT\]\/PREFIX/,
      ],
      ['GOKU_REGISTRY', 'r.example.com/Goku', /^error: bad setting GOKU_REGISTRY=.*HOST\[:PORT\]\/PREFIX/],
      [
        'GOKU_SCHEDULER',
        'kubernetes',
        /^error: bad setting GOKU_SCHEDULER="kubernetes": must be docker or swarm/,
      ],
    ] as const) {
      const r = await run(GOKU_BIN, ['server'], { env: { GOKU_HOME: '/nonexistent/goku', [k]: v } });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });

  it('refuses settings that do not go together, with one line', async () => {
    for (const [env, msg] of [
      [{ GOKU_HTTP_TLS_CERT: '/x.pem' }, /set both GOKU_HTTP_TLS_CERT and GOKU_HTTP_TLS_KEY/],
      [{ GOKU_HTTP_TLS_DOMAIN: 'goku.example.com' }, /GOKU_HTTP_TLS_DOMAIN needs ACME/],
      [{ GOKU_ACME_EMAIL: 'a@example.com', GOKU_NGINX: 'system' }, /needs goku's own edge nginx/],
      // The machine's engine is never in a swarm.
      [
        { GOKU_SCHEDULER: 'swarm' },
        /^error: GOKU_SCHEDULER=swarm: this Docker engine is not in a swarm; run goku cluster:init/,
      ],
    ] as const) {
      const r = await run(GOKU_BIN, ['server'], { env: { GOKU_HOME: '/nonexistent/goku', ...env } });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });

  describe('GOKU_NGINX=system writes one file and reloads the system nginx', () => {
    const sys = { dir: '', conf: '', wrapper: '' };
    let server: GokuServer;

    beforeAll(async () => {
      server = new GokuServer();
      sys.dir = join(server.tmp, 'system-nginx');
      mkdirSync(join(sys.dir, 'conf.d'), { recursive: true });
      mkdirSync(join(sys.dir, 'tmp'), { recursive: true });
      sys.conf = join(sys.dir, 'conf.d', 'goku.conf');
      await server.allocatePorts();
      // A stand-in for the distribution's nginx: its own nginx.conf that includes conf.d/*.conf.
      writeFileSync(
        join(sys.dir, 'nginx.conf'),
        `pid ${sys.dir}/nginx.pid;\nerror_log ${sys.dir}/error.log;\nevents {}\nhttp {\n  access_log off;\n  client_body_temp_path ${sys.dir}/tmp;\n  proxy_temp_path ${sys.dir}/tmp;\n  include ${sys.dir}/conf.d/*.conf;\n  server { listen 127.0.0.1:${server.proxyPort} default_server; return 404 "system default\\n"; }\n}\n`,
      );
      sys.wrapper = join(sys.dir, 'nginx');
      writeFileSync(
        sys.wrapper,
        `#!/bin/sh\nexec /usr/sbin/nginx -p ${sys.dir} -c ${sys.dir}/nginx.conf -e ${sys.dir}/error.log "$@"\n`,
      );
      chmodSync(sys.wrapper, 0o755);
      execFileSync(sys.wrapper, []);
      server.extraEnv = {
        GOKU_NGINX: 'system',
        GOKU_NGINX_BIN: sys.wrapper,
        GOKU_NGINX_CONF: sys.conf,
        GOKU_NGINX_PID: join(sys.dir, 'nginx.pid'),
      };
      await server.start();
    });
    afterAll(async () => {
      try {
        process.kill(Number(readFileSync(join(sys.dir, 'nginx.pid'), 'utf8')), 'SIGQUIT');
      } catch {
        // not running
      }
      await server.cleanup();
    });

    it('routes a pushed app through the system nginx', async () => {
      const key = makeKey(server.tmp, 'dev');
      expect((await server.cli(['keys:add', 'dev'], key.pub)).code).toBe(0);
      const app = `${uniquePrefix()}-sys`;
      const repo = new AppRepo(server.tmp, app, server, key);
      repo.write(httpdApp('via system nginx'));
      repo.commit('v1');
      const r = await repo.push();
      expect(r.code, r.stderr).toBe(0);
      expect((await server.get(`${app}.${server.domain}`)).body).toBe('via system nginx\n');
      expect((await server.get('unknown.example.org')).body).toBe('system default\n');
      expect(readFileSync(sys.conf, 'utf8')).toContain(`server_name ${app}.${server.domain}`);
    });
  });
});
