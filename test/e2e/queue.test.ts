import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AppRepo,
  eventually,
  GokuServer,
  httpdApp,
  type RunResult,
  run,
  type SshKey,
  uniquePrefix,
} from '../helpers/goku.js';

// One deploy per app at a time; a restart or a scale still waiting is replaced by a newer one.
describe('the per-app queue', () => {
  const server = new GokuServer();
  const app = `${uniquePrefix()}-queue`;
  let key: SshKey;
  let repo: AppRepo;

  beforeAll(async () => {
    key = await server.startWithKey();
    repo = new AppRepo(server.tmp, app, server, key);
    await repo.deploy(httpdApp('v1'), 'v1');
  });
  afterAll(async () => {
    await server.cleanup();
  });

  type Request = (onOutput: (text: string) => void) => Promise<RunResult>;
  /**
   * Pushes a slow build (3 s) to a branch, waits until its release holds the app's lock, then
   * sends the first request, waits until it says it is waiting for the lock (a start `gap` ms
   * earlier is no proof of arrival on a loaded machine), then sends the second: all three
   * results, once each is done.
   */
  async function twoBehindASlowPush(
    branch: string,
    body: string,
    first: Request,
    second: Request,
    gap = 300,
  ) {
    repo.write(httpdApp(body, 8000, 'RUN sleep 3\n'));
    repo.commit(body);
    const push = repo.push(`master:${branch}`);
    await eventually(
      async () => JSON.parse((await server.cli(['releases', app, '--json'])).stdout)[0],
      (r) => r?.status === 'running',
    );
    let said = '';
    let waiting!: () => void;
    const queued = new Promise<void>((r) => (waiting = r));
    const a = first((t) => {
      said += t;
      if (said.includes('is in progress; waiting for it to finish')) waiting();
    });
    await Promise.race([queued, a]);
    await new Promise((r) => setTimeout(r, gap));
    const b = second(() => undefined);
    return Promise.all([a, b, push]);
  }
  const cli = (args: string[]) => (onOutput: (text: string) => void) => server.cli(args, undefined, onOutput);
  const expectSuperseded = (r: RunResult, what: string) => {
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `error: a newer ${what} of ${app} arrived while this one waited; it runs instead\n`,
    );
  };

  it('two restarts queued behind a deploy: the newer replaces the waiting one, which says so', async () => {
    const [a, b, p] = await twoBehindASlowPush(
      'feature',
      'slow',
      cli(['ps:restart', app]),
      cli(['ps:restart', app]),
    );
    expect(p.code, p.stderr).toBe(0);
    expectSuperseded(a, 'ps:restart');
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toContain('Another deploy of');
    const releases = JSON.parse((await server.cli(['releases', app, '--json'])).stdout) as { kind: string }[];
    // v1 push, the branch push, then the restart of both deployments: one restart, not two.
    expect(releases.map((r) => r.kind)).toEqual(['restart', 'restart', 'push', 'push']);
    expect((await server.get(`${app}.${server.domain}`)).body).toBe('v1\n');
  });

  it('two scales queued behind a deploy: the newer count wins, the waiting one says it was replaced', async () => {
    const [a, b, p] = await twoBehindASlowPush(
      'feature2',
      'slow again',
      cli(['ps:scale', app, '3']),
      cli(['ps:scale', app, '2']),
    );
    expect(p.code, p.stderr).toBe(0);
    expectSuperseded(a, 'ps:scale');
    expect(b.code, b.stderr).toBe(0);
    const releases = JSON.parse((await server.cli(['releases', app, '--json'])).stdout) as { kind: string }[];
    expect(releases.filter((r) => r.kind === 'scale')).toHaveLength(1);
    // Two instances of the default deployment, beside the two branch deployments.
    expect(
      await server.settled(app, [app, `${app}-feature`, `${app}-feature2`, `${app}.2`].sort()),
    ).toHaveLength(4);
  });

  it('two config changes queued behind a deploy both take effect, each as its release', async () => {
    const [a, b, p] = await twoBehindASlowPush(
      'feature3',
      'slow once more',
      cli(['config:set', app, 'FIRST=1']),
      cli(['config:set', app, 'SECOND=2']),
    );
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

  it('two rollbacks queued behind a deploy: one goes back, the waiting one says it was replaced', async () => {
    const before = JSON.parse((await server.cli(['releases', app, '--json'])).stdout) as { kind: string }[];
    const [a, b, p] = await twoBehindASlowPush(
      'feature4',
      'slow to the end',
      cli(['rollback', app]),
      cli(['rollback', app]),
    );
    expect(p.code, p.stderr).toBe(0);
    expectSuperseded(a, 'rollback');
    expect(b.code, b.stderr).toBe(0);
    const after = JSON.parse((await server.cli(['releases', app, '--json'])).stdout) as { kind: string }[];
    // The branch push, then one rollback: not two, which would have undone each other.
    expect(after.slice(0, after.length - before.length).map((r) => r.kind)).toEqual(['rollback', 'push']);
  });

  it('two pushes of one branch queued behind a deploy: the newer lands, the waiting one is refused', async () => {
    const pushOf = (body: string) => (onOutput: (text: string) => void) => {
      repo.write(httpdApp(body));
      repo.commit(body);
      return repo.push('master:hot', [], onOutput);
    };
    const [a, b, p] = await twoBehindASlowPush(
      'feature5',
      'slow, last',
      pushOf('first hot'),
      pushOf('second hot'),
    );
    expect(p.code, p.stderr).toBe(0);
    expect(a.code).toBe(1);
    expect(a.stderr).toContain(
      `a newer push of hot of ${app} arrived while this one waited; it runs instead`,
    );
    expect(b.code, b.stderr).toBe(0);
    expect(await repo.remoteRef('hot')).toBe(
      (await run('git', ['rev-parse', 'HEAD'], { cwd: repo.dir })).stdout.trim(),
    );
    expect((await server.get(`${app}-hot.${server.domain}`)).body).toBe('second hot\n');
  });
});
