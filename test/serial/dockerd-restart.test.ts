import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AppRepo,
  eventually,
  GokuServer,
  httpdApp,
  run,
  type SshKey,
  uniquePrefix,
} from '../helpers/goku.js';

// This file restarts the machine's Docker engine, so it runs alone, after every other test
// (vitest.serial.config.ts). It restarts dockerd the way it was started: systemd where
// systemd manages it, otherwise with the running daemon's own command line and environment.

async function dockerUp(): Promise<boolean> {
  return (await run('docker', ['version', '--format', '{{.Server.Version}}'])).code === 0;
}

async function restartDockerd(): Promise<void> {
  if (
    existsSync('/run/systemd/system') &&
    (await run('systemctl', ['is-active', '--quiet', 'docker'])).code === 0
  ) {
    expect((await run('systemctl', ['restart', 'docker'])).code).toBe(0);
  } else {
    const pid = Number((await run('pgrep', ['-o', '-x', 'dockerd'])).stdout.trim());
    expect(pid, 'dockerd must be running').toBeGreaterThan(0);
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    const env = Object.fromEntries(
      readFileSync(`/proc/${pid}/environ`, 'utf8')
        .split('\0')
        .filter(Boolean)
        .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    );
    process.kill(pid, 'SIGTERM');
    await eventually(
      async () => existsSync(`/proc/${pid}`),
      (alive) => !alive,
      60000,
    );
    const log = openSync('/var/log/dockerd.log', 'a');
    const child = spawn(argv[0] as string, argv.slice(1), {
      env,
      detached: true,
      stdio: ['ignore', log, log],
    });
    child.unref();
    closeSync(log);
  }
  await eventually(dockerUp, (up) => up, 60000);
}

describe('routing follows a dockerd restart', () => {
  const server = new GokuServer();
  const p = uniquePrefix();
  const apps = [`${p}-one`, `${p}-two`];
  let key: SshKey;

  beforeAll(async () => {
    key = await server.startWithKey();
  });
  afterAll(async () => {
    if (!(await dockerUp())) await eventually(dockerUp, (up) => up, 60000);
    await server.cleanup();
  });

  it('serves every app again after the engine restarts, without a redeploy', async () => {
    for (const app of apps) {
      const repo = new AppRepo(server.tmp, app, server, key);
      repo.write(httpdApp(app));
      repo.commit(app);
      const r = await repo.push();
      expect(r.code, r.stderr).toBe(0);
    }
    for (const app of apps) expect((await server.get(`${app}.${server.domain}`)).body).toBe(`${app}\n`);

    await restartDockerd();

    for (const app of apps) {
      const r = await eventually(
        () => server.get(`${app}.${server.domain}`),
        (x) => x.status === 200 && x.body === `${app}\n`,
        30000,
      );
      expect(r.status).toBe(200);
    }
    // goku noticed the engine going away and followed it back: no push happened since.
    expect(server.log).toContain('docker events unavailable');
    expect(server.containers(apps[0] as string).map((c) => c.state)).toEqual(['running']);
  });
});
