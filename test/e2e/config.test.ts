import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AppRepo,
  eventually,
  GokuServer,
  httpdApp,
  type SshKey,
  sshRun,
  uniquePrefix,
} from '../helpers/goku.js';

// App config: stored exactly, reaching every deployment through a zero-downtime restart that
// is recorded as a release; bad input changes nothing.
describe('config commands', () => {
  const server = new GokuServer();
  const p = uniquePrefix();
  const app = `${p}-cfg`;
  let key: SshKey;

  /** The env the running container of a deployment actually has. */
  const containerEnv = async (deployment: string) => {
    // After a change returns, the old containers are retired and the new ones renamed: wait for that.
    const all = await eventually(
      async () => server.containers(app),
      (cs) => cs.length === 2 && !cs.some((x) => x.name.includes('--')),
    );
    const c = all.find((x) => x.name === deployment);
    const env = JSON.parse(
      execFileSync('docker', ['inspect', '-f', '{{json .Config.Env}}', c?.id as string]).toString(),
    ) as string[];
    return Object.fromEntries(env.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  };
  const ssh = (command: string) => sshRun(server, key, command);

  beforeAll(async () => {
    key = await server.startWithKey();
    expect((await server.cli(['keys:remove', 'dev'])).code).toBe(0);
    expect((await server.cli(['keys:add', 'dev', '--admin'], key.pub)).code).toBe(0);
    const repo = new AppRepo(server.tmp, app, server, key);
    await repo.deploy(httpdApp('cfg'), 'v1');
    expect((await repo.push('master:dev')).code).toBe(0);
  });
  afterAll(async () => {
    await server.cleanup();
  });

  const tricky = 'a b = "c" \'d\'\nsecond line ünïcödé ✓ $HOME';

  it('config:set keeps values exactly and restarts every deployment as a release', async () => {
    const before = server.containers(app).map((c) => c.id);
    const r = await server.cli([
      'config:set',
      app,
      `TRICKY=${tricky}`,
      'EMPTY=',
      'URL=postgres://u:p@h/db?x=1',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`=====> ${app} runs the new config`);
    for (const d of [app, `${app}-dev`]) {
      const env = await containerEnv(d);
      expect(env.TRICKY).toBe(tricky);
      expect(env.EMPTY).toBe('');
      expect(env.URL).toBe('postgres://u:p@h/db?x=1');
    }
    expect(
      server
        .containers(app)
        .map((c) => c.id)
        .some((id) => before.includes(id)),
    ).toBe(false);
    expect((await server.cli(['config:get', app, 'TRICKY'])).stdout).toBe(`${tricky}\n`);
    expect(JSON.parse((await server.cli(['config', app, '--json'])).stdout)).toEqual({
      EMPTY: '',
      TRICKY: tricky,
      URL: 'postgres://u:p@h/db?x=1',
    });
    const releases = JSON.parse((await server.cli(['releases', app, '--json'])).stdout);
    expect(releases.slice(0, 2).map((x: { kind: string; status: string }) => [x.kind, x.status])).toEqual([
      ['config', 'succeeded'],
      ['config', 'succeeded'],
    ]);
    // Values stay out of goku's own log and of the release's text view.
    expect(server.log).not.toContain('second line');
    const info = await server.cli(['releases:info', app, `v${releases[0].version}`]);
    expect(info.stdout).toContain('Config keys: EMPTY, TRICKY, URL');
    expect(info.stdout).not.toContain('postgres://');
  });

  it('over ssh too, with quoting; config:unset; --no-restart only stores', async () => {
    const r = await ssh(`config:set ${app} 'GREETING=hello world' MODE=prod`);
    expect(r.code, r.stderr).toBe(0);
    expect((await containerEnv(app)).GREETING).toBe('hello world');
    const ids = server
      .containers(app)
      .map((c) => c.id)
      .sort();
    const quiet = await server.cli(['config:set', app, 'LATER=1', '--no-restart']);
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stdout).toContain('takes effect at the next deploy or restart');
    expect(
      server
        .containers(app)
        .map((c) => c.id)
        .sort(),
    ).toEqual(ids);
    expect((await containerEnv(app)).LATER).toBeUndefined();
    const un = await server.cli(['config:unset', app, 'MODE', 'TRICKY']);
    expect(un.code, un.stderr).toBe(0);
    const env = await containerEnv(app);
    expect(env.MODE).toBeUndefined();
    expect(env.TRICKY).toBeUndefined();
    expect(env.LATER).toBe('1');
    expect(env.GREETING).toBe('hello world');
  });

  it('a config the app cannot start with is refused and changes nothing', async () => {
    const picky = `${p}-picky`;
    const repo = new AppRepo(server.tmp, picky, server, key);
    repo.write({
      Dockerfile:
        'FROM goku-test/busybox:1\nRUN mkdir /www && echo picky > /www/index.html\nEXPOSE 8000\nCMD ["sh", "-c", "[ -z \\"$BREAK\\" ] || { echo refusing BREAK; exit 1; }; exec httpd -f -p 8000 -h /www"]\n',
    });
    repo.commit('picky');
    expect((await repo.push()).code).toBe(0);
    const before = await eventually(
      async () => server.containers(picky),
      (cs) => cs.length === 1 && cs[0]?.name === picky,
    );
    const r = await server.cli(['config:set', picky, 'BREAK=1']);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toContain('refusing BREAK');
    expect(r.stderr).toMatch(/^error: the container exited during start/);
    expect(JSON.parse((await server.cli(['config', picky, '--json'])).stdout)).toEqual({});
    expect(server.containers(picky).map((c) => c.id)).toEqual(before.map((c) => c.id));
    expect((await server.get(`${picky}.${server.domain}`)).body).toBe('picky\n');
    const [last] = JSON.parse((await server.cli(['releases', picky, '--json'])).stdout);
    expect(last).toMatchObject({ kind: 'config', status: 'failed', config: {} });
  });

  it('a config over 64 KiB in all is refused up front; up to it, Docker takes it', async () => {
    const big = `${p}-big`;
    const repo = new AppRepo(server.tmp, big, server, key);
    await repo.deploy(httpdApp('big'), 'big');
    const v = (c: string) => c.repeat(31 * 1024);
    const ok = await server.cli(['config:set', big, `A=${v('a')}`, `B=${v('b')}`]);
    expect(ok.code, ok.stderr).toBe(0);
    const env = await eventually(
      async () => server.containerEnv(big, big),
      (e) => e.B !== undefined,
    );
    expect(env.A).toBe(v('a'));
    const releases = (await server.cli(['releases', big, '--json'])).stdout;
    const store = () => execFileSync('du', ['-sb', server.home]).toString().split('\t')[0];
    const sizeBefore = Number(store());
    const many = Array.from({ length: 20 }, (_, i) => `K${i}=${'x'.repeat(30 * 1024)}`);
    for (const args of [[`C=${v('c')}`], many]) {
      const r = await server.cli(['config:set', big, ...args]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/^error: the config would be [\d.]+ KiB, over the 64 KiB an app may have/);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect((await server.cli(['releases', big, '--json'])).stdout).toBe(releases);
    expect(Number(store())).toBeLessThan(sizeBefore + 64 * 1024);
    expect((await server.get(`${big}.${server.domain}`)).body).toBe('big\n');
  });

  it("Dokku's config commands: config:show, config:keys, config:export (eval'd by sh), config:set --encoded", async () => {
    const enc = Buffer.from(tricky).toString('base64');
    const set = await server.cli(['config:set', app, `ENC=${enc}`, '--encoded', '--no-restart']);
    expect(set.code, set.stderr).toBe(0);
    expect((await server.cli(['config:get', app, 'ENC'])).stdout).toBe(`${tricky}\n`);
    const show = await server.cli(['config:show', app]);
    expect(show.stdout).toBe((await server.cli(['config', app])).stdout);
    const keys = await server.cli(['config:keys', app]);
    expect(keys.stdout).toBe(
      `${Object.keys(JSON.parse((await server.cli(['config', app, '--json'])).stdout))
        .sort()
        .join('\n')}\n`,
    );
    const exported = await server.cli(['config:export', app]);
    expect(exported.code, exported.stderr).toBe(0);
    // A shell reads every value back exactly, $HOME and quotes included.
    const back = execFileSync('sh', ['-c', `${exported.stdout}\nprintf %s "$ENC"`], { env: {} }).toString();
    expect(back).toBe(tricky);
    for (const bad of ['not base64!', 'QQ=Q', '/w==']) {
      const r = await server.cli(['config:set', app, `ENC=${bad}`, '--encoded']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/the value of ENC (is not base64|decodes to bytes that are not UTF-8)/);
    }
    expect((await server.cli(['config:get', app, 'ENC'])).stdout).toBe(`${tricky}\n`);
    expect((await server.cli(['config:unset', app, 'ENC', '--no-restart'])).code).toBe(0);
  });

  it('refuses bad keys, missing =, unknown apps and huge values, changing nothing', async () => {
    const before = (await server.cli(['config', app, '--json'])).stdout;
    const ids = server
      .containers(app)
      .map((c) => c.id)
      .sort();
    const refuse = async (args: string[], msg: RegExp) => {
      const r = await server.cli(args);
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(msg);
    };
    await refuse(['config:set', app, '1BAD=x'], /invalid config key "1BAD"/);
    await refuse(['config:set', app, 'A-B=x'], /invalid config key "A-B"/);
    await refuse(['config:set', app, '=x'], /invalid config key ""/);
    await refuse(['config:set', app, 'GOOD=1', 'NOEQUALS'], /"NOEQUALS" has no '=': use KEY=VALUE/);
    await refuse(['config:set', app, `BIG=${'x'.repeat(33 * 1024)}`], /the value of BIG is over 32 KiB/);
    await refuse(['config:set', `${p}-nope`, 'A=1'], /app .*-nope does not exist/);
    await refuse(['config:set', app], /missing argument; usage: goku config:set/);
    await refuse(['config:get', app, 'NOPE'], /NOPE is not set/);
    await refuse(['config:unset', app, 'A-B'], /invalid config key/);
    expect((await server.cli(['config', app, '--json'])).stdout).toBe(before);
    expect(
      server
        .containers(app)
        .map((c) => c.id)
        .sort(),
    ).toEqual(ids);
  });
});
