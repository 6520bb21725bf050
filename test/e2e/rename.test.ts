import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppRepo, GokuServer, httpdApp, type SshKey, underLoad, uniquePrefix } from '../helpers/goku.js';

// apps:rename, as Dokku's: the app moves to its new name (record, repository, images,
// containers, default domains) while a domain it keeps answers every request.
describe('apps:rename', () => {
  const server = new GokuServer();
  const p = uniquePrefix();
  const from = `${p}-old`;
  const to = `${p}-new`;
  const kept = `${p}.rename.test`;
  let key: SshKey;
  let repo: AppRepo;

  beforeAll(async () => {
    key = await server.startWithKey();
    repo = new AppRepo(server.tmp, from, server, key);
    await repo.deploy(httpdApp('v1'), 'one');
    await repo.deploy(httpdApp('v2'), 'two');
    expect((await repo.push('master:feature')).code).toBe(0);
    await server.ok(['config:set', from, 'KEEP=me']);
    await server.ok(['domains:add', from, kept]);
  });
  afterAll(() => server.cleanup());

  it('renames under load with zero failed requests; everything follows the new name', async () => {
    const { ok, failed } = await underLoad(server, kept, () => server.ok(['apps:rename', from, to]));
    expect(failed).toBe(0);
    expect(ok).toBeGreaterThan(0);

    expect((await server.get(kept)).body).toBe('v2\n');
    expect((await server.get(`${to}.${server.domain}`)).body).toBe('v2\n');
    expect((await server.get(`${from}.${server.domain}`)).status).toBe(404);
    // A branch deployment moves too: APP-feature becomes NEW-feature.
    expect((await server.get(`${to}-feature.${server.domain}`)).body).toBe('v2\n');
    expect((await server.get(`${from}-feature.${server.domain}`)).status).toBe(404);
    expect(await server.settled(to, [to, `${to}-feature`])).toEqual([to, `${to}-feature`]);
    expect(server.containers(from)).toEqual([]);
    expect(server.containerEnv(to, to).KEEP).toBe('me');
    expect((await server.cli(['apps:info', from])).code).not.toBe(0);
    const releases = JSON.parse((await server.ok(['releases', to, '--json'])).stdout) as { kind: string }[];
    expect(releases[0]?.kind).toBe('rename');
    expect(releases.map((r) => r.kind)).toContain('push');

    // The old release rolls back under the new name (its image was renamed too).
    await server.ok(['rollback', to, 'v1']);
    expect((await server.get(kept)).body).toBe('v1\n');

    // Pushes go to the new name's repository, which holds the old history.
    repo.write(httpdApp('v3'));
    repo.commit('three');
    const { execFileSync } = await import('node:child_process');
    execFileSync('git', ['remote', 'set-url', 'goku', `ssh://git@127.0.0.1:${server.sshPort}/${to}`], {
      cwd: repo.dir,
    });
    const r = await repo.push();
    expect(r.code, r.stderr).toBe(0);
    expect((await server.get(kept)).body).toBe('v3\n');
  });

  it('a rename that fails half-way puts everything back: name, repository, routes, releases', async () => {
    const app = `${p}-back`;
    const target = `${p}-blocked`;
    const back = new AppRepo(server.tmp, app, server, key);
    await back.deploy(httpdApp('back'), 'back');
    await server.ok(['domains:add', app, `${p}.back.test`]);
    const releases = (await server.ok(['releases', app, '--json'])).stdout;
    // A container of that name that goku does not own: the switch to the new name must fail.
    const { execFileSync } = await import('node:child_process');
    execFileSync('docker', [
      'run',
      '-d',
      '--name',
      target,
      '--label',
      'goku-test=1',
      'goku-test/busybox:1',
      'sleep',
      '120',
    ]);
    try {
      const { ok, failed, result } = await underLoad(server, `${p}.back.test`, () =>
        server.cli(['apps:rename', app, target]),
      );
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain(`a container named ${target} exists that this goku does not own`);
      expect(failed).toBe(0);
      expect(ok).toBeGreaterThan(0);
    } finally {
      execFileSync('docker', ['rm', '-f', target]);
    }
    expect((await server.cli(['apps:info', target])).code).not.toBe(0);
    expect((await server.ok(['releases', app, '--json'])).stdout).toBe(releases);
    expect((await server.get(`${app}.${server.domain}`)).body).toBe('back\n');
    expect(await server.settled(app, [app])).toEqual([app]);
    back.write(httpdApp('pushed after'));
    back.commit('after');
    expect((await back.push()).code).toBe(0);
    expect((await server.get(`${p}.back.test`)).body).toBe('pushed after\n');
  });

  it('refuses a name in use, an invalid name and the same name, changing nothing', async () => {
    const other = new AppRepo(server.tmp, `${p}-other`, server, key);
    await other.deploy(httpdApp('other'), 'other');
    for (const [args, says] of [
      [[to, `${p}-other`], `app ${p}-other already exists`],
      [[to, 'Bad_Name'], 'invalid app name'],
      [[to, to], 'already has that name'],
      [[`${p}-missing`, `${p}-x`], 'does not exist'],
    ] as const) {
      const r = await server.cli(['apps:rename', ...args]);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr).toContain(says);
    }
    expect((await server.get(kept)).body).toBe('v3\n');
    expect((await server.get(`${p}-other.${server.domain}`)).body).toBe('other\n');
  });
});
