import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AppRepo,
  eventually,
  GokuServer,
  httpdApp,
  type SshKey,
  sshRun,
  underLoad,
  uniquePrefix,
} from '../helpers/goku.js';

interface Release {
  version: number;
  kind: string;
  status: string;
  reason: string | null;
  commit: string;
  by: string;
  rollbackOf?: number;
}

// Every change is a numbered release; rollback goes back through the same switch.
describe('releases and rollback', () => {
  // Two releases' images per deployment, so a third push prunes the first one's.
  const server = new GokuServer({ env: { GOKU_KEEP_RELEASES: '2' } });
  const p = uniquePrefix();
  const app = `${p}-rel`;
  let key: SshKey;
  let repo: AppRepo;
  const body = async () => (await server.get(`${app}.${server.domain}`)).body;
  const releases = async (): Promise<Release[]> =>
    JSON.parse((await server.cli(['releases', app, '--json'])).stdout);

  beforeAll(async () => {
    key = await server.startWithKey();
    expect((await server.cli(['keys:remove', 'dev'])).code).toBe(0);
    expect((await server.cli(['keys:add', 'dev', '--admin'], key.pub)).code).toBe(0);
    repo = new AppRepo(server.tmp, app, server, key);
  });
  afterAll(async () => {
    await server.cleanup();
  });

  it('records every push, including a failed one, newest first', async () => {
    repo.write(httpdApp('one'));
    const sha1 = repo.commit('one');
    const r1 = await repo.push();
    expect(r1.stderr).toContain('=====> Release v1');
    repo.write(httpdApp('two'));
    repo.commit('two');
    expect((await repo.push()).stderr).toContain('=====> Release v2');
    repo.write({ Dockerfile: 'FROM goku-test/busybox:1\nRUN echo failing-step && false\n' });
    repo.commit('broken');
    expect((await repo.push()).code).not.toBe(0);
    repo.write(httpdApp('two'));

    const list = await releases();
    expect(list.map((r) => [r.version, r.kind, r.status, r.by])).toEqual([
      [3, 'push', 'failed', 'dev'],
      [2, 'push', 'succeeded', 'dev'],
      [1, 'push', 'succeeded', 'dev'],
    ]);
    expect(list[2]?.commit).toBe(sha1);
    expect(list[0]?.reason).toMatch(/docker build failed/);
    const table = (await server.cli(['releases', app])).stdout;
    expect(table).toMatch(/^VERSION +KIND +DEPLOYMENT +COMMIT +STATUS +BY +STARTED\nv3 +push/);

    const info = await server.cli(['releases:info', app, 'v3']);
    expect(info.code, info.stderr).toBe(0);
    expect(info.stdout).toContain('Status:      failed: docker build failed');
    expect(info.stdout).toContain('failing-step');
    expect(info.stdout).toContain(`-----> Building ${app}`);
    expect(await body()).toBe('two\n');
  });

  it('rolls back to the release before the current one without a failed request, as a new release', async () => {
    const {
      result: r,
      ok,
      failed,
    } = await underLoad(server, `${app}.${server.domain}`, () => server.cli(['rollback', app]));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`=====> ${app} rolled back to v1 as release v4`);
    expect(failed).toBe(0);
    expect(ok).toBeGreaterThan(5);
    expect(await body()).toBe('one\n');
    const [v4] = await releases();
    expect(v4).toMatchObject({ version: 4, kind: 'rollback', status: 'succeeded', rollbackOf: 1, by: 'cli' });

    // Over ssh, to an explicit release.
    const viaSsh = await sshRun(server, key, `rollback ${app} v2`);
    expect(viaSsh.code, viaSsh.stderr).toBe(0);
    expect(await body()).toBe('two\n');
    expect((await releases())[0]).toMatchObject({ version: 5, kind: 'rollback', rollbackOf: 2, by: 'dev' });
  });

  it('ps:restart is a release too', async () => {
    const r = await server.cli(['ps:restart', app]);
    expect(r.code, r.stderr).toBe(0);
    expect((await releases())[0]).toMatchObject({ version: 6, kind: 'restart', status: 'succeeded' });
  });

  it('refuses rollbacks to unknown, failed or pruned releases, and changes nothing', async () => {
    const before = (await releases()).length;
    const container = server.containers(app)[0]?.id;
    const refuse = async (args: string[], msg: RegExp) => {
      const r = await server.cli(args);
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(msg);
    };
    await refuse(['rollback', app, 'v99'], /has no release v99/);
    await refuse(['rollback', app, 'v3'], /release v3 of .* failed; roll back to a succeeded release/);
    await refuse(['rollback', app, 'latest'], /invalid release "latest": use vN/);
    await refuse(['rollback', `${p}-none`], /app .* does not exist/);
    await refuse(['releases:info', app, 'v42'], /has no release v42/);
    // A third build prunes v1's image (GOKU_KEEP_RELEASES=2): v1 can no longer come back.
    await repo.deploy(httpdApp('three'), 'three');
    await eventually(
      async () => server.images(app).filter((i) => i.startsWith(`goku/${app}:`)).length,
      (n) => n === 2,
    );
    await refuse(['rollback', app, 'v1'], /the image of release v1 was pruned/);
    expect(await body()).toBe('three\n');
    expect((await releases()).length).toBe(before + 1);
    expect(server.containers(app).map((c) => c.id)).not.toContain(container);
  });
});
