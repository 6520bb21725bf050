import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeConsul } from '../helpers/consul-fake.js';
import {
  AppRepo,
  eventually,
  freePort,
  GokuServer,
  hostnameApp,
  type SshKey,
  uniquePrefix,
} from '../helpers/goku.js';

// goku with GOKU_CONSUL_URL: config, domains, scale and service records live in Consul.
// Consul cannot be installed on these machines; FakeConsul is an in-test server speaking
// the KV, transaction and agent-service API subset goku uses (see test/helpers/consul-fake.ts).
describe('goku on Consul', () => {
  const consul = new FakeConsul('tok3n');
  const p = uniquePrefix();
  const app = `${p}-cons`;
  let server: GokuServer;
  let key: SshKey;
  const host = () => `${app}.${server.domain}`;

  const settled = (want: string[]) => server.settled(app, want);
  const envOf = (name: string) => server.containerEnv(app, name);
  const ipOf = (name: string) =>
    execFileSync('docker', [
      'inspect',
      '-f',
      '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}',
      name,
    ])
      .toString()
      .trim();
  /** How many distinct instances answer (each one says its hostname). */
  const answering = (n: number) => server.distinctAnswers(host(), n);
  const agentServices = () =>
    [...consul.services.values()]
      .filter((s) => (s.Meta as Record<string, string>)['goku-app'] === app)
      .map((s) => `${s.ID} ${s.Service} ${s.Address}:${s.Port}`)
      .sort();

  beforeAll(async () => {
    await consul.start();
    server = new GokuServer({
      env: { GOKU_CONSUL_URL: consul.url, GOKU_CONSUL_TOKEN: 'tok3n', GOKU_MAX_SCALE: '4' },
    });
    key = await server.startWithKey();
    const repo = new AppRepo(server.tmp, app, server, key);
    repo.write(hostnameApp());
    repo.commit('v1');
    const r = await repo.push();
    expect(r.code, r.stderr).toBe(0);
  });
  afterAll(async () => {
    await server?.cleanup();
    await consul.stop();
  });

  it('keeps keys, the app and its deployment in Consul KV, and registers the deployment as a service', async () => {
    expect(JSON.parse(consul.get('goku/keys/dev') ?? '{}').name).toBe('dev');
    expect(consul.keys(`goku/apps/${app}/`)).toEqual(
      expect.arrayContaining([
        `goku/apps/${app}/app`,
        `goku/apps/${app}/domains`,
        `goku/apps/${app}/deployments/${app}`,
        `goku/apps/${app}/releases/1`,
      ]),
    );
    expect((await server.get(host())).status).toBe(200);
    await eventually(
      async () => agentServices(),
      (s) => s.length === 1,
    );
    expect(agentServices()).toEqual([`${app} ${app} ${ipOf(app)}:8000`]);
    expect(consul.services.get(app)?.Tags).toEqual(expect.arrayContaining(['goku', `goku-app=${app}`]));
    const info = await server.cli(['apps:info', app]);
    expect(info.stdout).toContain(`Services:   ${app} ${ipOf(app)}:8000`);
  });

  it('config:set, domains:add and ps:scale write the INTERFACE §6 keys and reach the app', async () => {
    const value = 'hello = "world"\nline two ✓';
    let r = await server.cli(['config:set', app, `GREETING=${value}`]);
    expect(r.code, r.stderr).toBe(0);
    expect(consul.get(`goku/apps/${app}/env/GREETING`)).toBe(value);
    await settled([app]);
    expect(envOf(app).GREETING).toBe(value);

    r = await server.cli(['domains:add', app, `www.${p}.example.com`]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(consul.get(`goku/apps/${app}/domains`) ?? '')).toEqual([`www.${p}.example.com`]);
    expect((await server.get(`www.${p}.example.com`)).status).toBe(200);

    r = await server.cli(['ps:scale', app, '3']);
    expect(r.code, r.stderr).toBe(0);
    expect(consul.get(`goku/apps/${app}/CONTAINERS`)).toBe('3');
    await settled([app, `${app}.2`, `${app}.3`]);
    expect(await answering(60)).toBe(3);
    await eventually(
      async () => agentServices(),
      (s) => s.length === 3,
    );
    expect(agentServices()).toEqual(
      [app, `${app}.2`, `${app}.3`].map((n) => `${n} ${app} ${ipOf(n)}:8000`).sort(),
    );
  });

  it('takes values put by hand (consul kv put) at the next restart', async () => {
    consul.put(`goku/apps/${app}/env/BY_HAND`, 'from the operator');
    consul.put(`goku/apps/${app}/CONTAINERS`, '2');
    await eventually(
      async () => (await server.cli(['config:get', app, 'BY_HAND'])).stdout,
      (out) => out === 'from the operator\n',
    );
    const r = await server.cli(['ps:restart', app]);
    expect(r.code, r.stderr).toBe(0);
    await settled([app, `${app}.2`]);
    expect(envOf(app).BY_HAND).toBe('from the operator');
    expect(await answering(40)).toBe(2);
    await eventually(
      async () => agentServices(),
      (s) => s.length === 2,
    );

    // A count above GOKU_MAX_SCALE written by hand is refused at the restart, nothing changes.
    consul.put(`goku/apps/${app}/CONTAINERS`, '9');
    await new Promise((res) => setTimeout(res, 500)); // the watch sees it at once
    const before = server.containers(app).map((c) => c.id);
    const bad = await server.cli(['ps:restart', app]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/^error: .*9 instances, above GOKU_MAX_SCALE \(4\)/m);
    expect(server.containers(app).map((c) => c.id)).toEqual(before);
    consul.put(`goku/apps/${app}/CONTAINERS`, '2');
    // Settled before the next test takes Consul away: goku has seen the 2 (a restart passes).
    await eventually(
      () => server.cli(['ps:restart', app]),
      (r) => r.code === 0,
    );
    await eventually(
      async () => server.containers(app),
      (cs) => cs.length === 2 && !cs.some((c) => c.name.includes('--')),
    );
  });

  it('fails clearly when Consul answers 500 or is down, and the app keeps serving as it was', async () => {
    const before = server.ids(app);
    consul.failWith = 500;
    for (const args of [
      ['config:set', app, 'NEW=1'],
      ['domains:add', app, `new.${p}.example.com`],
      ['ps:scale', app, '1'],
    ]) {
      const r = await server.cli(args);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(new RegExp(`^error: Consul at ${consul.url} answered 500`));
    }
    consul.failWith = null;

    const port = consul.port;
    await consul.stop();
    const r = await server.cli(['config:set', app, 'NEW=1']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(new RegExp(`^error: Consul at ${consul.url} is unreachable`));
    expect((await server.get(host())).status).toBe(200);
    expect((await server.get(`www.${p}.example.com`)).status).toBe(200);
    await consul.start(port);

    expect(server.ids(app)).toEqual(before);
    expect(consul.get(`goku/apps/${app}/env/NEW`)).toBeUndefined();
    expect(consul.get(`goku/apps/${app}/CONTAINERS`)).toBe('2');
    expect(envOf(app).NEW).toBeUndefined();
    // Back up: the next change goes through.
    const ok = await server.cli(['config:set', app, 'NEW=2']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(consul.get(`goku/apps/${app}/env/NEW`)).toBe('2');
  });

  it('a goku restart serves everything from Consul without a redeploy', async () => {
    await settled([app, `${app}.2`]);
    const ids = server.ids(app);
    await server.stop();
    await server.start();
    expect(server.ids(app)).toEqual(ids);
    expect(await answering(40)).toBe(2);
    expect((await server.get(`www.${p}.example.com`)).status).toBe(200);
    expect((await server.cli(['config:get', app, 'GREETING'])).stdout).toBe('hello = "world"\nline two ✓\n');
  });

  it('goku server refuses to start when Consul does not answer', async () => {
    const other = new GokuServer({ env: { GOKU_CONSUL_URL: `http://127.0.0.1:${await freePort()}` } });
    try {
      const err = await other.start().catch((e: Error) => e);
      expect(String(err)).toMatch(/GOKU_CONSUL_URL: Consul at http:\/\/127\.0\.0\.1:\d+ is unreachable/);
    } finally {
      await other.cleanup();
    }
  });

  it('apps:destroy removes the app from Consul KV and its services', async () => {
    const r = await server.cli(['apps:destroy', app, '--force']);
    expect(r.code, r.stderr).toBe(0);
    expect(consul.keys(`goku/apps/${app}/`)).toEqual([]);
    await eventually(
      async () => agentServices(),
      (s) => s.length === 0,
    );
  });
});
