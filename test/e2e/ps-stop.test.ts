import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppRepo, eventually, GokuServer, httpdApp, type SshKey, uniquePrefix } from '../helpers/goku.js';

// ps:stop and ps:start, as Dokku has them: the app's containers stop and stay stopped (also
// across a goku restart) until ps:start starts the same ones again, or a deploy.
describe('ps:stop, ps:start, ps:rebuild and ps:report', () => {
  const server = new GokuServer();
  const p = uniquePrefix();
  const app = `${p}-stop`;
  let key: SshKey;
  let repo: AppRepo;

  const get = () => server.get(`${app}.${server.domain}`);

  beforeAll(async () => {
    key = await server.startWithKey();
    repo = new AppRepo(server.tmp, app, server, key);
    await repo.deploy(httpdApp('on'), 'one');
  });
  afterAll(() => server.cleanup());

  it('stops the containers (503), keeps them stopped across a goku restart, and starts the same ones', async () => {
    const ids = server.ids(app);
    const stop = await server.ok(['ps:stop', app]);
    expect(stop.stdout).toContain(`-----> Stopping ${app}`);
    expect(stop.stdout).toContain(`=====> ${app} stopped`);
    expect(server.containers(app).map((c) => c.state)).toEqual(['exited']);
    expect((await eventually(get, (r) => r.status === 503)).body).toContain(`${app} is not running`);
    expect((await server.ok(['ps:stop', app])).stdout).toContain('stopped (nothing was running)');

    await server.stop();
    await server.start();
    expect(server.containers(app).map((c) => c.state)).toEqual(['exited']);
    expect((await get()).status).toBe(503);

    const start = await server.ok(['ps:start', app]);
    expect(start.stdout).toContain(`=====> ${app} started`);
    expect(server.ids(app)).toEqual(ids);
    expect((await eventually(get, (r) => r.status === 200)).body).toBe('on\n');
    expect((await server.ok(['ps:start', app])).stdout).toContain('was already running');
  });

  it("ps:report says what runs and whether it comes back, in Dokku's words and in JSON", async () => {
    const id = server.ids(app)[0] as string;
    const text = (await server.ok(['ps:report', app])).stdout;
    expect(text).toContain(`=====> ${app} ps information`);
    expect(text).toMatch(/Deployed: +true/);
    expect(text).toMatch(/Running: +true/);
    expect(text).toMatch(/Restore: +true/);
    expect(text).toContain(`Status ${app} web 1: `);
    expect(text).toContain(`running (CID: ${id.slice(0, 12)})`);
    await server.ok(['ps:stop', app]);
    const stopped = JSON.parse((await server.ok(['ps:report', app, '--json'])).stdout);
    expect(stopped).toMatchObject({
      deployed: true,
      processes: 1,
      running: 'false',
      restore: false,
      scale: 1,
    });
    expect(stopped.formation).toEqual({ web: 1 });
    expect(stopped.status).toEqual([
      { deployment: app, process: 'web', instance: 1, state: 'exited', id: id.slice(0, 12) },
    ]);
    await server.ok(['ps:start', app]);
  });

  it('a deploy starts a stopped app; a goku restart then leaves it running', async () => {
    await server.ok(['ps:stop', app]);
    await repo.deploy(httpdApp('on again'), 'two');
    expect((await get()).body).toBe('on again\n');
    await server.stop();
    await server.start();
    expect((await eventually(get, (r) => r.status === 200)).body).toBe('on again\n');
  });

  it('ps:rebuild builds each deployment again from its commit, as a new push release, without downtime', async () => {
    const sha = repo.commit('nothing new');
    expect((await repo.push()).code).toBe(0);
    const before = JSON.parse((await server.ok(['releases', app, '--json'])).stdout) as { version: number }[];
    const r = await server.ok(['ps:rebuild', app]);
    expect(r.stdout).toContain(`-----> Building ${app} (master ${sha.slice(0, 7)})`);
    const [last] = JSON.parse((await server.ok(['releases', app, '--json'])).stdout) as {
      version: number;
      kind: string;
      commit: string;
      status: string;
    }[];
    expect(last).toMatchObject({ kind: 'push', commit: sha, status: 'succeeded' });
    expect(last?.version).toBe((before[0]?.version ?? 0) + 1);
    expect((await get()).body).toBe('on again\n');
  });

  it('refuses ps:start and ps:rebuild of an app with nothing deployed, and unknown apps', async () => {
    await server.ok(['apps:create', `${p}-empty`]);
    const r = await server.cli(['ps:start', `${p}-empty`]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/has no containers to start; push it/);
    const none = await server.cli(['ps:rebuild', `${p}-empty`]);
    expect(none.code).not.toBe(0);
    expect(none.stderr).toMatch(/has no deployment to rebuild; push it first/);
    for (const cmd of ['ps:stop', 'ps:start', 'ps:rebuild']) {
      const u = await server.cli([cmd, `${p}-nope`]);
      expect(u.code).not.toBe(0);
      expect(u.stderr).toMatch(/does not exist/);
    }
  });
});
