import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppRepo, eventually, GokuServer, httpdApp, type SshKey, uniquePrefix } from '../helpers/goku.js';

// One deploy per app at a time; a restart or a scale still waiting is replaced by a newer one.
describe('the per-app queue', () => {
  const server = new GokuServer();
  const app = `${uniquePrefix()}-queue`;
  let key: SshKey;
  let repo: AppRepo;

  beforeAll(async () => {
    key = await server.startWithKey();
    repo = new AppRepo(server.tmp, app, server, key);
    repo.write(httpdApp('v1'));
    repo.commit('v1');
    expect((await repo.push()).code).toBe(0);
  });
  afterAll(async () => {
    await server.cleanup();
  });

  it('two restarts queued behind a deploy: the newer replaces the waiting one, which says so', async () => {
    repo.write(httpdApp('slow', 8000, 'RUN sleep 3\n'));
    repo.commit('slow');
    const push = repo.push('master:feature');
    // Wait until the slow deploy holds the app's lock.
    await eventually(
      async () => JSON.parse((await server.cli(['releases', app, '--json'])).stdout)[0],
      (r) => r?.status === 'running',
    );
    const first = server.cli(['ps:restart', app]);
    await new Promise((r) => setTimeout(r, 300));
    const second = server.cli(['ps:restart', app]);
    const [a, b, p] = await Promise.all([first, second, push]);
    expect(p.code, p.stderr).toBe(0);
    expect(a.code).toBe(1);
    expect(a.stderr).toBe(
      `error: a newer ps:restart of ${app} arrived while this one waited; it runs instead\n`,
    );
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toContain('Another deploy of');
    const releases = JSON.parse((await server.cli(['releases', app, '--json'])).stdout) as { kind: string }[];
    // v1 push, the branch push, then the restart of both deployments: one restart, not two.
    expect(releases.map((r) => r.kind)).toEqual(['restart', 'restart', 'push', 'push']);
    expect((await server.get(`${app}.${server.domain}`)).body).toBe('v1\n');
  });

  it('two scales queued behind a deploy: the newer count wins, the waiting one says it was replaced', async () => {
    repo.write(httpdApp('slow again', 8000, 'RUN sleep 3\n'));
    repo.commit('slow again');
    const push = repo.push('master:feature2');
    await eventually(
      async () => JSON.parse((await server.cli(['releases', app, '--json'])).stdout)[0],
      (r) => r?.status === 'running',
    );
    const first = server.cli(['ps:scale', app, '3']);
    await new Promise((r) => setTimeout(r, 300));
    const second = server.cli(['ps:scale', app, '2']);
    const [a, b, p] = await Promise.all([first, second, push]);
    expect(p.code, p.stderr).toBe(0);
    expect(a.code).toBe(1);
    expect(a.stderr).toBe(
      `error: a newer ps:scale of ${app} arrived while this one waited; it runs instead\n`,
    );
    expect(b.code, b.stderr).toBe(0);
    const releases = JSON.parse((await server.cli(['releases', app, '--json'])).stdout) as { kind: string }[];
    expect(releases.filter((r) => r.kind === 'scale')).toHaveLength(1);
    // Two instances of the default deployment, beside the two branch deployments.
    expect(
      await server.settled(app, [app, `${app}-feature`, `${app}-feature2`, `${app}.2`].sort()),
    ).toHaveLength(4);
  });

  it('two config changes queued behind a deploy both take effect, each as its release', async () => {
    repo.write(httpdApp('slow once more', 8000, 'RUN sleep 3\n'));
    repo.commit('slow once more');
    const push = repo.push('master:feature3');
    await eventually(
      async () => JSON.parse((await server.cli(['releases', app, '--json'])).stdout)[0],
      (r) => r?.status === 'running',
    );
    const first = server.cli(['config:set', app, 'FIRST=1']);
    await new Promise((r) => setTimeout(r, 300));
    const second = server.cli(['config:set', app, 'SECOND=2']);
    const [a, b, p] = await Promise.all([first, second, push]);
    expect(p.code, p.stderr).toBe(0);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    // The second was asked while the first waited: it builds on the env the first left.
    expect(JSON.parse((await server.cli(['config', app, '--json'])).stdout)).toEqual({
      FIRST: '1',
      SECOND: '2',
    });
    await server.settled(
      app,
      [app, `${app}-feature`, `${app}-feature2`, `${app}-feature3`, `${app}.2`].sort(),
    );
    expect(server.containerEnv(app, app)).toMatchObject({ FIRST: '1', SECOND: '2' });
  });
});
