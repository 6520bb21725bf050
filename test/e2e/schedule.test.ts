import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, GokuServer, uniquePrefix } from '../helpers/goku.js';
import { TestRegistry } from '../helpers/registry.js';

// Deploy windows and set times on the real clock: an update that arrives outside the window
// waits (a newer one replacing it) and deploys once when the window opens, a minute later.
describe('deploy schedules', () => {
  const server = new GokuServer({ env: { GOKU_WATCH_INTERVAL: '5' } });
  const registry = new TestRegistry();
  const p = uniquePrefix();
  const app = `${p}-sched`;
  let repo = '';

  const json = async (argv: string[]) => {
    const r = await server.cli([...argv, '--json']);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout);
  };
  const body = async () => (await server.get(`${app}.${server.domain}`)).body;
  const releases = async () => (await json(['releases', app])) as { status: string; source?: string }[];
  const hhmm = (d: Date) => d.toISOString().slice(11, 16);

  beforeAll(async () => {
    await registry.start();
    repo = `${registry.host}/${p}/web`;
    await server.startWithKey();
    registry.push(`${p}/web:v1.0.0`, 'one-zero');
    expect((await server.cli(['apps:create', app, '--image', `${repo}:v1.0.0`])).code).toBe(0);
    const d = await server.cli(['deploy', app]);
    expect(d.code, d.stderr).toBe(0);
  });
  afterAll(async () => {
    await server.cleanup();
    registry.cleanup();
  });

  it('a daily window holds updates (the newest replaces the older) and deploys once when it opens', async () => {
    // The window opens at the next minute (or the one after, if this one is nearly over).
    const now = new Date();
    const start = new Date(
      Math.ceil((now.getTime() + (now.getUTCSeconds() > 45 ? 60_000 : 1)) / 60_000) * 60_000,
    );
    const end = new Date(start.getTime() + 120_000);
    const set = await server.cli(['schedule:set', app, `${hhmm(start)}-${hhmm(end)}`]);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toContain(
      `daily window ${hhmm(start)}-${hhmm(end)} UTC; updates wait until ${start.toISOString()}`,
    );
    const before = (await releases()).length;

    registry.push(`${p}/web:v1.1.0`, 'one-one');
    const held = await eventually(
      () => json(['watch', app]),
      (v) => v.held?.ref === `${repo}:v1.1.0`,
    );
    expect(held.lastOutcome).toContain(`holds it until ${start.toISOString()}`);
    expect((await server.cli(['apps:info', app])).stdout).toContain(`Pending:        ${repo}:v1.1.0`);
    // A hook outside the window is held too, and says so.
    const urls = await json(['webhooks']);
    const hook = await fetch(urls.deploy.replace(/^http:\/\/[^/]+/, `http://127.0.0.1:${server.httpPort}`), {
      method: 'POST',
      body: JSON.stringify({ service: app }),
    });
    expect(hook.status).toBe(202);
    expect(((await hook.json()) as { message: string }).message).toContain('holds it until');

    registry.push(`${p}/web:v1.2.0`, 'one-two');
    await eventually(
      () => json(['schedule', app]),
      (v) => v.pending?.ref === `${repo}:v1.2.0`,
    );
    expect(await body()).toBe('one-zero\n');

    await eventually(
      () => body(),
      (b) => b === 'one-two\n',
      start.getTime() - Date.now() + 20_000,
    );
    expect(Date.now()).toBeGreaterThanOrEqual(start.getTime());
    const after = await releases();
    expect(after.length).toBe(before + 1);
    expect(after[0]).toMatchObject({ status: 'succeeded', source: `${repo}:v1.2.0` });
    expect((await json(['watch', app])).held).toBeNull();
    expect((await server.cli(['schedule:clear', app])).code).toBe(0);
    expect((await json(['schedule', app])).schedule).toBeNull();
  });

  it('--at holds updates until then, deploys the newest once, and clears itself', async () => {
    // Far enough ahead that the push is seen and held first even on a loaded machine (a CI
    // run once took more than 9 s to see it, and the update then went out at once).
    const at = new Date(Date.now() + 15_000);
    const set = await server.cli(['schedule:set', app, '--at', at.toISOString()]);
    expect(set.code, set.stderr).toBe(0);
    registry.push(`${p}/web:v1.3.0`, 'one-three');
    await eventually(
      () => json(['schedule', app]),
      (v) => v.pending?.ref === `${repo}:v1.3.0`,
    );
    expect(await body()).toBe('one-two\n');
    await eventually(
      () => body(),
      (b) => b === 'one-three\n',
      at.getTime() - Date.now() + 20_000,
    );
    expect(Date.now()).toBeGreaterThanOrEqual(at.getTime());
    await eventually(
      () => json(['schedule', app]),
      (v) => v.schedule === null && v.pending === null,
    );
  });

  it('refuses bad windows and times with one line, and keeps the schedule as it was', async () => {
    const git = `${p}-git`;
    expect((await server.cli(['apps:create', git])).code).toBe(0);
    for (const argv of [
      ['schedule:set', app, '25:00-01:00'],
      ['schedule:set', app, '10:00-10:00'],
      ['schedule:set', app, '10:00'],
      ['schedule:set', app, '--at', '2001-01-01T00:00:00Z'],
      ['schedule:set', app, '--at', 'soon'],
      ['schedule:set', app, '01:00-02:00', '--at', '2999-01-01T00:00:00Z'],
      ['schedule:set', app],
      ['schedule:set', git, '01:00-02:00'],
      ['schedule', 'no-such-app'],
    ]) {
      const r = await server.cli(argv);
      expect(r.code, argv.join(' ')).not.toBe(0);
      expect(r.stderr.trim().split('\n'), argv.join(' ')).toHaveLength(1);
      expect(r.stderr).toMatch(/^error: /);
    }
    expect((await json(['schedule', app])).schedule).toBeNull();
  });
});
