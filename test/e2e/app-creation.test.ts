import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AppRepo,
  eventually,
  GokuServer,
  httpdApp,
  type SshKey,
  sshRun,
  uniquePrefix,
} from '../helpers/goku.js';

// A push creates its app, but only a push that arrives, and a deploy key only so many.
describe('apps created by pushing', () => {
  const server = new GokuServer({ env: { GOKU_MAX_APPS_PER_KEY: '2' } });
  const p = uniquePrefix();
  let key: SshKey;

  const apps = async () => JSON.parse((await server.cli(['apps', '--json'])).stdout) as { name: string }[];
  const repoDir = (app: string) => join(server.home, 'repos', `${app}.git`);

  beforeAll(async () => {
    key = await server.startWithKey();
  });
  afterAll(async () => {
    await server.cleanup();
  });

  it('a receive-pack session that pushes nothing creates no app and leaves no repo', async () => {
    const r = await sshRun(server, key, `git-receive-pack '${p}-empty.git'`, '0000');
    expect(r.code).toBe(0);
    expect((await apps()).map((a) => a.name)).not.toContain(`${p}-empty`);
    await eventually(
      async () => existsSync(repoDir(`${p}-empty`)),
      (exists) => !exists,
    );
  });

  it('a failed first push leaves nothing: no app, no repo', async () => {
    const repo = new AppRepo(server.tmp, `${p}-broken`, server, key);
    repo.write({ Dockerfile: 'FROM goku-test/busybox:1\nRUN false\n' });
    repo.commit('broken');
    const r = await repo.push();
    expect(r.code).not.toBe(0);
    await eventually(
      async () => (await apps()).some((a) => a.name === `${p}-broken`) || existsSync(repoDir(`${p}-broken`)),
      (left) => !left,
    );
  });

  it('a key creates at most GOKU_MAX_APPS_PER_KEY apps by pushing; refused before git runs', async () => {
    for (const n of [1, 2]) {
      const repo = new AppRepo(server.tmp, `${p}-mine${n}`, server, key);
      repo.write(httpdApp(`mine${n}`));
      repo.commit('ok');
      const r = await repo.push();
      expect(r.code, r.stderr).toBe(0);
    }
    const third = new AppRepo(server.tmp, `${p}-mine3`, server, key);
    third.write(httpdApp('mine3'));
    third.commit('ok');
    const r = await third.push();
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(
      /error: key dev has already created 2 apps by pushing \(GOKU_MAX_APPS_PER_KEY=2\)/,
    );
    expect(existsSync(repoDir(`${p}-mine3`))).toBe(false);
    // Pushing again to its own apps is fine; an app an admin created does not count.
    expect((await server.cli(['apps:create', `${p}-admins`])).code).toBe(0);
    const own = new AppRepo(server.tmp, `${p}-admins`, server, key);
    await own.deploy(httpdApp('admins'), 'ok');
    // Destroying one gives the key room again.
    expect((await server.cli(['apps:destroy', `${p}-mine1`, '--force'])).code).toBe(0);
    const again = await third.push();
    expect(again.code, again.stderr).toBe(0);
  });
});
