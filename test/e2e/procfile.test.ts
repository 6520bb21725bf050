import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppRepo, eventually, GokuServer, httpdApp, type SshKey, uniquePrefix } from '../helpers/goku.js';

// Procfile process types and PORT, as Dokku has them: `web` replaces the image's CMD and is
// routed; other types run unrouted from the same image and config, 0 until scaled (or set by
// app.json's formation); every process gets PORT, 5000 when nothing names a port.
describe('Procfile process types', () => {
  const server = new GokuServer({ env: { GOKU_STOP_GRACE: '1' } });
  const p = uniquePrefix();
  let key: SshKey;

  // The image's own CMD would exit at once: only the Procfile's web makes it serve.
  const base = (body: string) => ({
    Dockerfile: 'FROM goku-test/busybox:1\nCOPY www /www\nCMD ["sh", "-c", "exit 3"]\n',
    'www/index.html': `${body}\n`,
  });
  const procfile = [
    '# the processes',
    '',
    'web: httpd -f -p $PORT -h /www',
    `worker: sh -c 'while true; do echo "worker tick port=$PORT"; sleep 1; done'`,
  ].join('\n');
  const get = (app: string) => server.get(`${app}.${server.domain}`);
  const oneLineError = (stderr: string) => {
    const lines = stderr.split('\n').filter((l) => l.startsWith('error:') || l.includes('remote: error:'));
    expect(lines, stderr).toHaveLength(1);
    return lines[0] as string;
  };

  beforeAll(async () => {
    key = await server.startWithKey();
  });
  afterAll(() => server.cleanup());

  it('runs web from the Procfile on PORT 5000 (no EXPOSE), other types at 0 until ps:scale, each type replaced by a config change', async () => {
    const app = `${p}-proc`;
    const repo = new AppRepo(server.tmp, app, server, key);
    repo.write({ ...base('from the procfile'), Procfile: procfile });
    repo.commit('one');
    const r = await repo.push();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("(port 5000: no EXPOSE and no PORT, Dokku's default)");
    expect(r.stderr).toContain(
      `Not running worker: scaled to 0 (as Dokku, only web runs until scaled: goku ps:scale ${app} worker=1)`,
    );
    expect(r.stderr).toContain(`=====> ${app} deployed: http://${app}.${server.domain}:${server.proxyPort}/`);
    expect((await get(app)).body).toBe('from the procfile\n');
    expect(await server.settled(app, [app])).toEqual([app]);
    expect(server.containerEnv(app, app).PORT).toBe('5000');

    const formation = await server.ok(['ps:scale', app]);
    expect(formation.stdout).toMatch(/web +1 +httpd -f -p \$PORT -h \/www/);
    expect(formation.stdout).toMatch(/worker +0 +sh -c/);
    expect(JSON.parse((await server.ok(['ps:scale', app, '--json'])).stdout)).toEqual([
      { process_type: 'web', quantity: 1 },
      { process_type: 'worker', quantity: 0 },
    ]);

    const scaled = await server.ok(['ps:scale', app, 'web=2', 'worker=1']);
    expect(scaled.stdout).toContain('-----> Starting worker: sh -c');
    expect(scaled.stdout).toContain(`=====> ${app} runs web=2 worker=1 as release v2`);
    await server.settled(app, [app, `${app}-worker`, `${app}.2`].sort());
    const ps = JSON.parse((await server.ok(['ps', app, '--json'])).stdout) as {
      name: string;
      process: string;
    }[];
    expect(ps.map((i) => [i.name, i.process])).toEqual([
      [app, 'web'],
      [`${app}-worker`, 'worker'],
      [`${app}.2`, 'web'],
    ]);
    expect((await server.ok(['ps', app])).stdout).toMatch(
      new RegExp(`${app}-worker +${app} +worker +running`),
    );
    // The worker proves it runs by writing to its log; -p picks its lines alone.
    const logs = await eventually(
      () => server.cli(['logs', app, '-p', 'worker', '-n', '5']),
      (l) => l.stdout.includes('worker tick port=5000'),
    );
    expect(logs.stdout).not.toContain('GET /');
    const none = await server.cli(['logs', app, '-p', 'clock']);
    expect(none.code).not.toBe(0);
    expect(oneLineError(none.stderr)).toContain(
      `app ${app} has no running clock process (running: web, worker)`,
    );

    const worker = server.containers(app).find((c) => c.name === `${app}-worker`)?.id;
    await server.ok(['config:set', app, 'GREETING=hi']);
    const after = await server.settled(app, [app, `${app}-worker`, `${app}.2`].sort());
    expect(after).toHaveLength(3);
    expect(server.containers(app).find((c) => c.name === `${app}-worker`)?.id).not.toBe(worker);
    expect(server.containerEnv(app, `${app}-worker`).GREETING).toBe('hi');
    expect(server.containerEnv(app, `${app}-worker`).PORT).toBe('5000');

    // A type the Procfile does not have, or a bad count: refused, nothing changes.
    const ids = server.ids(app);
    for (const [args, says] of [
      [['clock=1'], `${app} has no process type clock; its Procfile defines web, worker`],
      [['worker=x'], 'invalid instance count "x" for worker'],
      [
        ['worker'],
        'invalid instance count "worker": a whole number from 0 to 20 (GOKU_MAX_SCALE), or TYPE=N',
      ],
      [['web=1', 'worker'], '"worker" is not TYPE=N'],
      [['worker=1', 'worker=2'], 'worker is given twice'],
    ] as const) {
      const bad = await server.cli(['ps:scale', app, ...args]);
      expect(bad.code).not.toBe(0);
      expect(oneLineError(bad.stderr)).toContain(says);
    }
    expect(server.ids(app)).toEqual(ids);
    expect((await server.ok(['ps:report', app])).stdout).toMatch(/Scale: +web=2 worker=1/);

    // ps:scale APP N still scales web alone; the worker keeps its count.
    await server.ok(['ps:scale', app, '1']);
    await server.settled(app, [app, `${app}-worker`]);
  });

  it('refuses a bad Procfile or a worker that dies, naming why, and the running release keeps serving', async () => {
    const app = `${p}-bad`;
    const repo = new AppRepo(server.tmp, app, server, key);
    await repo.deploy({ ...base('good'), Procfile: procfile }, 'good');
    await server.ok(['ps:scale', app, 'worker=1']);
    await server.settled(app, [app, `${app}-worker`]);
    const ids = server.ids(app);

    const cases: [string, string][] = [
      [
        'web: httpd -f -p $PORT -h /www\nthis is not a process\n',
        'Procfile line 2: "this is not a process" is not "type: command"',
      ],
      ['web: httpd\nweb: httpd -f\n', 'Procfile line 2: process type web is defined twice'],
      ['Web: httpd\n', 'Procfile line 1: process type "Web" must be lowercase'],
      ['web:\n', 'Procfile line 1: process type web has no command'],
      ['web: httpd -f -p $PORT && echo hi\n', 'Procfile line 1: "&&" needs a shell'],
      ['# nothing\n\n', 'the Procfile defines no process type'],
    ];
    for (const [text, says] of cases) {
      repo.write({ ...base('bad'), Procfile: text });
      repo.commit(`bad: ${says}`);
      const r = await repo.push();
      expect(r.code, says).not.toBe(0);
      expect(r.stderr).toContain(says);
      expect(r.stderr).toContain('pre-receive hook declined');
      expect((await get(app)).body).toBe('good\n');
      expect(server.ids(app)).toEqual(ids);
    }

    // An app.json asking for more containers in all than GOKU_MAX_SCALE (20) starts none.
    repo.write({
      ...base('too many'),
      Procfile: procfile,
      'app.json': '{ "formation": { "web": { "quantity": 15 }, "worker": { "quantity": 15 } } }',
    });
    repo.commit('too many');
    const many = await repo.push();
    expect(many.code).not.toBe(0);
    expect(many.stderr).toContain(
      'would run 30 containers in all (web=15 worker=15), above GOKU_MAX_SCALE (20)',
    );
    expect(server.ids(app)).toEqual(ids);
    repo.remove('app.json');

    // A worker that exits at once fails the deploy after web went live: web goes back.
    repo.write({
      ...base('dies'),
      Procfile: 'web: httpd -f -p $PORT -h /www\nworker: sh -c "echo bye; exit 4"\n',
    });
    repo.commit('worker dies');
    const r = await repo.push();
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/worker 1: .*exit/i);
    expect((await get(app)).body).toBe('good\n');
    expect(await server.settled(app, [app, `${app}-worker`])).toHaveLength(2);
    expect(server.ids(app)).toEqual(ids);
  });

  it('app.json formation sets the counts (ps:scale is off); a Procfile without web runs unrouted and prints no URL', async () => {
    const app = `${p}-form`;
    const repo = new AppRepo(server.tmp, app, server, key);
    repo.write({
      ...base('formed'),
      Procfile: `${procfile}\nclock: sh -c 'while true; do echo clock; sleep 1; done'\n`,
      'app.json':
        '{\n  // Dokku reads comments\n  "formation": { "web": { "quantity": 1 }, "worker": { "quantity": 2 }, },\n}\n',
    });
    repo.commit('formation');
    const r = await repo.push();
    expect(r.code, r.stderr).toBe(0);
    // clock is not named in the formation: it runs 0, as Dokku's.
    await server.settled(app, [app, `${app}-worker`, `${app}-worker.2`]);
    const refused = await server.cli(['ps:scale', app, 'worker=1']);
    expect(refused.code).not.toBe(0);
    expect(oneLineError(refused.stderr)).toContain('set by the formation key of its app.json');
    expect((await server.ok(['ps:scale', app])).stdout).toContain("Set by app.json's formation");

    // Scaled before its first deploy, as Dokku allows: the deploy starts those counts.
    const early = `${p}-early`;
    expect((await server.cli(['apps:create', early])).code).toBe(0);
    const pre = await server.ok(['ps:scale', early, 'worker=2']);
    expect(pre.stdout).toContain(`${early} is not deployed yet: its first deploy starts worker=2`);
    const earlyRepo = new AppRepo(server.tmp, early, server, key);
    await earlyRepo.deploy({ ...base('early'), Procfile: procfile }, 'early');
    expect(await server.settled(early, [early, `${early}-worker`, `${early}-worker.2`])).toHaveLength(3);

    const worker = `${p}-only`;
    const repo2 = new AppRepo(server.tmp, worker, server, key);
    repo2.write({
      ...base('never served'),
      Procfile: `worker: sh -c 'while true; do echo working; sleep 1; done'\n`,
      'app.json': '{ "formation": { "worker": { "quantity": 1 } } }',
    });
    repo2.commit('worker only');
    const r2 = await repo2.push();
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.stderr).toContain('has no web process (its Procfile names none): nothing is routed');
    expect(r2.stderr).toContain(`${worker} deployed as ${worker}`);
    expect(r2.stderr).not.toContain('http://');
    expect(await server.settled(worker, [`${worker}-worker`])).toHaveLength(1);
    expect((await get(worker)).status).toBe(404);
    const url = await server.cli(['url', worker]);
    expect(url.code).not.toBe(0);
  });

  it('an app without EXPOSE, PORT or Procfile is routed to 5000; one that does not listen there is refused with what to do', async () => {
    const app = `${p}-five`;
    const repo = new AppRepo(server.tmp, app, server, key);
    // Serves on $PORT: the default 5000.
    repo.write({
      Dockerfile: 'FROM goku-test/busybox:1\nCOPY www /www\nCMD httpd -f -p $PORT -h /www\n',
      'www/index.html': 'five\n',
    });
    repo.commit('five');
    const r = await repo.push();
    expect(r.code, r.stderr).toBe(0);
    expect((await get(app)).body).toBe('five\n');

    const deaf = `${p}-deaf`;
    const repo2 = new AppRepo(server.tmp, deaf, server, key);
    await repo2.deploy(httpdApp('exposed'), 'exposed');
    repo2.write({ Dockerfile: 'FROM goku-test/busybox:1\nCMD ["sleep", "3600"]\n' });
    repo2.commit('listens nowhere');
    const r2 = await repo2.push();
    expect(r2.code).not.toBe(0);
    expect(r2.stderr).toContain('must listen on PORT (5000');
    expect(r2.stderr).toContain('give a process that serves no HTTP another Procfile type than web');
    expect((await get(deaf)).body).toBe('exposed\n');
  }, 60_000);
});
