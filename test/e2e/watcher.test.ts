import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, GokuServer, uniquePrefix } from '../helpers/goku.js';
import { TestRegistry } from '../helpers/registry.js';

// The registry watcher against a real docker-registry (htpasswd auth) with tags pushed by
// `docker push`: it polls every 5 s (GOKU_WATCH_INTERVAL's minimum) and deploys what the
// app's policy wants when that differs from what runs.
describe('registry watcher', () => {
  const server = new GokuServer({ env: { GOKU_WATCH_INTERVAL: '5' } });
  const registry = new TestRegistry({ users: { ci: 'watch-secret' } });
  const p = uniquePrefix();
  const semverApp = `${p}-semver`;
  const pinApp = `${p}-pin`;
  let repo = '';

  type View = {
    mode: string;
    autoDeploy: boolean;
    deployedTag: string | null;
    deployedDigest: string | null;
    newestEligible: string | null;
    pinnedTag: string | null;
    pinnedDigest: string | null;
    tags: string[];
    lastPoll: string | null;
    lastError: string | null;
    lastOutcome: string;
  };
  const view = async (app: string): Promise<View> => {
    const r = await server.cli(['watch', app, '--json']);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout);
  };
  /** The first poll that starts after now, once it is over (deploy included). */
  const nextPoll = async (app: string, timeoutMs = 15_000) => {
    const after = Date.now();
    return eventually(
      () => view(app),
      (v) => v.lastPoll !== null && Date.parse(v.lastPoll) > after + 50,
      timeoutMs,
    );
  };
  const body = async (app: string) => (await server.get(`${app}.${server.domain}`)).body;
  const releases = async (app: string) =>
    JSON.parse((await server.cli(['releases', app, '--json'])).stdout) as {
      by: string;
      status: string;
      kind: string;
    }[];
  const api = (method: string, path: string, opts: { body?: unknown; token?: string | null } = {}) => {
    const token =
      opts.token === undefined ? readFileSync(join(server.home, 'admin-token'), 'utf8').trim() : opts.token;
    return fetch(`http://127.0.0.1:${server.httpPort}${path}`, {
      method,
      headers: {
        ...(token !== null ? { authorization: `Bearer ${token}` } : {}),
        ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(opts.body !== undefined
        ? { body: typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body) }
        : {}),
    }).then(async (r) => ({ status: r.status, json: (await r.json()) as Record<string, unknown> }));
  };

  beforeAll(async () => {
    await registry.start();
    repo = `${registry.host}/${p}/web`;
    await server.startWithKey();
    const login = await server.cli(['registries:login', registry.host, 'ci'], 'watch-secret');
    expect(login.code, login.stderr).toBe(0);
    registry.push(`${p}/web:v1.0.0`, 'one-zero');
    registry.push(`${p}/web:latest`, 'latest-one');
    for (const [app, tag] of [
      [semverApp, 'v1.0.0'],
      [pinApp, 'latest'],
    ] as const) {
      const c = await server.cli(['apps:create', app, '--image', `${repo}:${tag}`]);
      expect(c.code, c.stderr).toBe(0);
      const d = await server.cli(['deploy', app]);
      expect(d.code, d.stderr).toBe(0);
    }
  });
  afterAll(async () => {
    await server.cleanup();
    registry.cleanup();
  });

  it('follows semver: v1.0.0 -> v1.1.0 deploys by itself; a pre-release does not', async () => {
    expect(await view(semverApp)).toMatchObject({ mode: 'semver', autoDeploy: true, deployedTag: 'v1.0.0' });
    registry.push(`${p}/web:v1.1.0`, 'one-one');
    await eventually(
      () => body(semverApp),
      (b) => b === 'one-one\n',
      20_000,
    );
    const [last] = await releases(semverApp);
    expect(last).toMatchObject({ kind: 'image', by: 'watcher', status: 'succeeded' });
    registry.push(`${p}/web:v2.0.0-rc.1`, 'two-rc');
    const v = await nextPoll(semverApp);
    expect(v.tags).toContain('v2.0.0-rc.1');
    expect(v.newestEligible).toBeNull();
    expect(v.deployedTag).toBe('v1.1.0');
    expect(v.lastOutcome).toBe('up to date');
    expect(await body(semverApp)).toBe('one-one\n');
    // Semver follows versions: the running version's tag pushed again is not asked for (its
    // digest), so not redeployed; watch:pin follows a tag's digest.
    const running = v.deployedDigest;
    registry.push(`${p}/web:v1.1.0`, 'one-one', { extra: 'LABEL pushed=again\n' });
    const again = await nextPoll(semverApp);
    expect(again).toMatchObject({
      deployedDigest: running,
      desiredDigest: running,
      lastOutcome: 'up to date',
    });
  });

  it('pinned (latest): the tag pushed again is redeployed; other tags are not followed', async () => {
    expect(await view(pinApp)).toMatchObject({ mode: 'pinned', pinnedTag: 'latest' });
    registry.push(`${p}/web:latest`, 'latest-two');
    await eventually(
      () => body(pinApp),
      (b) => b === 'latest-two\n',
      20_000,
    );
    const v = await nextPoll(pinApp);
    expect(v.pinnedDigest).toBe(v.deployedDigest);
    expect(await body(pinApp)).toBe('latest-two\n');
  });

  it('auto-deploy off holds v1.2.0 back; turned on, it deploys (desired against deployed, not edges)', async () => {
    const off = await server.cli(['watch:auto', semverApp, 'off']);
    expect(off.code, off.stderr).toBe(0);
    registry.push(`${p}/web:v1.2.0`, 'one-two');
    const v = await nextPoll(semverApp);
    expect(v.newestEligible).toBe('v1.2.0');
    expect(v.lastOutcome).toMatch(/auto-deploy is off/);
    expect(await body(semverApp)).toBe('one-one\n');
    const on = await server.cli(['watch:auto', semverApp, 'on']);
    expect(on.code, on.stderr).toBe(0);
    expect(on.stdout).toContain(`deployed ${repo}:v1.2.0`);
    expect(await body(semverApp)).toBe('one-two\n');
  });

  it('watch:pin deploys a tag now and follows only it; watch:reset goes back to the newest version', async () => {
    const pin = await server.cli(['watch:pin', semverApp, 'v1.0.0']);
    expect(pin.code, pin.stderr).toBe(0);
    expect(await body(semverApp)).toBe('one-zero\n');
    registry.push(`${p}/web:v1.3.0`, 'one-three');
    registry.push(`${p}/web:v1.0.0`, 'one-zero-again');
    await eventually(
      () => body(semverApp),
      (b) => b === 'one-zero-again\n',
      20_000,
    );
    expect((await view(semverApp)).mode).toBe('pinned');
    const reset = await server.cli(['watch:reset', semverApp]);
    expect(reset.code, reset.stderr).toBe(0);
    expect(reset.stdout).toContain(`deployed ${repo}:v1.3.0`);
    expect(await body(semverApp)).toBe('one-three\n');
  });

  it('a registry down for a poll shows the error and backs off; back, the update deploys', async () => {
    await registry.takeDown();
    const down = await nextPoll(semverApp);
    expect(down.lastError).toMatch(/could not be reached/);
    const text = await server.cli(['watch', semverApp]);
    expect(text.stdout).toMatch(/Last poll: .*\(error: .*could not be reached/);
    // Other apps' polls go on meanwhile (they fail the same way, on their own schedule).
    expect((await nextPoll(pinApp)).lastPoll).not.toBeNull();
    await registry.start();
    registry.push(`${p}/web:v1.4.0`, 'one-four');
    // The backoff doubles per failed poll (10 s, then 20 s): on a slow machine the registry can
    // take long enough to come back that a second poll fails too, so the update may wait 30 s.
    await eventually(
      () => body(semverApp),
      (b) => b === 'one-four\n',
      60_000,
    );
    expect((await view(semverApp)).lastError).toBeNull();
  });

  it('an update pushed while goku is stopped deploys after it starts; none deploys twice', async () => {
    await server.stop();
    registry.push(`${p}/web:v1.5.0`, 'one-five');
    await server.start();
    await eventually(
      () => body(semverApp),
      (b) => b === 'one-five\n',
      20_000,
    );
    const count = (await releases(semverApp)).length;
    await nextPoll(semverApp);
    await nextPoll(semverApp);
    expect((await releases(semverApp)).length).toBe(count);
  });

  it("registrywatcher's HTTP API: repos, tags, pin, auto, reset; bad bodies 400, no token 401", async () => {
    const repos = await api('GET', '/repos');
    expect(repos.status).toBe(200);
    expect(repos.json[semverApp]).toMatchObject({ auto_deploy: true, pinned_tag: '' });
    expect(repos.json[pinApp]).toMatchObject({ pinned_tag: 'latest' });
    expect((repos.json[semverApp] as { tags: string[] }).tags.slice(0, 2)).toEqual(['v2.0.0-rc.1', 'v1.5.0']);
    expect((await api('GET', `/tags/${semverApp}`)).json).toEqual({ repo_tag: `${repo}:v1.5.0` });

    const pinned = await api('POST', `/tags/${semverApp}`, {
      body: { pinned_tag: 'v1.1.0', auto_deploy: false },
    });
    expect(pinned.status, JSON.stringify(pinned.json)).toBe(200);
    expect(await body(semverApp)).toBe('one-one\n');
    expect((await api('GET', '/repos')).json[semverApp]).toMatchObject({
      auto_deploy: false,
      pinned_tag: 'v1.1.0',
    });
    const reset = await api('POST', `/tags/${semverApp}/reset`);
    expect(reset.status).toBe(200);
    // auto-deploy is off: reset changes the policy, the poll deploys nothing.
    expect(await body(semverApp)).toBe('one-one\n');
    expect((await api('POST', `/tags/${semverApp}`, { body: { auto_deploy: true } })).status).toBe(200);
    expect(await body(semverApp)).toBe('one-five\n');

    for (const bad of [
      {},
      { pinned_tag: 3 },
      { auto_deploy: 'yes' },
      [],
      'nope',
      '{"pinned_tag": "bad tag!"}',
      { pinned_tag: 'bad tag!', auto_deploy: false },
    ]) {
      const r = await api('POST', `/tags/${semverApp}`, { body: bad });
      expect(r.status, JSON.stringify(bad)).toBe(400);
      expect(typeof r.json.message).toBe('string');
    }
    expect((await api('GET', '/repos')).json[semverApp]).toMatchObject({ auto_deploy: true });
    const git = `${p}-git`;
    const key = await server.cli(['apps:create', git]);
    expect(key.code).toBe(0);
    expect((await api('GET', `/tags/${git}`)).status).toBe(400);
    expect((await api('GET', '/tags/nobody-here')).status).toBe(400);
    expect((await api('GET', '/repos', { token: null })).status).toBe(401);
    expect((await api('GET', '/repos', { token: 'x'.repeat(48) })).status).toBe(401);
    expect((await api('POST', `/tags/${semverApp}/reset`, { token: null })).status).toBe(401);
    expect((await api('GET', '/nothing')).status).toBe(404);
    for (const ping of ['/ping', '/ping/']) {
      expect(await api('GET', ping, { token: null })).toEqual({ status: 200, json: { message: 'pong' } });
    }
    expect(await body(semverApp)).toBe('one-five\n');
  });

  it('a webhook and a poll for the same digest deploy it once', async () => {
    const before = (await releases(semverApp)).length;
    const urls = JSON.parse((await server.cli(['webhooks', '--json'])).stdout) as { deploy: string };
    registry.push(`${p}/web:v1.6.0`, 'one-six');
    const hook = await fetch(urls.deploy.replace(/^http:\/\/[^/]+/, `http://127.0.0.1:${server.httpPort}`), {
      method: 'POST',
      body: JSON.stringify({ service: semverApp, tag: 'v1.6.0' }),
    });
    expect(hook.status).toBe(202);
    await eventually(
      () => body(semverApp),
      (b) => b === 'one-six\n',
      20_000,
    );
    await nextPoll(semverApp);
    await nextPoll(semverApp);
    const after = await releases(semverApp);
    expect(after.length).toBe(before + 1);
    // Whichever came first deployed it (a poll may land between the push and the hook on a
    // slow machine); the other found it running.
    expect(after[0]).toMatchObject({ status: 'succeeded' });
    expect(['webhook', 'watcher']).toContain(after[0]?.by);
  });

  it('refuses what it cannot follow with one error line, changing nothing', async () => {
    const git = `${p}-git2`;
    expect((await server.cli(['apps:create', git])).code).toBe(0);
    for (const argv of [
      ['watch', git],
      ['watch:pin', git, 'v1'],
      ['watch:auto', semverApp, 'maybe'],
      ['watch:pin', semverApp, 'no such tag!'],
      ['watch', 'no-such-app'],
    ]) {
      const r = await server.cli(argv);
      expect(r.code, argv.join(' ')).not.toBe(0);
      expect(r.stderr.trim().split('\n'), argv.join(' ')).toHaveLength(1);
      expect(r.stderr).toMatch(/^error: /);
    }
    const missing = await server.cli(['watch:pin', semverApp, 'v9.9.9']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/has no .*:v9\.9\.9/);
    expect(await body(semverApp)).toBe('one-six\n');
    expect((await view(semverApp)).mode).toBe('semver');
  });
});
