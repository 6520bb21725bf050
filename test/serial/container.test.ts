import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  AppRepo,
  eventually,
  GokuServer,
  httpdApp,
  httpGet,
  makeKey,
  ROOT,
  type RunResult,
  run,
  underLoad,
  uniquePrefix,
} from '../helpers/goku.js';

// goku in a container, installed the way a user does it (./install.sh host, ./install.sh dind):
// the image is built from this checkout (its base made with debootstrap when there is none),
// an app is pushed with OpenSSH and fetched through goku's nginx, the container is upgraded
// while the app is under load, and --uninstall removes goku. Serial: it builds images and runs
// a second Docker engine.
const prefix = uniquePrefix();
const image = `goku-test/goku:${prefix}`;
const docker = (...args: string[]) => execFileSync('docker', args, { stdio: 'pipe' }).toString().trim();
const exists = (name: string) => {
  try {
    docker('container', 'inspect', name);
    return true;
  } catch {
    return false;
  }
};

/** install.sh with a test server's settings (read at each run) and this test's names. */
function installer(server: GokuServer, container: string) {
  const link = join(server.tmp, 'bin', 'goku');
  const env = () => ({
    ...server.env(),
    GOKU_CONTAINER: container,
    GOKU_IMAGE: image,
    GOKU_BIN_LINK: link,
    GOKU_MODE_FILE: join(server.tmp, 'install-mode'),
  });
  return {
    install: (...args: string[]): Promise<RunResult> =>
      run('bash', [join(ROOT, 'install.sh'), ...args], { env: env() }),
    /** The host's `goku` command (install.sh's wrapper around docker exec). */
    goku: (args: string[], input?: string) => run(link, args, { input }),
    link,
  };
}

describe('install.sh host: goku in a container on the host engine', () => {
  const server = new GokuServer();
  const container = `${prefix}-goku-host`;
  const { install, goku, link } = installer(server, container);
  afterAll(async () => {
    await install('--uninstall', '--purge').catch(() => undefined);
    if (exists(container)) docker('rm', '-f', container);
    await server.cleanup();
  }, 120_000);

  it('serves a pushed app; an upgrade under load fails no request; --uninstall keeps the app', async () => {
    await server.allocatePorts();
    const first = await install('host');
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(first.stdout).toContain('goku is running (host mode)');
    expect(first.stdout).toMatch(/Admin token \(HTTP API\): {2}[0-9a-f]{32,}/);

    const key = makeKey(server.tmp, 'dev');
    const added = await goku(['keys:add', 'dev'], key.pub);
    expect(added.code, added.stderr).toBe(0);
    const repo = new AppRepo(server.tmp, 'boxed', server, key);
    await repo.deploy(httpdApp('served from host mode'), 'first');
    expect((await httpGet(server.proxyPort, 'boxed.goku.test')).body).toContain('served from host mode');
    // The app runs on the host's engine, labelled for this GOKU_HOME (the same path inside).
    expect(server.names('boxed')).toEqual(['boxed']);
    // The nginx masters are containers of their own, so that goku's can be replaced.
    const masters = () =>
      docker('ps', '-q', '--filter', `label=goku.nginx=${server.home}`).split('\n').sort();
    const before = masters();
    expect(before).toHaveLength(2);
    const startedAt = () => docker('inspect', '-f', '{{.State.StartedAt}}', container);
    const started = startedAt();

    // An upgrade: the image is built again and goku's container replaced, under load.
    const load = await underLoad(server, 'boxed.goku.test', () => install());
    expect(load.result.code, load.result.stderr).toBe(0);
    expect(load.result.stdout).toContain('Replacing the running container');
    console.log(`host-mode upgrade: ${load.ok} requests answered, ${load.failed} failed`);
    expect(load.failed).toBe(0);
    expect(load.ok).toBeGreaterThan(0);
    const upgraded = startedAt();
    expect(upgraded).not.toBe(started);
    expect(masters()).toEqual(before);
    // The new goku knows the app and deploys it again.
    expect((await goku(['apps'])).stdout).toContain('boxed');
    await repo.deploy(httpdApp('second release'), 'second');
    expect((await httpGet(server.proxyPort, 'boxed.goku.test')).body).toContain('second release');

    // A bad setting in an upgrade: one line; the running container is not touched.
    server.extraEnv = { GOKU_WATCH_INTERVAL: '1' };
    const bad = await install();
    server.extraEnv = {};
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toBe(
      'error: bad setting GOKU_WATCH_INTERVAL="1": must be at least 5 (seconds)',
    );
    expect(startedAt()).toBe(upgraded);
    expect(docker('inspect', '-f', '{{.State.Running}}', container)).toBe('true');
    expect((await goku(['apps'])).stdout).toContain('boxed');

    // --uninstall: goku, its nginx and its command go; the app is stopped and kept.
    const gone = await install('--uninstall');
    expect(gone.code, gone.stderr).toBe(0);
    expect(exists(container)).toBe(false);
    expect(masters()).toEqual(['']);
    expect(existsSync(link)).toBe(false);
    expect(server.containers('boxed').map((c) => c.state)).toEqual(['exited']);
    expect(existsSync(join(server.home, 'store.json'))).toBe(true);
  }, 900_000);
});

