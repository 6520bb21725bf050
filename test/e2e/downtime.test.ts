import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, GokuServer, type RunResult, uniquePrefix } from '../helpers/goku.js';
import { TestRegistry } from '../helpers/registry.js';

// schedule:set --downtime: an app that may not run two copies. Its deploys stop the old
// container before the new one starts (shown by Docker's own event log), a failed one starts
// the old container again, deploys asked for outside the window are refused unless forced,
// and a goku killed between the stop and the start brings the old container back at start.
describe('stop-first deploys (schedule --downtime)', () => {
  const server = new GokuServer();
  const registry = new TestRegistry();
  const p = uniquePrefix();
  const app = `${p}-lock`;
  let repo = '';

  const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);
  // Open now for two hours; and one that opens in two hours.
  const open = () => `${hhmm(Date.now() - 60_000)}-${hhmm(Date.now() + 7_200_000)}`;
  const closed = () => `${hhmm(Date.now() + 7_200_000)}-${hhmm(Date.now() + 10_800_000)}`;
  const body = async () => (await server.get(`${app}.${server.domain}`)).body;
  const ok = (r: RunResult) => {
    expect(r.code, r.stderr).toBe(0);
    return r;
  };
  const refused = (r: RunResult, msg: RegExp) => {
    expect(r.code, r.stdout).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(msg);
  };
  const idOf = (name: string) => execFileSync('docker', ['inspect', '-f', '{{.Id}}', name]).toString().trim();
  /** Docker's record of the app's container starts and deaths since `since` (unix seconds). */
  const events = (since: number) =>
    execFileSync('docker', [
      'events',
      '--since',
      String(since),
      '--until',
      String(Math.ceil(Date.now() / 1000) + 1),
      '--filter',
      `label=goku.app=${app}`,
      '--filter',
      'event=start',
      '--filter',
      'event=die',
      '--format',
      '{{.Action}} {{.Actor.ID}} {{.TimeNano}}',
    ])
      .toString()
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [action, id, t] = l.split(' ');
        return { action: action as string, id: id as string, ns: t as string };
      });
  const api = (path: string, payload: unknown) =>
    fetch(`http://127.0.0.1:${server.httpPort}${path}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${readFileSync(join(server.home, 'admin-token'), 'utf8').trim()}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify(payload),
    }).then(async (r) => ({ status: r.status, json: (await r.json()) as { message?: string } }));

  beforeAll(async () => {
    await registry.start();
    repo = `${registry.host}/${p}/web`;
    await server.startWithKey();
    registry.push(`${p}/web:v1`, 'one');
    ok(await server.cli(['apps:create', app, '--image', `${repo}:v1`]));
    ok(await server.cli(['deploy', app]));
    // No registry updates by themselves here: each deploy below is asked for.
    ok(await server.cli(['watch:auto', app, 'off']));
  });
  afterAll(async () => {
    await server.cleanup();
    registry.cleanup();
  });

  it('stops the old container before the new one starts, and runs one instance', async () => {
    const set = ok(await server.cli(['schedule:set', app, open(), '--downtime']));
    expect(set.stdout).toContain('deploys stop the old container first (--downtime)');
    expect(JSON.parse(ok(await server.cli(['schedule', app, '--json'])).stdout).schedule.downtime).toBe(true);
    const old = idOf(server.names(app)[0] as string);
    registry.push(`${p}/web:v2`, 'two');
    const since = Math.floor(Date.now() / 1000) - 1;
    const d = ok(await server.cli(['deploy', app, `${repo}:v2`]));
    expect(d.stdout).toContain(`Stopping ${app} first: it may not run two copies`);
    expect(d.stdout).toMatch(new RegExp(`${app} was down for \\d+\\.\\d s`));
    expect(await body()).toBe('two\n');
    const fresh = await eventually(
      async () => server.containers(app),
      (cs) => cs.length === 1 && !cs.some((c) => old.startsWith(c.id)),
    );
    const evs = events(since);
    const died = evs.find((e) => e.action === 'die' && e.id === old);
    const started = evs.find((e) => e.action === 'start' && e.id.startsWith(fresh[0]?.id as string));
    expect(died, JSON.stringify(evs)).toBeDefined();
    expect(started, JSON.stringify(evs)).toBeDefined();
    // Nanoseconds since the epoch: the old one died before the new one started.
    expect(BigInt(died?.ns ?? 0) < BigInt(started?.ns ?? 0)).toBe(true);

    refused(await server.cli(['ps:scale', app, '2']), /may not run two copies .*scale it to 0 or 1/);
    expect(server.containers(app)).toHaveLength(1);
    expect(await body()).toBe('two\n');
  });

  it('a stop-first deploy that fails starts the old container again, which serves as before', async () => {
    const running = idOf(server.names(app)[0] as string);
    registry.push(`${p}/web:bad`, 'bad', { cmd: 'CMD ["sh", "-c", "exit 3"]' });
    const d = await server.cli(['deploy', app, `${repo}:bad`]);
    expect(d.code).not.toBe(0);
    expect(d.stdout).toContain(`Stopping ${app} first`);
    expect(d.stdout).toContain(`Starting the running release of ${app} again`);
    expect(await body()).toBe('two\n');
    const after = server.containers(app);
    expect(after).toHaveLength(1);
    expect(running.startsWith(after[0]?.id as string)).toBe(true);
    expect(after[0]?.state).toBe('running');
    // Still the app's reference: the failed deploy changed nothing.
    const info = JSON.parse(ok(await server.cli(['apps:info', app, '--json'])).stdout);
    expect(info.image.ref).toBe(`${repo}:v2`);
  });

  it('outside its window, deploys that would stop it are refused unless forced', async () => {
    ok(await server.cli(['schedule:set', app, closed(), '--downtime']));
    const mode = JSON.parse(ok(await server.cli(['watch', app, '--json'])).stdout).mode;
    registry.push(`${p}/web:v3`, 'three');
    const why =
      /may not run two copies \(schedule --downtime\), so a .* stops it for a while, and its window .* UTC opens at .*; wait, or add --force/;
    refused(await server.cli(['deploy', app, `${repo}:v3`]), why);
    refused(await server.cli(['ps:restart', app]), why);
    refused(await server.cli(['config:set', app, 'A=1']), why);
    refused(await server.cli(['rollback', app]), why);
    refused(await server.cli(['watch:pin', app, 'v3']), why);
    const pin = await api(`/tags/${app}`, { pinned_tag: 'v3' });
    expect(pin.status).toBe(409);
    expect(pin.json.message).toMatch(why);
    expect((await api(`/tags/${app}`, { pinned_tag: 'v3', force: 'yes' })).status).toBe(400);
    expect(await body()).toBe('two\n');
    // The pin that was refused left the policy as it was.
    expect(JSON.parse(ok(await server.cli(['watch', app, '--json'])).stdout).mode).toBe(mode);

    // Nothing is stopped by this one; the forced ones stop it first.
    ok(await server.cli(['config:set', app, 'A=1', '--no-restart']));
    expect(ok(await server.cli(['ps:scale', app, '1', '--force'])).stdout).toContain(`Stopping ${app} first`);
    const forced = ok(await server.cli(['deploy', app, `${repo}:v3`, '--force']));
    expect(forced.stdout).toContain(`Stopping ${app} first`);
    expect(await body()).toBe('three\n');
    const viaApi = await api(`/tags/${app}`, { pinned_tag: 'v2', force: true });
    expect(viaApi.status, JSON.stringify(viaApi.json)).toBe(200);
    expect(await body()).toBe('two\n');
  });

  it('goku killed between the stop and the new container: the old one runs again at start', async () => {
    ok(await server.cli(['schedule:set', app, open(), '--downtime']));
    const running = idOf(server.names(app)[0] as string);
    registry.push(`${p}/web:slow`, 'slow', {
      cmd: 'CMD ["sh", "-c", "sleep 30; exec httpd -f -p 8000 -h /www"]',
    });
    let seen = '';
    const deploy = server.cli(['deploy', app, `${repo}:slow`], undefined, (t) => {
      seen += t;
    });
    await eventually(
      async () => seen,
      (s) => s.includes('Starting'),
      30_000,
    );
    await eventually(
      async () => server.containers(app).find((c) => running.startsWith(c.id))?.state,
      (st) => st === 'exited',
    );
    await server.kill();
    await deploy;
    await server.start();
    const after = await eventually(
      async () => server.containers(app),
      (cs) => cs.length === 1 && cs[0]?.state === 'running',
    );
    expect(running.startsWith(after[0]?.id as string)).toBe(true);
    expect(await eventually(body, (b) => b === 'two\n')).toBe('two\n');
  });
});
