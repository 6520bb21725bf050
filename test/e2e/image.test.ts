import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AppRepo,
  eventually,
  freePort,
  GokuServer,
  httpdApp,
  httpGet,
  makeKey,
  type RunResult,
  type SshKey,
  sshRun,
  uniquePrefix,
} from '../helpers/goku.js';
import { TestRegistry } from '../helpers/registry.js';

// Image apps: deployed from a real registry (Debian's docker-registry) instead of git pushes,
// through the same release machinery: health-checked, recorded, one rollback away.
describe('image apps', () => {
  const server = new GokuServer({ env: { GOKU_KEEP_RELEASES: '2' } });
  const registry = new TestRegistry();
  const locked = new TestRegistry({ users: { ci: 'right-secret' } });
  const p = uniquePrefix();
  const app = `${p}-img`;
  const host = `${app}.${server.domain}`;
  let key: SshKey;
  let admin: SshKey;

  const fails = (r: RunResult, msg: RegExp) => {
    expect(r.code, r.stdout).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^error: /);
    expect(r.stderr).toMatch(msg);
  };
  const releases = async (name: string) =>
    JSON.parse((await server.cli(['releases', name, '--json'])).stdout);
  const info = async (name: string) => JSON.parse((await server.cli(['apps:info', name, '--json'])).stdout);

  beforeAll(async () => {
    await Promise.all([registry.start(), locked.start()]);
    key = await server.startWithKey();
    admin = makeKey(server.tmp, 'admin');
    expect((await server.cli(['keys:add', 'admin', '--admin'], admin.pub)).code).toBe(0);
  });
  afterAll(async () => {
    await server.cleanup();
    registry.cleanup();
    locked.cleanup();
  });

  it('apps:create --image, then deploy: pulled by digest, served, recorded as a release of kind image', async () => {
    const d1 = registry.push(`${p}/web:v1`, 'one');
    const created = await server.cli(['apps:create', app, '--image', `${registry.host}/${p}/web:v1`]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toContain(`goku deploy ${app}`);
    expect((await info(app)).image).toEqual({
      ref: `${registry.host}/${p}/web:v1`,
      digest: null,
      pulledAt: null,
    });

    const r = await server.cli(['deploy', app]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`-----> Pulling ${registry.host}/${p}/web:v1 (${d1.slice(0, 19)})`);
    // Condensed progress: at most one line per layer and state (none for layers another test
    // already brought), then the digest; never the byte-by-byte lines.
    expect(r.stdout).not.toMatch(/Downloading|Extracting/);
    const layerLines = r.stdout.match(/^ {7}[0-9a-f]{12}: .*$/gm) ?? [];
    expect(new Set(layerLines).size).toBe(layerLines.length);
    expect(r.stdout).toContain(`Digest: ${d1}`);
    expect(r.stdout).toContain(`=====> ${app} deployed: http://${host}:`);
    expect((await server.get(host)).body).toBe('one\n');
    const i = await info(app);
    expect(i.source).toBe('image');
    expect(i.image.digest).toBe(d1);
    expect(Date.parse(i.image.pulledAt)).toBeGreaterThan(Date.now() - 60_000);
    expect(i.deployments.map((x: { name: string }) => x.name)).toEqual([app]);
    const [v1] = await releases(app);
    expect(v1).toMatchObject({ version: 1, kind: 'image', status: 'succeeded', digest: d1 });
    expect(v1.source).toBe(`${registry.host}/${p}/web:v1`);
    const info1 = JSON.parse((await server.cli(['releases:info', app, 'v1', '--json'])).stdout);
    expect(info1.log).toContain(`-----> Pulling ${registry.host}/${p}/web:v1`);
    const text = await server.cli(['apps:info', app]);
    expect(text.stdout).toContain(`Source:         image ${registry.host}/${p}/web:v1`);
    expect(text.stdout).toContain(`Digest:         ${d1}`);
  });

  it('a new digest of the tag is deployed (over ssh by an admin key too); the same digest again makes no release', async () => {
    const d2 = registry.push(`${p}/web:v1`, 'two');
    const r = await sshRun(server, admin, `deploy ${app}`);
    expect(r.code, r.stderr).toBe(0);
    expect((await server.get(host)).body).toBe('two\n');
    expect((await info(app)).image.digest).toBe(d2);
    const again = await server.cli(['deploy', app]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain(
      `already runs ${registry.host}/${p}/web:v1@${d2.slice(0, 19)}; nothing to deploy`,
    );
    expect((await releases(app)).map((x: { version: number }) => x.version)).toEqual([2, 1]);
    // ps:rebuild pulls and deploys it again all the same, as a new release.
    const rebuilt = await server.cli(['ps:rebuild', app]);
    expect(rebuilt.code, rebuilt.stderr).toBe(0);
    expect(rebuilt.stdout).toContain('-----> Pulling');
    const [v3] = await releases(app);
    expect(v3).toMatchObject({ version: 3, kind: 'image', status: 'succeeded' });
    expect((await server.get(host)).body).toBe('two\n');
  });

  it('deploy APP REF switches the image; rollback goes back to the earlier digest, pulled again once pruned', async () => {
    const d3 = registry.push(`${p}/other:v3`, 'three');
    const r = await server.cli(['deploy', app, `${registry.host}/${p}/other:v3`]);
    expect(r.code, r.stderr).toBe(0);
    expect((await server.get(host)).body).toBe('three\n');
    expect((await info(app)).image).toMatchObject({ ref: `${registry.host}/${p}/other:v3`, digest: d3 });
    // GOKU_KEEP_RELEASES=2: v1's image (digest "one") is pruned by now; a rollback pulls it again.
    const back = await server.cli(['rollback', app, 'v1']);
    expect(back.code, back.stderr).toBe(0);
    expect(back.stdout).toContain('-----> Pulling');
    // The watcher would bring the tag's newer digest straight back: the rollback stops it.
    expect(back.stdout).toContain(`Auto-deploy of registry updates is now off (goku watch:auto ${app} on`);
    expect(JSON.parse((await server.cli(['watch', app, '--json'])).stdout).autoDeploy).toBe(false);
    expect((await server.get(host)).body).toBe('one\n');
    const [last] = await releases(app);
    expect(last).toMatchObject({ kind: 'rollback', rollbackOf: 1, status: 'succeeded' });
    expect((await info(app)).image.ref).toBe(`${registry.host}/${p}/web:v1`);
  });

  it('PORT in the config overrides the exposed port; restart and scale work as for git apps', async () => {
    const other = `${p}-port`;
    registry.push(`${p}/port:v1`, 'port 9000', { port: 9000, extra: 'EXPOSE 8000\n' });
    expect((await server.cli(['apps:create', other, '--image', `${registry.host}/${p}/port:v1`])).code).toBe(
      0,
    );
    expect((await server.cli(['config:set', other, 'PORT=9000', '--no-restart'])).code).toBe(0);
    const r = await server.cli(['deploy', other]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('(port 9000)');
    expect((await server.get(`${other}.${server.domain}`)).body).toBe('port 9000\n');
    expect((await server.cli(['ps:scale', other, '2'])).code).toBe(0);
    await eventually(
      async () => server.names(other),
      (n) => n.length === 2,
    );
    expect((await server.cli(['ps:restart', other])).code).toBe(0);
    expect((await server.get(`${other}.${server.domain}`)).body).toBe('port 9000\n');
    expect((await server.cli(['domains:add', other, `www.${other}.example`])).code).toBe(0);
    expect((await server.get(`www.${other}.example`)).body).toBe('port 9000\n');
    expect((await server.cli(['logs', other, '-n', '5'])).code).toBe(0);
    const hostPort = await freePort();
    const published = await server.cli(['ports:add', other, `${hostPort}:9000`]);
    expect(published.code, published.stderr).toBe(0);
    expect((await httpGet(hostPort, 'any')).body).toBe('port 9000\n');
    // What this app's images are made of: the labelled image and the pulled one under it
    // (the registry helper removed its own copy, so the pull made it).
    const [dep] = (await info(other)).deployments;
    const inspect = (fmt: string, what: string) =>
      execFileSync('docker', ['image', 'inspect', '-f', fmt, what]).toString().trim();
    expect(inspect('{{index .Config.Labels "goku.app"}}', dep.image)).toBe(other);
    const pulled = inspect('{{.Parent}}', dep.image);
    expect(pulled).toMatch(/^sha256:/);
    // apps:destroy takes its containers, ports and images too, the pulled one included.
    expect((await server.cli(['apps:destroy', other, '--force'])).code).toBe(0);
    expect(server.containers(other)).toEqual([]);
    expect(
      execFileSync('docker', ['images', '-q', `goku/${other}`])
        .toString()
        .trim(),
    ).toBe('');
    expect(spawnSync('docker', ['image', 'inspect', pulled]).status).not.toBe(0);
    expect(await httpGet(hostPort, 'any').catch((e: Error) => e.message)).toMatch(
      /ECONNREFUSED|socket hang up/,
    );
  });

  it("a CHECKS file in the image's working directory is honoured when there is no app.json check", async () => {
    const checks = `${p}-checksfile`;
    registry.push(`${p}/checksfile:v1`, 'checksfile', {
      files: { CHECKS: 'WAIT=0\nATTEMPTS=2\n/   Welcome\n' },
      extra: 'WORKDIR /ctx\n',
    });
    expect(
      (await server.cli(['apps:create', checks, '--image', `${registry.host}/${p}/checksfile:v1`])).code,
    ).toBe(0);
    const r = await server.cli(['deploy', checks]);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toContain(
      'Health check CHECKS line 3: GET /: the body does not contain "Welcome" (attempt 2/2)',
    );
    expect(server.containers(checks)).toEqual([]);
    expect((await server.cli(['apps:destroy', checks, '--force'])).code).toBe(0);
  });

  it("an image's Procfile and app.json tasks (in its working directory) run as a pushed tree's do", async () => {
    const proc = `${p}-proc`;
    registry.push(`${p}/proc:v1`, 'not this one', {
      files: {
        Procfile:
          "web: httpd -f -p $PORT -h /www\nworker: sh -c 'echo image worker; sleep 3600'\nrelease: echo release of the image\n",
        'app.json': JSON.stringify({
          formation: { web: { quantity: 1 }, worker: { quantity: 1 } },
          scripts: { dokku: { predeploy: 'echo predeployed > /www/index.html' } },
        }),
      },
      extra: 'WORKDIR /ctx\n',
    });
    expect((await server.cli(['apps:create', proc, '--image', `${registry.host}/${p}/proc:v1`])).code).toBe(
      0,
    );
    const r = await server.cli(['deploy', proc]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('release of the image');
    expect((await server.get(`${proc}.${server.domain}`)).body).toBe('predeployed\n');
    await server.settled(proc, [proc, `${proc}-worker`]);
    expect((await server.cli(['apps:destroy', proc, '--force'])).code).toBe(0);
  });

  it("app.json in the image's working directory sets the health checks, as Dokku reads it", async () => {
    const checked = `${p}-checked`;
    const appJson = JSON.stringify({
      healthchecks: {
        web: [{ name: 'ready', path: '/ready.txt', content: 'ready', attempts: 2, wait: 0.2 }],
      },
    });
    registry.push(`${p}/checked:v1`, 'checked', {
      files: { 'app.json': appJson, 'ready.txt': 'not yet\n' },
      extra: 'WORKDIR /ctx\nRUN cp /ctx/ready.txt /www/ready.txt\n',
    });
    expect(
      (await server.cli(['apps:create', checked, '--image', `${registry.host}/${p}/checked:v1`])).code,
    ).toBe(0);
    const r = await server.cli(['deploy', checked]);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toContain(
      '-----> Health check ready: GET /ready.txt: the body does not contain "ready" (attempt 1/2)',
    );
    expect(r.stderr).toMatch(/^error: health check ready/);
    expect((await server.get(`${checked}.${server.domain}`)).status).toBe(404);
    const [failed] = await releases(checked);
    expect(failed).toMatchObject({ kind: 'image', status: 'failed' });
    expect(server.containers(checked)).toEqual([]);
    // A container that exits at once fails before its image's labelling commit may be done:
    // the failed attempt still leaves no image behind.
    const crash = `${p}-crash`;
    registry.push(`${p}/crash:v1`, 'crash', { cmd: 'CMD ["sh", "-c", "exit 3"]' });
    expect((await server.cli(['apps:create', crash, '--image', `${registry.host}/${p}/crash:v1`])).code).toBe(
      0,
    );
    const crashed = await server.cli(['deploy', crash]);
    expect(crashed.code).not.toBe(0);
    expect(crashed.stderr).toMatch(/^error: the container exited during start/);
    expect(server.containers(crash)).toEqual([]);
    expect(
      execFileSync('docker', ['images', '-q', `goku/${crash}`])
        .toString()
        .trim(),
    ).toBe('');
  });

  it('registries:login checks and stores credentials encrypted; wrong ones fail the release and keep the app', async () => {
    const priv = `${p}-private`;
    const pulled = `${locked.host}/${p}/private:v1`;
    locked.push(`${p}/private:v1`, 'private one');
    expect((await server.cli(['apps:create', priv, '--image', pulled])).code).toBe(0);
    fails(
      await server.cli(['deploy', priv]),
      new RegExp(`${locked.host} needs credentials for ${p}/private`),
    );
    expect(await releases(priv)).toMatchObject([{ kind: 'image', status: 'failed' }]);

    fails(
      await server.cli(['registries:login', locked.host, 'ci'], 'wrong-secret\n'),
      /refused the credentials of ci/,
    );
    fails(await server.cli(['registries:login', 'nohost', 'ci'], 'x\n'), /invalid registry host/);
    fails(
      await server.cli(['registries:login', locked.host, 'ci'], ''),
      /pipe the password or token on stdin/,
    );
    expect(JSON.parse((await server.cli(['registries', '--json'])).stdout)).toEqual([]);
    const ok = await server.cli(['registries:login', locked.host, 'ci'], 'right-secret\n');
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toBe(`Logged in to ${locked.host} as ci\n`);
    const listed = await server.cli(['registries']);
    expect(listed.stdout).toMatch(new RegExp(`${locked.host.replace(/\./g, '\\.')} +ci `));
    expect(listed.stdout).not.toContain('right-secret');
    // Encrypted at rest: the store never holds the secret; the key is root's alone.
    expect(readFileSync(join(server.home, 'store.json'), 'utf8')).not.toContain('right-secret');
    expect(statSync(join(server.home, 'secrets.key')).mode & 0o777).toBe(0o600);

    const r = await server.cli(['deploy', priv]);
    expect(r.code, r.stderr).toBe(0);
    expect((await server.get(`${priv}.${server.domain}`)).body).toBe('private one\n');

    // The registry's password changes: the next deploy fails as a release, the app keeps serving.
    await locked.setUsers({ ci: 'new-secret' });
    locked.push(`${p}/private:v1`, 'private two');
    fails(
      await server.cli(['deploy', priv]),
      new RegExp(`${locked.host} refused the credentials of ci for ${p}/private`),
    );
    const [failed] = await releases(priv);
    expect(failed).toMatchObject({ kind: 'image', status: 'failed' });
    expect((await server.get(`${priv}.${server.domain}`)).body).toBe('private one\n');

    expect((await server.cli(['registries:logout', locked.host])).code).toBe(0);
    expect(JSON.parse((await server.cli(['registries', '--json'])).stdout)).toEqual([]);
    fails(await server.cli(['registries:logout', locked.host]), /no credentials are stored/);
  });

  it('refuses bad references, unknown tags, locked registries, a registry that is down, and the wrong source', async () => {
    for (const bad of ['Upper/Case', 'a b', 'x:', 'repo@sha256:123', '-lead', 'host:99999/x', '../x', '']) {
      fails(await server.cli(['apps:create', `${p}-bad`, `--image=${bad}`]), /invalid image reference/);
    }
    expect((await server.cli(['apps:info', `${p}-bad`])).code).not.toBe(0);

    const before = (await releases(app)).length;
    fails(
      await server.cli(['deploy', app, `${registry.host}/${p}/web:nope`]),
      /has no .*web:nope; push it there first/,
    );
    expect((await info(app)).image.ref).toBe(`${registry.host}/${p}/web:v1`);
    expect((await releases(app)).length).toBe(before);
    expect((await server.get(host)).body).toBe('one\n');

    fails(
      await server.cli(['deploy', app, `${locked.host}/${p}/web:v1`]),
      new RegExp(`${locked.host} needs credentials .*registries:login`),
    );
    fails(
      await server.cli(['deploy', app, `127.0.0.1:1/${p}/web:v1`]),
      /127\.0\.0\.1:1 could not be reached/,
    );
    expect((await server.get(host)).body).toBe('one\n');

    // An image app takes no git push; a git app takes no deploy.
    const repo = new AppRepo(server.tmp, app, server, key);
    repo.write(httpdApp('pushed'));
    repo.commit('pushed');
    const pushed = await repo.push();
    expect(pushed.code).not.toBe(0);
    expect(pushed.stderr).toContain(
      `app ${app} deploys the image ${registry.host}/${p}/web:v1, not git pushes`,
    );
    const gitApp = `${p}-git`;
    expect((await server.cli(['apps:create', gitApp])).code).toBe(0);
    fails(await server.cli(['deploy', gitApp]), /deploys by git push, not from an image/);
  });
});