describe('install.sh dind: goku in a container with a Docker engine of its own', () => {
  const server = new GokuServer();
  const container = `${prefix}-goku-dind`;
  const { install, goku } = installer(server, container);
  afterAll(async () => {
    await install('--uninstall', '--purge').catch(() => undefined);
    if (exists(container)) docker('rm', '-f', container);
    for (const v of [`${container}-home`, `${container}-docker`])
      await run('docker', ['volume', 'rm', '-f', v]);
    await run('docker', ['rmi', image]);
    await server.cleanup();
  }, 120_000);

  it('serves a pushed app from the inner engine; an upgrade keeps every app', async () => {
    await server.allocatePorts();
    const first = await install('dind');
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(first.stdout).toContain('goku is running (dind mode)');

    const key = makeKey(server.tmp, 'dev');
    expect((await goku(['keys:add', 'dev'], key.pub)).code).toBe(0);
    // The inner engine has no images: the app brings its own busybox (FROM scratch).
    const repo = new AppRepo(server.tmp, 'inner', server, key);
    copyFileSync('/bin/busybox', join(repo.dir, 'busybox'));
    const files = (body: string) => ({
      Dockerfile:
        'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n' +
        'COPY www /www\nEXPOSE 8000\nCMD ["httpd", "-f", "-p", "8000", "-h", "/www"]\n',
      'www/index.html': `${body}\n`,
    });
    await repo.deploy(files('served from dind mode'), 'first');
    expect((await httpGet(server.proxyPort, 'inner.goku.test')).body).toContain('served from dind mode');
    // Nothing of the app is on the host's engine.
    expect(server.names('inner')).toEqual([]);
    expect(docker('exec', container, 'docker', 'ps', '--format', '{{.Names}}')).toContain('inner');

    // An upgrade stops goku's engine with it: the app is down until the new container's
    // engine has started it again (what a user sees; measured, not hidden).
    let down: [number, number] | null = null;
    const load = await underLoad(server, 'inner.goku.test', async () => {
      const watch = setInterval(async () => {
        const r = await httpGet(server.proxyPort, 'inner.goku.test').catch(() => ({ status: 0 }));
        if (r.status !== 200) down = [down?.[0] ?? Date.now(), Date.now()];
      }, 50);
      try {
        return await install();
      } finally {
        clearInterval(watch);
      }
    });
    expect(load.result.code, load.result.stderr).toBe(0);
    // What worked the first time is used again: no second try of --privileged on this engine.
    if (first.stdout.includes('--privileged was refused'))
      expect(load.result.stdout).not.toContain('--privileged was refused');
    const gap = down ? ((down as [number, number])[1] - (down as [number, number])[0]) / 1000 : 0;
    console.log(
      `dind-mode upgrade: ${load.ok} requests answered, ${load.failed} failed, app unreachable for ${gap.toFixed(1)} s`,
    );
    await eventually(
      () => httpGet(server.proxyPort, 'inner.goku.test'),
      (r) => r.status === 200 && r.body.includes('served from dind mode'),
      60_000,
    );
    expect((await goku(['apps'])).stdout).toContain('inner');
    await repo.deploy(files('second release'), 'second');
    expect((await httpGet(server.proxyPort, 'inner.goku.test')).body).toContain('second release');

    const purged = await install('--uninstall', '--purge');
    expect(purged.code, purged.stderr).toBe(0);
    expect(exists(container)).toBe(false);
    expect(docker('volume', 'ls', '-q', '--filter', `name=${container}`)).toBe('');
  }, 900_000);
});
