import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppRepo, eventually, GokuServer, hostnameApp, type SshKey, uniquePrefix } from '../helpers/goku.js';

// ps:scale: N instances behind one nginx upstream, through the zero-downtime switch.
describe('ps:scale', () => {
  const server = new GokuServer({ env: { GOKU_MAX_SCALE: '5' } });
  const p = uniquePrefix();
  const app = `${p}-scale`;
  let key: SshKey;
  const names = () => server.names(app);
  const settled = (want: string[]) => server.settled(app, want);
  /** Which instances answer: each one says its own hostname. */
  const answering = (n: number) => server.distinctAnswers(`${app}.${server.domain}`, n);

  beforeAll(async () => {
    key = await server.startWithKey();
    const repo = new AppRepo(server.tmp, app, server, key);
    repo.write(hostnameApp());
    repo.commit('v1');
    const r = await repo.push();
    expect(r.code, r.stderr).toBe(0);
  });
  afterAll(async () => {
    await server.cleanup();
  });

  it('runs three instances that all get traffic, and keeps them across a goku restart', async () => {
    const r = await server.cli(['ps:scale', app, '3']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`=====> ${app} runs 3 instances`);
    await settled([app, `${app}.2`, `${app}.3`]);
    expect(await answering(60)).toBe(3);
    const info = JSON.parse((await server.cli(['apps:info', app, '--json'])).stdout);
    expect(info.deployments[0].instances).toBe(3);
    // Each running instance has a service record in the (embedded) store.
    const services = await eventually(
      async () => JSON.parse((await server.cli(['apps:info', app, '--json'])).stdout).deployments[0].services,
      (s: string[]) => s.length === 3,
    );
    expect(services.map((x: string) => x.split(' ')[0]).sort()).toEqual([app, `${app}.2`, `${app}.3`]);
    expect(services.every((x: string) => /^\S+ \d+\.\d+\.\d+\.\d+:8000$/.test(x))).toBe(true);

    await server.stop();
    await server.start();
    expect(names()).toEqual([app, `${app}.2`, `${app}.3`]);
    expect(await answering(60)).toBe(3);
    // A restart keeps the count.
    expect((await server.cli(['ps:restart', app])).code).toBe(0);
    await settled([app, `${app}.2`, `${app}.3`]);
  });

  it('scales down to 0 (nginx answers 503) and back up', async () => {
    expect((await server.cli(['ps:scale', app, '0'])).code).toBe(0);
    await settled([]);
    const r = await server.get(`${app}.${server.domain}`);
    expect(r.status).toBe(503);
    expect(r.body).toContain(`${app} is not running`);
    expect((await server.cli(['ps', app])).stdout).toBe(
      `${app} is scaled to zero: no containers (goku ps:scale ${app} 1 starts it again).\n`,
    );
    // Nothing runs, so no service records.
    await eventually(
      async () => JSON.parse((await server.cli(['apps:info', app, '--json'])).stdout).deployments[0].services,
      (s: string[]) => s.length === 0,
    );
    expect((await server.cli(['ps:scale', app, '1'])).code).toBe(0);
    await settled([app]);
    expect(await answering(5)).toBe(1);
  });

  it('refuses bad counts, changing nothing', async () => {
    const before = names();
    for (const [arg, msg] of [
      ['abc', /invalid instance count "abc": a whole number from 0 to 5/],
      ['6', /invalid instance count "6"/],
      ['1.5', /invalid instance count "1.5"/],
      ['-1', /Unknown option '-1'/],
    ] as const) {
      const r = await server.cli(['ps:scale', app, arg]);
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(msg);
    }
    const unknown = await server.cli(['ps:scale', `${p}-nope`, '2']);
    expect(unknown.stderr).toMatch(/does not exist/);
    expect(names()).toEqual(before);
  });
});
