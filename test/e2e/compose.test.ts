import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AppRepo,
  eventually,
  fixtureFiles,
  GokuServer,
  type SshKey,
  underLoad,
  uniquePrefix,
} from '../helpers/goku.js';

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'compose', 'kv');

function inspect(id: string, format: string): string {
  return execFileSync('docker', ['inspect', '-f', format, id]).toString().trim();
}

// A compose app pushed like any other: a web service with a stateful key-value store on a named
// volume, a worker, depends_on with a healthcheck, interpolation from config:set and .env, and
// a build with args and target (test/fixtures/compose/kv).
describe('compose apps', () => {
  // The rollback below goes back past a dozen releases: their images are kept for it.
  const server = new GokuServer({
    env: { GOKU_STOP_GRACE: '1', GOKU_CHECK_UPTIME: '1', GOKU_KEEP_RELEASES: '20' },
  });
  const p = uniquePrefix();
  const app = `${p}-kv`;
  let key: SshKey;
  let repo: AppRepo;
  const host = () => `${app}.${server.domain}`;
  const get = (path = '/') => server.get(host(), path);
  // A rejected push says why in one ` !` line (then "Push rejected: ..." with what still runs).
  const oneError = (stderr: string) => {
    const lines = stderr
      .split('\n')
      .filter((l) => /^remote: {2}! {5}/.test(l) && !l.includes('Push rejected'));
    expect(lines, stderr).toHaveLength(1);
    expect(stderr).toContain('Push rejected: ');
    return lines[0] as string;
  };

  beforeAll(async () => {
    key = await server.startWithKey();
    repo = new AppRepo(server.tmp, app, server, key);
  });
  afterAll(async () => {
    await server.cli(['apps:destroy', app, '--force']).catch(() => undefined);
    await server.cleanup();
  });

  it('refuses a push whose required variable (:?) is not set, then deploys every service once it is', async () => {
    await server.ok(['apps:create', app]);
    repo.write(fixtureFiles(FIXTURE));
    repo.commit('kv app');
    const refused = await repo.push();
    expect(refused.code).not.toBe(0);
    expect(oneError(refused.stderr)).toContain('SECRET');
    expect(oneError(refused.stderr)).toContain('set SECRET with goku config:set');

    await server.ok(['config:set', app, 'SECRET=s3', 'GREETING=hi']);
    const r = await repo.push();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('compose.yaml found: deploying');
    expect(r.stderr).toContain(`=====> ${app} deployed: http://${host()}:${server.proxyPort}/`);
    expect((await get()).body).toBe('web v1\n');
    // Build args and target, config and .env interpolation, all reached the web service.
    expect((await get('/cgi-bin/info')).body).toBe('secret=s3 greeting=hi region=eu-from-dotenv\n');
    // The web reaches the db by its service name on the app's own network.
    expect((await get('/cgi-bin/kv?k=a&v=one')).body).toBe('stored\n');
    expect((await get('/cgi-bin/kv?k=a')).body).toBe('one\n');
    await server.settled(app, [`${app}-db`, `${app}-web`, `${app}-worker`]);
    const web = server.containers(app).find((c) => c.name === `${app}-web`)?.id as string;
    expect(inspect(web, '{{index .Config.Labels "com.docker.compose.project"}}')).toBe(app);
    expect(inspect(web, '{{index .Config.Labels "goku.service"}}')).toBe('web');
    // The worker runs with its entrypoint, user, directory, env_file and the app's config.
    const worker = server.containers(app).find((c) => c.name === `${app}-worker`)?.id as string;
    expect(inspect(worker, '{{json .Config.Entrypoint}} {{.Config.User}} {{.Config.WorkingDir}}')).toBe(
      '["/bin/sh","-c"] 65534:65534 /tmp',
    );
    expect(inspect(worker, '{{.Config.Hostname}} {{.Config.Tty}}')).toBe('kv-worker true');
    // The web's limits, hosts, tmpfs, init and stop timeout, as the file gives them.
    expect(
      inspect(
        web,
        '{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{json .HostConfig.ExtraHosts}} {{json .HostConfig.Tmpfs}} {{.HostConfig.Init}} {{.Config.StopTimeout}}',
      ),
    ).toBe(`${256 * 1024 * 1024} 500000000 ["metadata.internal:127.0.0.1"] {"/tmp/cache":""} true 2`);
    const env = server.containerEnv(app, `${app}-worker`);
    expect(env.TICK_EVERY).toBe('1');
    expect(env.SECRET).toBe('s3');
    // ... and writes to the db's volume through the network.
    await eventually(
      () => get('/cgi-bin/kv?k=ticks'),
      (res) => Number(res.body) > 0,
    );
  });

  it('replaces only the web on a web push, with zero failed requests; the db keeps its container and data', async () => {
    const ids = () => Object.fromEntries(server.containers(app).map((c) => [c.name, c.id]));
    const before = ids();
    const { result, ok, failed } = await underLoad(server, host(), () => {
      repo.write({ 'web/www/index.html': 'web v2\n' });
      repo.commit('web v2');
      return repo.push();
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('Unchanged, kept running: db, worker');
    expect(failed).toBe(0);
    expect(ok).toBeGreaterThan(10);
    expect((await get()).body).toBe('web v2\n');
    await server.settled(app, [`${app}-db`, `${app}-web`, `${app}-worker`]);
    const after = ids();
    expect(after[`${app}-db`]).toBe(before[`${app}-db`]);
    expect(after[`${app}-worker`]).toBe(before[`${app}-worker`]);
    expect(after[`${app}-web`]).not.toBe(before[`${app}-web`]);
    expect((await get('/cgi-bin/kv?k=a')).body).toBe('one\n');
  });

  it.each([
    [
      'an undefined required variable',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the compose file's own ${VAR:?error}
      'services:\n  web:\n    build: ./web\n    environment:\n      X: ${NOPE:?set NOPE first}\n',
      /NOPE.*set NOPE first/,
    ],
    [
      'a build that fails',
      'services:\n  web:\n    build:\n      context: ./web\n      target: broken\n    ports: ["8000"]\n',
      /docker build failed/,
    ],
    [
      'a key goku does not run',
      'services:\n  web:\n    build: ./web\n    logging:\n      driver: syslog\n',
      /"logging" is not supported/,
    ],
    [
      'a key that gives the host',
      'services:\n  web:\n    build: ./web\n    privileged: true\n',
      /privileged.*refused/,
    ],
    [
      'a bind mount of /etc',
      'services:\n  web:\n    build: ./web\n    volumes:\n      - /etc:/host-etc\n',
      /outside the repository/,
    ],
    [
      'a cycle in depends_on',
      'services:\n  web:\n    build: ./web\n    depends_on: [db]\n  db:\n    build: ./db\n    depends_on: [web]\n',
      /a cycle: /,
    ],
  ])('refuses %s with one line, the previous version serving', async (_what, compose, message) => {
    repo.write({ 'compose.yaml': compose });
    repo.commit('hostile');
    const r = await repo.push();
    expect(r.code).not.toBe(0);
    expect(oneError(r.stderr)).toMatch(message);
    expect((await get()).body).toBe('web v2\n');
    execFileSync('git', ['reset', '-q', '--hard', 'HEAD~1'], { cwd: repo.dir });
  });

  it('refuses a bind mount through a symlink, and a web service that crashes, the previous version serving', async () => {
    const db = server.containers(app).find((c) => c.name === `${app}-db`)?.id;
    repo.write({
      'compose.yaml': readFileSync(join(FIXTURE, 'compose.yaml'), 'utf8').replace(
        'volumes:\n      - kvdata:/data',
        'volumes:\n      - kvdata:/data\n      - ./etc-link:/host',
      ),
    });
    execFileSync('ln', ['-s', '/etc', join(repo.dir, 'etc-link')]);
    repo.commit('symlink bind');
    const linked = await repo.push();
    expect(linked.code).not.toBe(0);
    expect(oneError(linked.stderr)).toMatch(/bind mount \.\/etc-link is a symlink/);
    execFileSync('git', ['reset', '-q', '--hard', 'HEAD~1'], { cwd: repo.dir });

    repo.write({
      'compose.yaml': readFileSync(join(FIXTURE, 'compose.yaml'), 'utf8').replace(
        '      target: runtime\n',
        '      target: runtime\n    command: ["sh", "-c", "echo web is crashing; exit 3"]\n',
      ),
    });
    repo.commit('crashing web');
    const crashed = await repo.push();
    expect(crashed.code).not.toBe(0);
    expect(crashed.stderr).toContain('web is crashing');
    expect((await get()).body).toBe('web v2\n');
    expect(server.containers(app).find((c) => c.name === `${app}-db`)?.id).toBe(db);
    execFileSync('git', ['reset', '-q', '--hard', 'HEAD~1'], { cwd: repo.dir });
  });

  it('serves another service with ports at SERVICE.APP.DOMAIN; ps, logs, ps:scale and apps:info know the services', async () => {
    expect((await server.get(`db.${host()}`, '/cgi-bin/kv?k=a')).body).toBe('one\n');
    const ps = JSON.parse((await server.ok(['ps', app, '--json'])).stdout) as {
      name: string;
      process: string;
    }[];
    expect(ps.map((i) => [i.name, i.process])).toEqual([
      [`${app}-db`, 'db'],
      [`${app}-web`, 'web'],
      [`${app}-worker`, 'worker'],
    ]);
    // Lines are prefixed with the container (APP-SERVICE); -p picks one service.
    await eventually(
      () => server.cli(['logs', app, '-n', '50']),
      (l) => l.stdout.includes(`${app}-worker: tick 1`),
    );
    expect((await server.ok(['logs', app, '-p', 'worker', '-n', '5'])).stdout).toMatch(/^tick 1$/m);
    expect((await server.ok(['logs', app, '-p', 'web', '-n', '20'])).stdout).not.toContain('tick');

    const scaled = await server.ok(['ps:scale', app, 'web=2']);
    expect(scaled.stdout).toContain('Unchanged, kept running: db, worker');
    await server.settled(app, [`${app}-db`, `${app}-web`, `${app}-web.2`, `${app}-worker`]);
    expect(await server.distinctAnswers(host(), 4)).toBe(1);
    const formation = JSON.parse((await server.ok(['ps:scale', app, '--json'])).stdout);
    expect(formation).toEqual([
      { process_type: 'db', quantity: 1 },
      { process_type: 'web', quantity: 2 },
      { process_type: 'worker', quantity: 1 },
    ]);
    const refused = await server.cli(['ps:scale', app, 'db=2']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('db has named volumes, so it runs one container');
    // run: a one-off in the web service's image, env and network (the db by its name).
    const one = await server.ok(['run', app, 'sh', '-c', 'wget -qO- "$DB_URL/cgi-bin/kv?k=a"']);
    expect(one.stdout).toBe('one\n');
    expect((await server.ok(['url', app])).stdout).toBe(`http://${host()}:${server.proxyPort}/\n`);
    const renamed = await server.cli(['apps:rename', app, `${app}x`]);
    expect(renamed.code).not.toBe(0);
    expect(renamed.stderr).toContain('Docker cannot rename its named volumes');
    const unknown = await server.cli(['ps:scale', app, 'cache=1']);
    expect(unknown.stderr).toContain(`${app} has no service cache; its services: db, web, worker`);

    const info = JSON.parse((await server.ok(['apps:info', app, '--json'])).stdout);
    const dep = info.deployments[0];
    expect(dep.compose.volumes).toEqual([`${app}_kvdata`]);
    expect(dep.compose.services).toEqual([
      expect.objectContaining({
        name: 'db',
        containers: 1,
        running: 1,
        port: 8080,
        domains: [`db.${host()}`],
      }),
      expect.objectContaining({
        name: 'web',
        containers: 2,
        running: 2,
        port: 8000,
        domains: [host(), `${app}-master.${server.domain}`],
      }),
      expect.objectContaining({ name: 'worker', containers: 1, running: 1, port: null, domains: [] }),
    ]);
    expect((await server.ok(['apps:info', app])).stdout).toMatch(/ {2}web +2\/2 running/);
  });

  it('restarts one service in place with its volume, then every service on a config change; data and routes survive a goku restart', async () => {
    const ids = () => Object.fromEntries(server.containers(app).map((c) => [c.name, c.id]));
    // The worker's depends_on gets restart: true (newer than Debian's docker-compose, so not in
    // the fixture): the worker is replaced whenever the db is.
    repo.write({
      'compose.yaml': readFileSync(join(FIXTURE, 'compose.yaml'), 'utf8').replace(
        '    depends_on:\n      - db\n',
        '    depends_on:\n      db:\n        condition: service_started\n        restart: true\n',
      ),
    });
    repo.commit('worker restarts with the db');
    const pushed = await repo.push();
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(pushed.stderr).toContain('Unchanged, kept running: db, web');
    await server.settled(app, [`${app}-db`, `${app}-web`, `${app}-web.2`, `${app}-worker`]);
    const before = ids();
    const r = await server.ok(['ps:restart', app, 'db']);
    expect(r.stdout).toContain('Stopping db first (it has named volumes)');
    // The worker's depends_on has restart: true: it is replaced with the db.
    expect(r.stdout).toContain('Unchanged, kept running: web\n');
    expect(r.stdout).toContain('Stopping worker first (it is not routed)');
    await server.settled(app, [`${app}-db`, `${app}-web`, `${app}-web.2`, `${app}-worker`]);
    const after = ids();
    expect(after[`${app}-db`]).not.toBe(before[`${app}-db`]);
    expect(after[`${app}-worker`]).not.toBe(before[`${app}-worker`]);
    expect(after[`${app}-web`]).toBe(before[`${app}-web`]);
    expect((await get('/cgi-bin/kv?k=a')).body).toBe('one\n');

    // Config reaches every service: each is replaced (the db in place), the data stays. The
    // build arg taken from config was baked in at the build: it changes at the next build.
    await server.ok(['config:set', app, 'GREETING=changed', 'REGION=from-config']);
    await server.settled(app, [`${app}-db`, `${app}-web`, `${app}-web.2`, `${app}-worker`]);
    expect((await get('/cgi-bin/info')).body).toBe('secret=s3 greeting=hi region=from-config\n');
    expect(server.containerEnv(app, `${app}-worker`).GREETING).toBe('changed');
    expect(server.containerEnv(app, `${app}-db`).GREETING).toBe('changed');
    expect((await get('/cgi-bin/kv?k=a')).body).toBe('one\n');

    await server.stop();
    await server.start();
    await eventually(
      () => get(),
      (res) => res.body === 'web v2\n',
    );
    expect((await server.get(`db.${host()}`, '/cgi-bin/kv?k=a')).body).toBe('one\n');
  });

  it('starts a service with profiles only while COMPOSE_PROFILES names one', async () => {
    const r = await server.ok(['config:set', app, 'COMPOSE_PROFILES=debug']);
    expect(r.stdout).toContain('Starting debug');
    await server.settled(app, [`${app}-db`, `${app}-debug`, `${app}-web`, `${app}-web.2`, `${app}-worker`]);
    await server.ok(['config:unset', app, 'COMPOSE_PROFILES']);
    await server.settled(app, [`${app}-db`, `${app}-web`, `${app}-web.2`, `${app}-worker`]);
    expect((await get('/cgi-bin/kv?k=a')).body).toBe('one\n');
  });

  it('rolls every service back to an earlier release, keeping the volume', async () => {
    const releases = JSON.parse((await server.ok(['releases', app, '--json'])).stdout) as {
      version: number;
      status: string;
      kind: string;
    }[];
    const first = releases
      .filter((r) => r.status === 'succeeded' && r.kind === 'push')
      .sort((a, b) => a.version - b.version)[0];
    expect(first).toBeDefined();
    const r = await server.ok(['rollback', app, `v${first?.version}`]);
    expect(r.stdout).toContain(`rolled back to v${first?.version}`);
    expect((await get()).body, r.stdout).toBe('web v1\n');
    // v1's config (the greeting it ran with); ps:scale counts are the app's, not a release's.
    expect((await get('/cgi-bin/info')).body).toBe('secret=s3 greeting=hi region=eu-from-dotenv\n');
    await server.settled(app, [`${app}-db`, `${app}-web`, `${app}-web.2`, `${app}-worker`]);
    expect(server.containerEnv(app, `${app}-worker`).GREETING).toBe('hi');
    expect((await get('/cgi-bin/kv?k=a')).body).toBe('one\n');
  });

  it('deploys a branch with its own containers, network and volume; deleting the branch removes them', async () => {
    const dep = `${app}-feature`;
    execFileSync('git', ['checkout', '-q', '-b', 'feature'], { cwd: repo.dir });
    repo.write({ 'web/www/index.html': 'feature\n' });
    repo.commit('feature');
    const r = await repo.push('feature');
    expect(r.code, r.stderr).toBe(0);
    expect((await server.get(`${dep}.${server.domain}`)).body).toBe('feature\n');
    // Its db is its own: the default deployment's data is not there.
    expect((await server.get(`db.${dep}.${server.domain}`, '/cgi-bin/kv?k=a')).body).toBe('\n');
    expect((await get('/cgi-bin/kv?k=a')).body).toBe('one\n');
    const volumes = () =>
      execFileSync('docker', ['volume', 'ls', '-q', '--filter', `label=goku.app=${app}`])
        .toString()
        .trim()
        .split('\n');
    expect(volumes().sort()).toEqual([`${app}_kvdata`, `${dep}_kvdata`].sort());
    const gone = await repo.push(':feature');
    expect(gone.code, gone.stderr).toBe(0);
    expect(gone.stderr).toContain(`Removing volume ${dep}_kvdata`);
    expect(volumes()).toEqual([`${app}_kvdata`]);
    expect(server.names(app).filter((n) => n.startsWith(dep))).toEqual([]);
    execFileSync('git', ['checkout', '-q', 'master'], { cwd: repo.dir });
  });

  it('lists the volumes apps:destroy would remove, then removes and names them', async () => {
    const refused = await server.cli(['apps:destroy', app]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`and its volumes ${app}_kvdata with their data`);
    const r = await server.ok(['apps:destroy', app, '--force']);
    expect(r.stdout).toContain(`Removing volume ${app}_kvdata`);
    const left = execFileSync('docker', [
      'volume',
      'ls',
      '-q',
      '--filter',
      `label=goku.app=${app}`,
    ]).toString();
    expect(left.trim()).toBe('');
    const nets = execFileSync('docker', [
      'network',
      'ls',
      '-q',
      '--filter',
      `label=goku.app=${app}`,
    ]).toString();
    expect(nets.trim()).toBe('');
    expect(server.containers(app)).toEqual([]);
  });
});
