import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppRepo, GokuServer, httpdApp, type SshKey, uniquePrefix } from '../helpers/goku.js';

// Dokku's checks:skip, checks:disable, checks:enable and checks:report.
describe('checks commands', () => {
  const server = new GokuServer();
  const p = uniquePrefix();
  const app = `${p}-chk`;
  let key: SshKey;
  let repo: AppRepo;

  // A check that can never pass: the page does not hold this text.
  const failing = (body: string) => ({
    ...httpdApp(body),
    'app.json': JSON.stringify({
      healthchecks: {
        web: [{ type: 'startup', name: 'never', path: '/', content: 'not there', attempts: 1, timeout: 1 }],
      },
    }),
  });
  const get = () => server.get(`${app}.${server.domain}`);

  beforeAll(async () => {
    key = await server.startWithKey();
    repo = new AppRepo(server.tmp, app, server, key);
    await repo.deploy(httpdApp('first'), 'first');
  });
  afterAll(() => server.cleanup());

  it('checks:skip deploys without the check; checks:enable brings it back; the report says which', async () => {
    repo.write(failing('second'));
    repo.commit('failing check');
    expect((await repo.push()).code).not.toBe(0);
    expect((await get()).body).toBe('first\n');

    expect((await server.ok(['checks:skip', app])).stdout).toContain('Checks skipped for');
    expect((await server.ok(['checks:report', app])).stdout).toMatch(/Checks skipped list: +_all_/);
    const r = await repo.push();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('Checks of web are skipped');
    expect(r.stderr).not.toContain('Health check never');
    expect((await get()).body).toBe('second\n');

    await server.ok(['checks:enable', app]);
    expect(JSON.parse((await server.ok(['checks:report', app, '--json'])).stdout)).toEqual({
      disabled: [],
      skipped: [],
    });
    const restart = await server.cli(['ps:restart', app]);
    expect(restart.code).not.toBe(0);
    expect(restart.stderr).toContain('health check never failed');
    expect((await get()).body).toBe('second\n');
  });

  it('checks:disable web stops the old container before the new one starts; bad types are refused', async () => {
    await server.ok(['checks:disable', app, 'web']);
    expect((await server.ok(['checks:report', app])).stdout).toMatch(/Checks disabled list: +web/);
    const old = execFileSync('docker', ['inspect', '-f', '{{.Id}}', server.ids(app)[0] as string])
      .toString()
      .trim();
    const since = (Date.now() / 1000).toFixed(3);
    repo.write(httpdApp('third'));
    repo.commit('third');
    const r = await repo.push();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`Stopping web of ${app} first: its checks are disabled`);
    expect((await get()).body).toBe('third\n');
    // Docker's own record: the old container died before the new one started.
    const events = execFileSync('docker', [
      'events',
      '--since',
      since,
      '--until',
      String(Math.floor(Date.now() / 1000) + 1),
      '--filter',
      `label=goku.app=${app}`,
      '--filter',
      'event=die',
      '--filter',
      'event=start',
      '--format',
      '{{.Status}} {{.ID}}',
    ])
      .toString()
      .trim()
      .split('\n');
    const died = events.indexOf(`die ${old}`);
    const started = events.findIndex((e) => e.startsWith('start '));
    expect(died).toBeGreaterThanOrEqual(0);
    expect(started).toBeGreaterThan(died);

    for (const [args, says] of [
      [['checks:skip', app, 'worker'], `${app} has no process type worker; it runs web`],
      [['checks:skip', app, 'Web'], '"Web" is not a process type'],
      [['checks:report', `${p}-nope`], 'does not exist'],
    ] as const) {
      const bad = await server.cli([...args]);
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toContain(says);
    }
    await server.ok(['checks:enable', app, 'web']);
    expect((await server.ok(['checks:report', app])).stdout).toMatch(/Checks disabled list: +none/);
  });
});
