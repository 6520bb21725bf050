import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AppRepo,
  eventually,
  GokuServer,
  httpdApp,
  httpGet,
  run,
  type SshKey,
  uniquePrefix,
} from '../helpers/goku.js';
import { TestRegistry } from '../helpers/registry.js';

// GOKU_REGISTRY: every image goku builds also goes to a registry (Debian's docker-registry,
// with htpasswd auth), the release records its digest, and a rollback to a release whose image
// was pruned here pulls it back. A push that fails stops the deploy before the switch.
describe('GOKU_REGISTRY: built images pushed to a registry', () => {
  const registry = new TestRegistry({ users: { ci: 'push-secret' } });
  const server = new GokuServer({ env: { GOKU_KEEP_RELEASES: '2' } });
  const p = uniquePrefix();
  const app = `${p}-pushed`;
  const host = `${app}.${server.domain}`;
  let key: SshKey;
  let repo: AppRepo;
  const prefix = () => `${registry.host}/goku-test/${p}`;
  /** Newest first. */
  const releases = async () => JSON.parse((await server.cli(['releases', app, '--json'])).stdout);
  const auth = `Basic ${Buffer.from('ci:push-secret').toString('base64')}`;
  /** The digest the registry serves for REPO:TAG (the v2 manifest a push made). */
  const registryDigest = async (tag: string) => {
    const r = await fetch(`http://${registry.host}/v2/goku-test/${p}/${app}/manifests/${tag}`, {
      method: 'HEAD',
      headers: { authorization: auth, accept: 'application/vnd.docker.distribution.manifest.v2+json' },
    });
    return r.status === 200 ? r.headers.get('docker-content-digest') : `HTTP ${r.status}`;
  };

  beforeAll(async () => {
    await registry.start();
    server.extraEnv.GOKU_REGISTRY = prefix();
    key = await server.startWithKey();
    repo = new AppRepo(server.tmp, app, server, key);
  });
  afterAll(async () => {
    await server.cleanup();
    registry.cleanup();
  });

  it('a push the registry refuses fails the deploy with its reason; after registries:login it is pushed and recorded', async () => {
    repo.write(httpdApp('one')).commit('one');
    const refused = await repo.push();
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`-----> Pushing to ${prefix()}/${app}:`);
    expect(refused.stderr).toMatch(/docker push .* failed: .*(no basic auth credentials|unauthorized)/);
    expect(refused.stderr).toContain('nothing was deployed');
    expect((await httpGet(server.proxyPort, host)).status).toBe(404);

    const login = await server.cli(['registries:login', registry.host, 'ci'], 'push-secret\n');
    expect(login.code, login.stderr).toBe(0);
    const ok = await repo.push();
    expect(ok.code, ok.stderr).toBe(0);
    expect((await httpGet(server.proxyPort, host)).body).toBe('one\n');
    const v = (await releases())[0];
    expect(v.status).toBe('succeeded');
    expect(v.registry).toBe(`${prefix()}/${app}`);
    expect(v.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(ok.stderr).toContain(v.digest);
    expect(await registryDigest(v.routeId)).toBe(v.digest);
    const shown = await server.cli(['releases:info', app, `v${v.version}`]);
    expect(shown.stdout).toContain(`Digest:      ${v.digest} (pushed to ${prefix()}/${app})`);
    // The registry's name is not left on the engine (it would outlive goku's pruning).
    const names = execFileSync('docker', ['images', '--format', '{{.Repository}}:{{.Tag}}']).toString();
    expect(names).not.toContain(`${prefix()}/${app}`);
  });

  it('a registry that is down fails the push before the switch; the running release keeps serving', async () => {
    await registry.takeDown();
    try {
      repo.write(httpdApp('never')).commit('never');
      const r = await repo.push();
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/docker push .* failed: /);
      expect((await httpGet(server.proxyPort, host)).body).toBe('one\n');
      const last = (await releases())[0];
      expect(last.status).toBe('failed');
      expect(last.reason).toMatch(/docker push .* failed/);
    } finally {
      await registry.start();
    }
  });

  it('a rollback to a release whose image was pruned pulls it back from the registry', async () => {
    for (const body of ['two', 'three']) {
      repo.write(httpdApp(body)).commit(body);
      const r = await repo.push();
      expect(r.code, r.stderr).toBe(0);
    }
    // (newest first)
    const first = (await releases()).reverse().find((r: { status: string }) => r.status === 'succeeded');
    // GOKU_KEEP_RELEASES=2: the first release's image goes from the engine (pruned after the
    // switch, while the push has returned already).
    await eventually(
      async () => run('docker', ['image', 'inspect', first.image]),
      (r) => r.code !== 0,
      30_000,
    );
    const back = await server.cli(['rollback', app, `v${first.version}`]);
    expect(back.code, back.stderr).toBe(0);
    expect(back.stdout).toContain(`-----> Pulling ${prefix()}/${app}@`);
    expect((await httpGet(server.proxyPort, host)).body).toBe('one\n');
    const last = (await releases())[0];
    expect(last.rollbackOf).toBe(first.version);
    expect(last.digest).toBe(first.digest);
  });

  it("predeploy's changes are in the image the registry gets: a rollback that pulls it back serves them", async () => {
    const pre = `${p}-pre`;
    const prepo = new AppRepo(server.tmp, pre, server, key);
    const appJson = JSON.stringify({
      scripts: { dokku: { predeploy: 'echo made by predeploy > /www/index.html' } },
    });
    prepo.write({ ...httpdApp('as built'), 'app.json': appJson }).commit('with predeploy');
    const first = await prepo.push();
    expect(first.code, first.stderr).toBe(0);
    // Pushed after the build, then again with predeploy's commit; the release has the second.
    expect(first.stderr.match(/-----> Pushing to /g)).toHaveLength(2);
    expect((await httpGet(server.proxyPort, `${pre}.${server.domain}`)).body).toBe('made by predeploy\n');
    const v1 = JSON.parse((await server.cli(['releases', pre, '--json'])).stdout)[0];
    for (const body of ['later', 'latest']) {
      prepo.write({ ...httpdApp(body), 'app.json': '{}' }).commit(body);
      const r = await prepo.push();
      expect(r.code, r.stderr).toBe(0);
    }
    await eventually(
      async () => run('docker', ['image', 'inspect', v1.image]),
      (r) => r.code !== 0,
      30_000,
    );
    const back = await server.cli(['rollback', pre, `v${v1.version}`]);
    expect(back.code, back.stderr).toBe(0);
    expect(back.stdout).toContain(`-----> Pulling ${prefix()}/${pre}@${v1.digest.slice(0, 19)}`);
    expect((await httpGet(server.proxyPort, `${pre}.${server.domain}`)).body).toBe('made by predeploy\n');
  });

  it('a compose app: every service it builds is pushed too, and recorded', async () => {
    const capp = `${p}-stack`;
    const crepo = new AppRepo(server.tmp, capp, server, key);
    crepo.write({
      'compose.yaml': 'services:\n  web:\n    build: ./web\n    ports:\n      - "8000"\n',
      ...Object.fromEntries(Object.entries(httpdApp('stacked')).map(([f, t]) => [`web/${f}`, t])),
    });
    crepo.commit('stack');
    const r = await crepo.push();
    expect(r.code, r.stderr).toBe(0);
    expect((await httpGet(server.proxyPort, `${capp}.${server.domain}`)).body).toBe('stacked\n');
    const [v] = JSON.parse((await server.cli(['releases', capp, '--json'])).stdout);
    const web = v.compose.images.web;
    expect(web.registry).toBe(`${prefix()}/${capp}.web`);
    expect(web.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const head = await fetch(`http://${registry.host}/v2/goku-test/${p}/${capp}.web/manifests/${v.routeId}`, {
      method: 'HEAD',
      headers: { authorization: auth, accept: 'application/vnd.docker.distribution.manifest.v2+json' },
    });
    expect(head.headers.get('docker-content-digest')).toBe(web.digest);
  });
});
