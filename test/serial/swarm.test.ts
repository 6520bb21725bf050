import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCa } from '../helpers/certs.mjs';
import { FakeConsul } from '../helpers/consul-fake.js';
import { BASE_IMAGE } from '../helpers/global-setup.js';
import {
  AppRepo,
  eventually,
  fixtureFiles,
  freePort,
  GOKU_BIN,
  GokuServer,
  hostnameApp,
  httpdApp,
  httpGet,
  httpsGet,
  ROOT,
  run,
  type SshKey,
  underLoad,
  uniquePrefix,
} from '../helpers/goku.js';
import { type LabNode, SwarmLab } from '../helpers/swarm.js';

// GOKU_SCHEDULER=swarm: goku on a swarm manager runs each deployment as a Swarm service. Two
// Docker engines of the test's own (network namespaces joined by a veth pair; the machine's
// engine never joins a swarm), Debian's docker-registry on the first one's address (both pull
// from it), goku natively with DOCKER_HOST at the manager's engine, its routes nginx a
// container of goku's own image (built by install.sh --image-only) on the apps' overlay.
// Serial: two more engines and goku's image.
const prefix = uniquePrefix();
const image = `goku-test/goku:${prefix}-swarm`;

describe('GOKU_SCHEDULER=swarm', () => {
  const lab = new SwarmLab();
  const consul = new FakeConsul();
  const server = new GokuServer();
  // The goku of the worker node: the same shared store, its own engine (node b).
  const follower = new GokuServer();
  let a: LabNode;
  let b: LabNode;
  let key: SshKey;
  let loaded: AppRepo;

  /** Which node runs a task whose container answered with this hostname (its short id). */
  const nodeOf = (hostname: string): string | null => {
    for (const n of [a, b]) {
      try {
        if (lab.docker(n, 'ps', '-q', '--no-trunc').includes(hostname)) return n.ns;
      } catch {
        // a killed engine answers nothing
      }
    }
    return null;
  };
  const services = () => lab.docker(a, 'service', 'ls', '--format', '{{.Name}} {{.Replicas}}');
  /** A GET over a published TCP port: the app's own bytes (busybox httpd's CGI headers end in LF alone). */
  const rawGet = (port: number, path: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1');
      let data = '';
      sock.setTimeout(5000, () => sock.destroy(new Error('timed out')));
      sock.on('connect', () => sock.write(`GET ${path} HTTP/1.0\r\nHost: x\r\n\r\n`));
      sock.on('data', (c: Buffer) => {
        data += c.toString('utf8');
      });
      sock.on('end', () => {
        const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(data)?.[1] ?? 0);
        resolve({
          status,
          body: data
            .split(/\r?\n\r?\n/)
            .slice(1)
            .join('\n\n'),
        });
      });
      sock.on('error', reject);
    });

  beforeAll(async () => {
    const built = await run('bash', [join(ROOT, 'install.sh'), '--image-only'], {
      env: { GOKU_IMAGE: image },
    });
    expect(built.code, built.stdout + built.stderr).toBe(0);
    await lab.start({ registry: true });
    [a, b] = lab.nodes as [LabNode, LabNode];
    await lab.initSwarm();
    // The lab's engines reach no registry but their own: the apps' base and goku's image are copied in.
    lab.loadImage(a, BASE_IMAGE);
    lab.loadImage(a, image);
    await consul.start();
    // First as a user who had goku before the swarm: containers, its routes nginx a daemon here.
    Object.assign(server.extraEnv, { GOKU_CONSUL_URL: consul.url, DOCKER_HOST: a.host });
    key = await server.startWithKey();
    await server.stop();
    // Then GOKU_SCHEDULER=swarm and a restart: that routes nginx makes way for one on the overlay.
    Object.assign(server.extraEnv, {
      GOKU_SCHEDULER: 'swarm',
      GOKU_NGINX_IMAGE: image,
      GOKU_REGISTRY: `${lab.registry}/apps`,
      GOKU_DEPLOY_TIMEOUT: '60',
      GOKU_CHECK_UPTIME: '1',
    });
    await server.start();
    expect(server.log).toContain('the routes nginx runs as goku in another mode left it; replacing it');
  }, 300_000);
  afterAll(async () => {
    await follower.cleanup();
    await server.cleanup();
    await consul.stop();
    await lab.cleanup();
    execFileSync('docker', ['rmi', image], { stdio: 'pipe' });
  }, 300_000);

  it('a push becomes a Swarm service on the overlay (start-first, dnsrr), served through nginx', async () => {
    const repo = new AppRepo(server.tmp, 'swarmy', server, key);
    // Each task says where it started: its log line shows `goku logs` reading every node's.
    repo.write({
      ...hostnameApp(),
      Dockerfile: `FROM ${BASE_IMAGE}\nCOPY www /www\nEXPOSE 8000\nCMD ["sh", "-c", "echo started on $(hostname); exec httpd -f -p 8000 -h /www"]\n`,
    });
    repo.commit('first');
    const push = await repo.push();
    expect(push.code, push.stderr).toBe(0);
    expect(push.stderr).toContain('Updating Swarm service swarmy (1)');
    const spec = JSON.parse(lab.docker(a, 'service', 'inspect', 'swarmy'))[0].Spec;
    expect(spec.UpdateConfig.Order).toBe('start-first');
    expect(spec.EndpointSpec.Mode).toBe('dnsrr');
    expect(spec.TaskTemplate.ContainerSpec.Image).toMatch(
      new RegExp(`^${lab.registry}/apps/swarmy:[0-9a-z-]+@sha256:[0-9a-f]{64}$`),
    );
    expect(spec.Labels['goku.app']).toBe('swarmy');
    const r = await httpGet(server.proxyPort, 'swarmy.goku.test', '/cgi-bin/index.cgi');
    expect(r.status).toBe(200);
    expect(nodeOf(r.body.trim())).not.toBeNull();
    // A task on a node that went away must not hold a request for nginx's default 60 s.
    expect(readFileSync(join(server.home, 'nginx', 'nginx.conf'), 'utf8')).toContain(
      'proxy_connect_timeout 2s;',
    );
    // Nothing of the app runs as a container of goku's own.
    expect(lab.docker(a, 'ps', '--filter', `label=goku.home=${server.home}`, '-q')).toBe('');
  });

  it('ps:scale 4 spreads the tasks over both nodes and requests reach both', async () => {
    await server.ok(['ps:scale', 'swarmy', 'web=4']);
    expect(services()).toContain('swarmy 4/4');
    const seen = new Set<string>();
    await eventually(
      async () => {
        for (let i = 0; i < 20; i++) {
          const r = await httpGet(server.proxyPort, 'swarmy.goku.test', '/cgi-bin/index.cgi');
          if (r.status === 200) seen.add(nodeOf(r.body.trim()) ?? 'unknown');
        }
        return seen;
      },
      (s) => s.has(a.ns) && s.has(b.ns),
      30_000,
    );
    expect([...seen].sort()).toEqual([a.ns, b.ns].sort());

    // ps: the tasks of every node; logs: every task's lines, read through the manager.
    const ps = JSON.parse((await server.ok(['ps', 'swarmy', '--json'])).stdout) as {
      name: string;
      state: string;
      node: string;
      id: string;
    }[];
    expect(ps.map((i) => i.state)).toEqual(['running', 'running', 'running', 'running']);
    expect(new Set(ps.map((i) => i.node)).size).toBe(2);
    // goku cluster counts them by node.
    const nodes = JSON.parse((await server.ok(['cluster', '--json'])).stdout).nodes as { tasks: number }[];
    expect(nodes.map((n) => n.tasks).reduce((x, y) => x + y, 0)).toBeGreaterThanOrEqual(4);
    expect(nodes.every((n) => n.tasks > 0)).toBe(true);
    expect(ps.map((i) => i.name).sort()).toEqual(['swarmy.1', 'swarmy.2', 'swarmy.3', 'swarmy.4']);
    const logs = (await server.ok(['logs', 'swarmy', '-n', '100'])).stdout;
    const starts = [...logs.matchAll(/started on ([0-9a-f]{12})/g)].map((m) => nodeOf(m[1] as string));
    expect(new Set(starts)).toEqual(new Set([a.ns, b.ns]));
  });

  it('config:set, rollback, ps:stop and ps:start act on the service', async () => {
    // Swarm expands Go templates in env values: goku's config reaches the tasks as it was set.
    await server.ok(['config:set', 'swarmy', 'GREETING=hello {{.Node.Hostname}} }}']);
    const env = () =>
      JSON.parse(lab.docker(a, 'service', 'inspect', 'swarmy'))[0].Spec.TaskTemplate.ContainerSpec
        .Env as string[];
    expect(env().some((e) => e.startsWith('GREETING=hello'))).toBe(true);
    const release = JSON.parse(lab.docker(a, 'service', 'inspect', 'swarmy'))[0].Spec.TaskTemplate
      .ContainerSpec.Labels['goku.release'] as string;
    // A task of this release, on whichever node runs one.
    const [node, task] = [a, b]
      .map(
        (n) =>
          [n, lab.docker(n, 'ps', '-q', '--filter', `label=goku.release=${release}`).split('\n')[0]] as const,
      )
      .find(([, id]) => !!id) as [LabNode, string];
    expect(lab.docker(node, 'exec', task, 'sh', '-c', 'echo "$GREETING"').trim()).toBe(
      'hello {{.Node.Hostname}} }}',
    );
    // The old tasks stop a moment after the new ones run (out of nginx by then).
    await eventually(
      async () => services(),
      (out) => out.includes('swarmy 4/4'),
      30_000,
    );
    // No task ever failed: goku left Swarm's containers alone.
    expect(lab.docker(a, 'service', 'ps', 'swarmy', '--format', '{{.CurrentState}}')).not.toMatch(
      /Failed|Rejected/,
    );
    await server.ok(['rollback', 'swarmy']);
    expect(env().some((e) => e.startsWith('GREETING='))).toBe(false);
    expect((await httpGet(server.proxyPort, 'swarmy.goku.test', '/cgi-bin/index.cgi')).status).toBe(200);

    await server.ok(['ps:stop', 'swarmy']);
    await eventually(
      async () => services(),
      (out) => out.includes('swarmy 0/0'),
      30_000,
    );
    await eventually(
      () => httpGet(server.proxyPort, 'swarmy.goku.test', '/cgi-bin/index.cgi'),
      (r) => r.status === 503,
      20_000,
    );
    await server.ok(['ps:start', 'swarmy']);
    await eventually(
      () => httpGet(server.proxyPort, 'swarmy.goku.test', '/cgi-bin/index.cgi'),
      (r) => r.status === 200,
      30_000,
    );
    await eventually(
      async () => services(),
      (out) => out.includes('swarmy 4/4'),
      30_000,
    );
  });

  it('a push under load loses no request; a broken push is rolled back by Swarm and the old tasks serve', async () => {
    const repo = new AppRepo(server.tmp, 'loaded', server, key);
    loaded = repo;
    await repo.deploy(httpdApp('loaded v1'), 'v1');
    await server.ok(['ps:scale', 'loaded', 'web=2']);
    // v2 has app.json checks: they become the service's health check, run in each task.
    const checked = {
      ...httpdApp('loaded v2'),
      'app.json': JSON.stringify({
        healthchecks: { web: [{ type: 'startup', path: '/', content: 'loaded v2', attempts: 5, wait: 1 }] },
      }),
    };
    const load = await underLoad(server, 'loaded.goku.test', () => repo.deploy(checked, 'v2'));
    console.log(`swarm push under load: ${load.ok} ok, ${load.failed} failed`);
    expect(load.ok).toBeGreaterThan(50);
    expect(load.failed).toBe(0);
    expect((await httpGet(server.proxyPort, 'loaded.goku.test')).body).toContain('loaded v2');
    const hc = JSON.parse(lab.docker(a, 'service', 'inspect', 'loaded'))[0].Spec.TaskTemplate.ContainerSpec
      .Healthcheck;
    expect(hc.Test[0]).toBe('CMD-SHELL');
    expect(hc.Test[1]).toContain("grep -qF -- 'loaded v2'");

    // Its checks fail (app.json): Swarm never finishes the update and rolls it back.
    const bad = {
      ...httpdApp('loaded v3'),
      'app.json': JSON.stringify({
        healthchecks: { web: [{ type: 'startup', path: '/missing', attempts: 2, timeout: 1, wait: 1 }] },
      }),
    };
    repo.write(bad);
    repo.commit('v3');
    const broken = await underLoad(server, 'loaded.goku.test', () => repo.push());
    expect(broken.result.code).not.toBe(0);
    expect(broken.result.stderr).toMatch(/Swarm rolled the update back|tasks running after/);
    expect(broken.failed).toBe(0);
    expect((await httpGet(server.proxyPort, 'loaded.goku.test')).body).toContain('loaded v2');
  });

  it('an image app (apps:create --image) runs as a service on both nodes', async () => {
    // An image in the lab's registry, pushed from the manager's engine (its own loopback).
    const reg = await lab.hostRegistry();
    const ctx = join(server.tmp, 'image-ctx');
    mkdirSync(join(ctx, 'www'), { recursive: true });
    writeFileSync(join(ctx, 'www/index.html'), 'from an image\n');
    writeFileSync(
      join(ctx, 'Dockerfile'),
      `FROM ${BASE_IMAGE}\nCOPY www /www\nEXPOSE 8000\nCMD ["httpd", "-f", "-p", "8000", "-h", "/www"]\n`,
    );
    lab.docker(a, 'build', '-q', '-t', `${reg}/src/imaged:1`, ctx);
    lab.docker(a, 'push', '-q', `${reg}/src/imaged:1`);
    lab.docker(a, 'rmi', `${reg}/src/imaged:1`);
    await server.ok(['apps:create', 'imaged', '--image', `${reg}/src/imaged:1`]);
    const r = await server.ok(['deploy', 'imaged']);
    expect(r.stdout).toContain('Updating Swarm service imaged (1)');
    await server.ok(['ps:scale', 'imaged', 'web=2']);
    // Both nodes run it: the worker pulled the adopted image from GOKU_REGISTRY by digest.
    const ps = JSON.parse((await server.ok(['ps', 'imaged', '--json'])).stdout) as { node: string }[];
    expect(new Set(ps.map((i) => i.node)).size).toBe(2);
    const spec = JSON.parse(lab.docker(a, 'service', 'inspect', 'imaged'))[0].Spec;
    expect(spec.TaskTemplate.ContainerSpec.Image).toMatch(
      new RegExp(`^${lab.registry}/apps/imaged:[0-9a-z-]+@sha256:[0-9a-f]{64}$`),
    );
    for (let i = 0; i < 6; i++)
      expect((await httpGet(server.proxyPort, 'imaged.goku.test')).body).toBe('from an image\n');

    // apps:rename: a service of the new name replaces the old one.
    await server.ok(['apps:rename', 'imaged', 'pictured']);
    expect((await httpGet(server.proxyPort, 'pictured.goku.test')).body).toBe('from an image\n');
    await eventually(
      async () => lab.docker(a, 'service', 'ls', '--format', '{{.Name}}').split('\n').sort(),
      (names) => names.includes('pictured') && !names.includes('imaged'),
      20_000,
    );
  });

  it("the worker's goku serves every app from the shared store; a push there is refused", async () => {
    lab.loadImage(b, image);
    Object.assign(follower.extraEnv, {
      DOCKER_HOST: b.host,
      GOKU_CONSUL_URL: consul.url,
      GOKU_SCHEDULER: 'swarm',
      GOKU_NGINX_IMAGE: image,
    });
    await follower.start();
    for (const [host, path, want] of [
      ['swarmy.goku.test', '/cgi-bin/index.cgi', 200],
      ['loaded.goku.test', '/', 200],
    ] as const) {
      const r = await eventually(
        () => httpGet(follower.proxyPort, host, path),
        (x) => x.status === want,
        20_000,
      );
      expect(r.status).toBe(want);
    }
    expect((await httpGet(follower.proxyPort, 'loaded.goku.test')).body).toContain('loaded v2');

    // A push on the manager, under load through the worker's goku: it follows the tasks.
    const load = await underLoad(follower, 'loaded.goku.test', () =>
      loaded.deploy(
        {
          ...httpdApp('loaded v4'),
          'app.json': JSON.stringify({
            healthchecks: { web: [{ type: 'startup', path: '/', content: 'loaded v4' }] },
          }),
        },
        'v4',
      ),
    );
    console.log(`swarm push under load through the worker's goku: ${load.ok} ok, ${load.failed} failed`);
    expect(load.failed).toBe(0);
    await eventually(
      async () => (await httpGet(follower.proxyPort, 'loaded.goku.test')).body,
      (body) => body.includes('loaded v4'),
      10_000,
    );

    // Changes happen on the manager's goku: the worker's says where.
    const elsewhere = new AppRepo(follower.tmp, 'loaded', follower, key);
    elsewhere.write(httpdApp('loaded v5'));
    elsewhere.commit('v5');
    const pushed = await elsewhere.push('master:feature');
    expect(pushed.code).not.toBe(0);
    expect(pushed.stderr).toContain(`happen on the goku of the manager (${a.addr})`);
    const scale = await follower.cli(['ps:scale', 'loaded', 'web=3']);
    expect(scale.code).toBe(1);
    expect(scale.stderr.trim().split('\n')).toHaveLength(1);
    expect(scale.stderr).toMatch(/^error: this goku runs on a swarm worker/);
    // Nothing changed: the service runs its 2 tasks (the push's old ones stop a moment after).
    await eventually(
      async () => services(),
      (out) => out.includes('loaded 2/2'),
      30_000,
    );
  });

  it('a compose app runs as Swarm services: by name on its overlays, data on the manager, a one-shot as a job', async () => {
    const app = 'kvs';
    const repo = new AppRepo(server.tmp, app, server, key);
    const files = fixtureFiles(join(ROOT, 'test/fixtures/compose/kv'));
    await server.ok(['apps:create', app]);
    await server.ok(['config:set', app, 'SECRET=s3', 'GREETING=hi']);
    repo.write(files);
    repo.commit('kv');
    const r = await repo.push();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('Creating Swarm service kvs-db (1): stop-first');
    expect(r.stderr).toContain('Creating Swarm service kvs (1): start-first');
    const get = (path = '/', host = 'kvs.goku.test', port = server.proxyPort) => httpGet(port, host, path);
    expect((await get()).body).toBe('web v1\n');
    // Build args and target, config and .env interpolation reached the web service's tasks.
    expect((await get('/cgi-bin/info')).body).toBe('secret=s3 greeting=hi region=eu-from-dotenv\n');
    // The web reaches the db by its service name on the app's overlay.
    expect((await get('/cgi-bin/kv?k=a&v=one')).body).toBe('stored\n');
    expect((await get('/cgi-bin/kv?k=a')).body).toBe('one\n');
    expect((await get('/cgi-bin/ping', 'db.kvs.goku.test')).status).toBe(200);
    // The worker's goku routes to the compose services' tasks too (their addresses from the store).
    await eventually(
      () => get('/cgi-bin/kv?k=a', 'kvs.goku.test', follower.proxyPort),
      (x) => x.body === 'one\n',
      20_000,
    );

    const inspect = (n: string) => JSON.parse(lab.docker(a, 'service', 'inspect', n))[0].Spec;
    const db = inspect('kvs-db');
    expect(db.UpdateConfig.Order).toBe('stop-first');
    // A named volume lives on the manager: so does its service.
    expect(db.TaskTemplate.Placement.Constraints).toHaveLength(1);
    expect(db.TaskTemplate.Placement.Constraints[0]).toMatch(/^node\.id==/);
    expect(db.TaskTemplate.ContainerSpec.Mounts).toEqual([
      expect.objectContaining({ Type: 'volume', Source: 'kvs_kvdata', Target: '/data' }),
    ]);
    const web = inspect('kvs');
    expect(web.UpdateConfig.Order).toBe('start-first');
    expect(web.TaskTemplate.ContainerSpec.Image).toMatch(
      new RegExp(`^${lab.registry}/apps/kvs\\.web:[0-9a-z-]+@sha256:[0-9a-f]{64}$`),
    );
    expect(web.TaskTemplate.Placement.Constraints ?? []).toEqual([]);
    expect(web.TaskTemplate.Networks).toHaveLength(2);
    expect(web.TaskTemplate.ContainerSpec.Hosts).toEqual(['127.0.0.1 metadata.internal']);
    expect(web.TaskTemplate.Resources.Limits.MemoryBytes).toBe(256 * 1024 * 1024);
    const worker = inspect('kvs-worker');
    expect(worker.TaskTemplate.ContainerSpec.User).toBe('65534:65534');
    expect(worker.TaskTemplate.ContainerSpec.Image).toMatch(
      new RegExp(`^${lab.registry}/apps/kvs\\.worker:id-[0-9a-f]{12}@sha256:[0-9a-f]{64}$`),
    );
    const ps = JSON.parse((await server.ok(['ps', app, '--json'])).stdout) as { process: string }[];
    expect(ps.map((i) => i.process).sort()).toEqual(['db', 'web', 'worker']);
    const logs = (await server.ok(['logs', app, '-n', '20'])).stdout;
    expect(logs).toMatch(/kvs-worker: .*tick/);

    // Only the web changes: pushed under load, its tasks start-first; the db's task is kept.
    const dbTask = () =>
      lab.docker(a, 'service', 'ps', 'kvs-db', '-q', '--filter', 'desired-state=running').trim();
    const dbBefore = dbTask();
    repo.write({ 'web/www/index.html': 'web v2\n' });
    repo.commit('v2');
    const load = await underLoad(server, 'kvs.goku.test', async () => {
      const p = await repo.push();
      expect(p.code, p.stderr).toBe(0);
      expect(p.stderr).toContain('Unchanged, kept running: db, worker');
      return p;
    });
    console.log(`swarm compose push under load: ${load.ok} ok, ${load.failed} failed`);
    expect(load.failed).toBe(0);
    expect((await get()).body).toBe('web v2\n');
    expect(dbTask()).toBe(dbBefore);
    expect((await get('/cgi-bin/kv?k=a')).body).toBe('one\n');

    // A one-shot the web waits for (service_completed_successfully) runs as a Swarm job.
    const withMigrate = files['compose.yaml']
      ?.replace(
        '      db:\n        condition: service_healthy\n',
        '      db:\n        condition: service_healthy\n      migrate:\n        condition: service_completed_successfully\n',
      )
      .replace(
        '\nvolumes:\n',
        // A function: a replacement string would turn $$ into $.
        () =>
          '\n  migrate:\n    image: goku-test/busybox:1\n    command: ["sh", "-c", "echo migrating on $$(hostname); exit $${MIGRATE_EXIT:-0}"]\n\nvolumes:\n',
      );
    expect(withMigrate).toContain('service_completed_successfully');
    repo.write({ 'compose.yaml': withMigrate as string });
    repo.commit('migrate');
    const m = await repo.push();
    expect(m.code, m.stderr).toBe(0);
    expect(m.stderr).toContain('migrate completed successfully');
    expect(m.stderr.indexOf('migrate completed successfully')).toBeLessThan(
      m.stderr.indexOf('Swarm service kvs ('),
    );
    // The job goes once the deploy settled; ps shows what runs.
    await eventually(
      async () => lab.docker(a, 'service', 'ls', '--format', '{{.Name}}'),
      (names) => !names.includes('kvs-migrate'),
      20_000,
    );

    // It fails: the config change is refused with the job's reason, and what ran keeps serving.
    const bad = await server.cli(['config:set', app, 'MIGRATE_EXIT=3']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/migrate failed \(task: non-zero exit \(3\)\)/);
    expect(bad.stdout + bad.stderr).toContain('migrating on');
    await eventually(
      () => get('/cgi-bin/kv?k=a'),
      (x) => x.body === 'one\n',
      30_000,
    );
    expect((await get()).body).toBe('web v2\n');
    expect((await server.ok(['config', app])).stdout).not.toContain('MIGRATE_EXIT');

    // apps:destroy takes every service and overlay of it away.
    await server.ok(['apps:destroy', app, '--force']);
    expect(lab.docker(a, 'service', 'ls', '--format', '{{.Name}}')).not.toMatch(/^kvs/m);
    await eventually(
      async () => lab.docker(a, 'network', 'ls', '--format', '{{.Name}}'),
      (names) => !/^kvs_/m.test(names),
      20_000,
    );
  });

  it("a certificate added on the manager's goku is served by the worker's goku too, through the shared store", async () => {
    const ca = new TestCa(server.tmp);
    const host = 'swarmy.goku.test';
    const leaf = ca.leaf([host]);
    await server.ok(['certs:add', 'swarmy'], leaf.cert + ca.cert + leaf.key);
    for (const g of [server, follower]) {
      const got = await eventually(
        () => httpsGet(g.httpsPort, host, '/cgi-bin/index.cgi', ca.cert).catch(() => null),
        (x) => x?.authorized === true && x.status === 200,
        20_000,
      );
      expect(got?.peer.cn).toBe(host);
    }
    // The bundle (its key) travels in Consul, as the config does; no command shows it.
    expect(consul.keys('goku/apps/swarmy/certs/')).toHaveLength(1);
    expect((await server.ok(['certs', 'swarmy', '--json'])).stdout).not.toContain('PRIVATE KEY');
    // certs:remove: gone from the store, and the worker's goku presents its default again.
    await server.ok(['certs:remove', 'swarmy']);
    expect(consul.keys('goku/apps/swarmy/certs/')).toEqual([]);
    await eventually(
      () => httpsGet(follower.httpsPort, host).catch(() => null),
      (x) => x?.peer.cn === 'goku default certificate',
      20_000,
    );
  });

  it('refused with one line: a worker engine, no GOKU_NGINX_IMAGE, GOKU_NGINX=system', async () => {
    const start = (env: Record<string, string>) =>
      run(GOKU_BIN, ['server'], {
        env: { GOKU_HOME: join(server.tmp, 'other'), GOKU_SCHEDULER: 'swarm', ...env },
      });
    for (const [env, msg] of [
      [
        { DOCKER_HOST: b.host, GOKU_NGINX_IMAGE: image },
        /this Docker engine is a swarm worker; its goku serves the cluster's apps from the shared store: set GOKU_CONSUL_URL/,
      ],
      [{ DOCKER_HOST: a.host }, /GOKU_SCHEDULER=swarm needs GOKU_NGINX_IMAGE/],
      [{ DOCKER_HOST: a.host, GOKU_NGINX_IMAGE: image, GOKU_NGINX: 'system' }, /needs GOKU_NGINX=managed/],
    ] as const) {
      const r = await start(env);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(msg);
    }
  });

  it('ports:add and proxy:ports-add publish ports through the edge to the tasks on the overlay; UDP is refused', async () => {
    const [tcp, extra, udp] = [await freePort(), await freePort(), await freePort()];
    // TCP: the edge listens on the machine's port and passes connections on over a unix socket.
    await server.ok(['ports:add', 'swarmy', `${tcp}:8000`]);
    const seen = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const r = await rawGet(tcp, '/cgi-bin/index.cgi');
      expect(r.status).toBe(200);
      seen.add(nodeOf(r.body.trim()) ?? 'unknown');
    }
    expect([...seen].sort()).toEqual([a.ns, b.ns].sort());
    // An extra HTTP port routes by host name, as the proxy port does.
    await server.ok(['proxy:ports-add', 'swarmy', `http:${extra}:8000`]);
    expect((await httpGet(extra, 'swarmy.goku.test', '/cgi-bin/index.cgi')).status).toBe(200);
    expect((await httpGet(extra, 'nobody.goku.test')).status).toBe(404);
    // A push moves the tasks; the published port follows them and keeps answering.
    await server.ok(['ps:restart', 'swarmy']);
    expect((await rawGet(tcp, '/cgi-bin/index.cgi')).status).toBe(200);

    const refused = await server.cli(['ports:add', 'swarmy', `${udp}:8000/udp`]);
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/^error: UDP ports are not published with GOKU_SCHEDULER=swarm/);

    await server.ok(['ports:remove', 'swarmy', String(tcp)]);
    await server.ok(['proxy:ports-remove', 'swarmy', String(extra)]);
    await eventually(
      () =>
        rawGet(tcp, '/').then(
          () => 'open',
          () => 'closed',
        ),
      (x) => x === 'closed',
      10_000,
    );
    // Added again: the routes nginx's socket of before does not stand in the way.
    await server.ok(['ports:add', 'swarmy', `${tcp}:8000`]);
    expect((await rawGet(tcp, '/cgi-bin/index.cgi')).status).toBe(200);
    await server.ok(['ports:remove', 'swarmy', String(tcp)]);
  });

  it("a node's engine dies: its tasks come back on the other, and the app keeps answering", async () => {
    await eventually(
      async () => lab.docker(b, 'ps', '--filter', 'label=goku.app=swarmy', '-q'),
      (ids) => ids.length > 0,
      20_000,
    ).catch((err) => {
      console.log(lab.docker(a, 'service', 'ps', 'swarmy'), lab.docker(b, 'ps', '-a'));
      throw err;
    });
    await lab.killEngine(b);
    // Swarm marks the node down after its heartbeats stop, then starts its tasks on the other.
    await eventually(
      async () => lab.docker(a, 'node', 'ls', '--format', '{{.Hostname}} {{.Status}}'),
      (out) => out.includes('Down'),
      60_000,
    );
    await eventually(
      async () => lab.docker(a, 'ps', '--filter', 'label=goku.app=swarmy', '-q').split('\n').filter(Boolean),
      (ids) => ids.length === 4,
      60_000,
    );
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const r = await httpGet(server.proxyPort, 'swarmy.goku.test', '/cgi-bin/index.cgi');
      expect(r.status).toBe(200);
      seen.add(nodeOf(r.body.trim()) ?? 'unknown');
    }
    expect([...seen]).toEqual([a.ns]);
  });
});
