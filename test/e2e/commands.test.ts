import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AppRepo,
  eventually,
  freePort,
  GOKU_BIN,
  GokuServer,
  httpGet,
  makeKey,
  type RunResult,
  run,
  type SshKey,
  sshArgs,
  sshRun,
  underLoad,
  uniquePrefix,
} from '../helpers/goku.js';

// Every operating command, run as a user does: `goku ...` on the server and
// `ssh -p PORT git@HOST ...` with an admin key, against a server with a pushed app.
describe('app, process and log commands, locally and over ssh', () => {
  const server = new GokuServer();
  const p = uniquePrefix();
  const app = `${p}-cmd`;
  let admin: SshKey;
  let deploy: SshKey;

  const ssh = (key: SshKey, command: string, input = '') => sshRun(server, key, command, input);
  /** The same command both ways; both results are returned for the caller to check. */
  const both = async (args: string[]): Promise<[RunResult, RunResult]> => [
    await server.cli(args),
    await ssh(admin, args.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ')),
  ];
  const expectError = (r: RunResult, msg: RegExp) => {
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^error: /);
    expect(r.stderr).toMatch(msg);
  };

  beforeAll(async () => {
    admin = await server.startWithKey('admin');
    expect((await server.cli(['keys:remove', 'admin'])).code).toBe(0);
    expect((await server.cli(['keys:add', 'admin', '--admin'], admin.pub)).code).toBe(0);
    deploy = makeKey(server.tmp, 'deploy');
    expect((await server.cli(['keys:add', 'deploy'], deploy.pub)).code).toBe(0);
    const repo = new AppRepo(server.tmp, app, server, admin);
    // httpd goes to the background; the loop writes a numbered line to stdout every 0.3 s.
    repo.write({
      Dockerfile:
        'FROM goku-test/busybox:1\nRUN mkdir /www && echo cmd > /www/index.html\nEXPOSE 8000\nCMD ["sh", "-c", "httpd -p 8000 -h /www; i=0; while true; i=$((i+1)); do echo tick $i; sleep 0.3; done"]\n',
    });
    repo.commit('v1');
    const r = await repo.push();
    expect(r.code, r.stderr).toBe(0);
    await eventually(
      async () => server.containers(app).map((c) => c.name),
      (names) => names.length === 1 && names[0] === app,
    );
  });
  afterAll(async () => {
    await server.cleanup();
  });

  it('with --json, an error is JSON with its stable code, locally and over ssh', async () => {
    for (const r of await both(['apps:info', `${app}-nope`, '--json'])) {
      expect(r.code).toBe(1);
      expect(JSON.parse(r.stderr)).toEqual({
        message: `app ${app}-nope does not exist; see goku apps`,
        code: 'GOKU_ERR_APP_NOT_FOUND',
      });
    }
    for (const r of await both(['ps:scale', app, 'many', '--json'])) {
      expect(r.code).toBe(2);
      expect(JSON.parse(r.stderr).code).toBe('GOKU_ERR_USAGE');
    }
  });

  it("Dokku's names and small commands: apps:list, url", async () => {
    for (const r of await both(['apps:list'])) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(app);
    }
    const [local] = await both(['apps']);
    expect((await server.cli(['apps:list'])).stdout).toBe(local.stdout);
    for (const r of await both(['url', app])) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(`http://${app}.${server.domain}:${server.proxyPort}/\n`);
    }
    expect((await httpGet(server.proxyPort, `${app}.${server.domain}`)).body).toBe('cmd\n');
    expect((await server.cli(['help', 'apps:list'])).stdout).toContain('Usage: goku apps [--json]');
    const made = await server.cli(['apps:create', `${p}-nourl`]);
    expect(made.code, made.stderr).toBe(0);
    expectError(
      await server.cli(['url', `${p}-nourl`]),
      /app .*-nourl has no default deployment yet; push it first/,
    );
    expect((await server.cli(['apps:destroy', `${p}-nourl`, '--force'])).code).toBe(0);
  });

  it('apps and apps:info, in text and JSON', async () => {
    for (const r of await both(['apps'])) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(
        new RegExp(`^APP +DEFAULT BRANCH +DEPLOYMENTS\\n(.*\\n)*${app} +master +${app}\\n`),
      );
    }
    const [local, remote] = await both(['apps:info', app, '--json']);
    expect(local.stdout).toBe(remote.stdout);
    const info = JSON.parse(local.stdout);
    expect(info).toMatchObject({ name: app, defaultBranch: 'master', domains: [] });
    expect(info.deployments).toHaveLength(1);
    expect(info.deployments[0]).toMatchObject({
      name: app,
      branch: 'master',
      port: 8000,
      instances: 1,
      domains: [`${app}.${server.domain}`, `${app}-master.${server.domain}`],
    });
    expect(info.deployments[0].image).toMatch(new RegExp(`^goku/${app}:`));
    expect(info.deployments[0].release).toBe('v1');
    for (const r of await both(['apps:info', app])) {
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`=== ${app}`);
      expect(r.stdout).toContain('Instances:  1 running');
      expect(r.stdout).toContain(`Release:    ${info.deployments[0].release}`);
    }
  });

  it('apps:create makes an app that can be pushed to; refuses existing and invalid names', async () => {
    const fresh = `${p}-new`;
    const r = await server.cli(['apps:create', fresh]);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(server.home, 'repos', `${fresh}.git`))).toBe(true);
    const viaSsh = await ssh(admin, `apps:create ${p}-new2`);
    expect(viaSsh.code, viaSsh.stderr).toBe(0);
    for (const res of await both(['apps:create', fresh])) expectError(res, /app .* already exists/);
    for (const res of await both(['apps:create', 'Bad_Name'])) expectError(res, /invalid app name/);
    // A created app has no containers: logs says so.
    for (const res of await both(['logs', fresh]))
      expectError(res, /has no running containers; push it first/);
    const ps = await server.cli(['ps', fresh]);
    expect(ps.stdout).toContain('No containers');
  });

  it('ps lists the containers; --json too', async () => {
    for (const r of await both(['ps', app])) {
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(
        new RegExp(
          `^NAME +DEPLOYMENT +TYPE +STATE +STATUS +RELEASE\\n${app} +${app} +web +running +Up .* v1\\n`,
        ),
      );
    }
    const list = JSON.parse((await ssh(admin, `ps ${app} --json`)).stdout);
    expect(list).toHaveLength(1);
    // One meaning of "release": vN, as `releases` numbers them; the routing id has its own name.
    expect(list[0]).toMatchObject({ name: app, deployment: app, state: 'running', release: 'v1' });
    const [v1] = JSON.parse((await server.cli(['releases', app, '--json'])).stdout);
    expect(list[0].routeId).toBe(v1.routeId);
    expect(v1.release).toBeUndefined();
  });

  it('uses colour only on a terminal, and never with NO_COLOR', async () => {
    const esc = '\u001b[';
    const withTty = await run('ssh', ['-tt', ...sshArgs(server, admin), `ps ${app}`]);
    expect(withTty.stdout).toContain(`${esc}1mNAME`);
    expect(withTty.stdout).toContain(`${esc}32mrunning`);
    // Columns stay aligned: escapes take no room.
    const plain = stripVTControlCharacters(withTty.stdout).replace(/\r/g, '');
    const [head, row] = plain.split('\n');
    expect(head?.indexOf('STATE')).toBe(row?.indexOf('running'));
    expect(head?.indexOf('STATUS')).toBe(row?.indexOf('Up '));
    const noColor = await run('ssh', [
      '-tt',
      ...sshArgs(server, admin, ['-o', 'SetEnv=NO_COLOR=1']),
      `ps ${app}`,
    ]);
    expect(noColor.stdout).not.toContain(esc);
    const piped = await ssh(admin, `ps ${app}`);
    expect(piped.stdout).not.toContain(esc);
    expect((await server.cli(['ps', app])).stdout).not.toContain(esc);
  });

  it('logs -n shows the last lines; logs -t follows until the client goes away', async () => {
    for (const r of await both(['logs', app, '-n', '2'])) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^tick \d+\ntick \d+\n$/);
    }
    const follow = async (cmd: string, args: string[]) => {
      const child = spawn(cmd, args, { env: { ...process.env, ...server.env() } });
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
      });
      const exited = new Promise((r) => child.on('exit', r));
      // Lines keep arriving after the command started: it follows.
      await eventually(
        async () => out.split('\n').filter((l) => l.startsWith('tick')).length,
        (n) => n >= 5,
        10000,
      );
      child.kill('SIGINT');
      await exited;
      return out;
    };
    await follow(GOKU_BIN, ['logs', app, '-t', '-n', '1']);
    await follow('ssh', [...sshArgs(server, admin), `logs ${app} -t -n 1`]);

    // Several containers (two branches of one app): each line carries its container's name.
    const multi = `${p}-multi`;
    const repo = new AppRepo(server.tmp, multi, server, admin);
    repo.write({
      // No EXPOSE: it serves on PORT (5000, Dokku's default), as goku routes it.
      Dockerfile:
        'FROM goku-test/busybox:1\nCMD ["sh", "-c", "echo hello from $HOSTNAME; exec httpd -f -p $PORT"]\n',
    });
    repo.commit('multi');
    expect((await repo.push()).code).toBe(0);
    expect((await repo.push('master:dev')).code).toBe(0);
    const lines = await eventually(
      async () => (await server.cli(['logs', multi])).stdout.split('\n').filter(Boolean).sort(),
      // Until the rename that follows a deploy, a container still has its temporary name.
      (ls) => ls.length === 2 && !ls.some((l) => l.includes('--')),
    );
    expect(lines.filter((l) => l.startsWith(`${multi}: hello from `))).toHaveLength(1);
    expect(lines.filter((l) => l.startsWith(`${multi}-dev: hello from `))).toHaveLength(1);
  });

  it('ps:restart replaces every container without a failed request', async () => {
    const before = server.containers(app)[0]?.id;
    const {
      result: [local],
      ok,
      failed,
    } = await underLoad(server, `${app}.${server.domain}`, () => both(['ps:restart', app]));
    expect(local.code, local.stderr).toBe(0);
    expect(local.stdout).toContain(`=====> ${app} restarted`);
    expect(failed).toBe(0);
    expect(ok).toBeGreaterThan(10);
    const after = await eventually(
      async () => server.containers(app),
      (cs) => cs.length === 1 && cs[0]?.name === app,
    );
    expect(after[0]?.id).not.toBe(before);
  });

  it('ports:add publishes a container port on the host through nginx; ports, ports:remove', async () => {
    const hostPort = await freePort();
    const add = await ssh(admin, `ports:add ${app} ${hostPort}:8000`);
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toBe(`Published ${hostPort}/tcp -> ${app}:8000\n`);
    expect((await httpGet(hostPort, 'any')).body).toBe('cmd\n');
    const [l1, l2] = await both(['ports', app, '--json']);
    expect(l1.stdout).toBe(l2.stdout);
    expect(JSON.parse(l1.stdout)).toEqual([{ host: hostPort, container: 8000, proto: 'tcp' }]);
    expect((await server.cli(['ports', app])).stdout).toMatch(
      new RegExp(`^HOST +CONTAINER +PROTO\\n${hostPort} +8000 +tcp\\n$`),
    );

    // Refused: taken by another program, goku's own ports, already published, malformed.
    const squatter = net.createServer().listen(0, '127.0.0.1');
    await new Promise((r) => squatter.once('listening', r));
    const taken = (squatter.address() as net.AddressInfo).port;
    try {
      for (const r of await both(['ports:add', app, `${taken}:8000`]))
        expectError(r, /is taken by another program/);
    } finally {
      squatter.close();
    }
    for (const r of await both(['ports:add', app, `${server.sshPort}:22`]))
      expectError(r, /goku's own ssh port/);
    for (const r of await both(['ports:add', app, `${server.proxyPort}:22`]))
      expectError(r, /goku's own app proxy port/);
    for (const r of await both(['ports:add', app, `${hostPort}:8000`]))
      expectError(r, /already published by app/);
    for (const r of await both(['ports:add', app, '-1:80']))
      expectError(r, /Unknown option '-1'; usage: goku ports:add/);
    for (const spec of ['0:80', '70000:80', '80', 'a:b', '80:80/sctp', '1:2:3']) {
      for (const r of await both(['ports:add', app, spec])) expectError(r, /invalid port mapping/);
    }
    expect(JSON.parse((await server.cli(['ports', app, '--json'])).stdout)).toHaveLength(1);

    const rm = await server.cli(['ports:remove', app, String(hostPort)]);
    expect(rm.code, rm.stderr).toBe(0);
    await expect(httpGet(hostPort, 'any')).rejects.toThrow();
    for (const r of await both(['ports:remove', app, String(hostPort)]))
      expectError(r, /publishes no host port/);
    for (const r of await both(['ports:remove', app, 'abc'])) expectError(r, /invalid host port/);
  });

  it('refuses unknown commands (with a suggestion), bad arguments and unknown apps', async () => {
    for (const r of await both(['lgos', app])) expectError(r, /unknown command "lgos"; did you mean logs\?/);
    // Within the noun typed: never a command of another noun.
    for (const r of await both(['ps:sacle', app, '2']))
      expectError(r, /unknown command "ps:sacle"; did you mean ps:scale\?/);
    for (const r of await both(['ps:create', app]))
      expectError(
        r,
        /unknown command "ps:create"; ps commands: ps, ps:restart, ps:scale, ps:stop, ps:start, ps:rebuild, ps:report \(see goku help\)/,
      );
    for (const r of await both(['domain:add', app, 'x.example']))
      expectError(r, /did you mean domains:add\?/);
    for (const r of await both(['frobnicate']))
      expectError(r, /unknown command "frobnicate" \(see goku help\)/);
    for (const r of await both(['ps'])) expectError(r, /missing argument; usage: goku ps APP/);
    for (const r of await both(['ps', app, 'extra']))
      expectError(r, /too many arguments; usage: goku ps APP/);
    for (const r of await both(['ps', app, '--bogus'])) expectError(r, /Unknown option '--bogus'/);
    for (const r of await both(['logs', app, '-n', 'abc'])) expectError(r, /-n takes a number of lines/);
    for (const cmd of ['apps:info', 'ps', 'ps:restart', 'logs', 'apps:destroy', 'ports']) {
      for (const r of await both([cmd, `${p}-nope`]))
        expectError(r, new RegExp(`app ${p}-nope does not exist`));
    }
  });

  it('passes shell metacharacters as plain arguments, never to a shell', async () => {
    // Each command's nine arguments at once (126 runs one by one took 23 s).
    for (const cmd of ['apps:create', 'apps:info', 'apps:destroy', 'ps', 'ps:restart', 'logs', 'ports']) {
      const args = ['a;id', '$(id)', '`id`', 'a|b', 'a&&b', '../x', "a'b", 'a b', '*'];
      for (const r of (await Promise.all(args.map((arg) => both([cmd, arg])))).flat())
        expectError(r, /invalid app name/);
    }
    for (const r of await both(['ports:add', app, '1;id'])) expectError(r, /invalid port mapping/);
    for (const r of await both(['logs', app, '-n', '$(id)'])) expectError(r, /-n takes a number of lines/);
    expect(server.containers(app)).toHaveLength(1);
    // Unquoted operators over ssh are refused before anything runs.
    for (const cmd of [`ps ${app}; id`, `ps $(id)`, `ps ${app} | sh`, `ps ${app} > /tmp/x`]) {
      const r = await ssh(admin, cmd);
      expectError(r, /shell operators are not allowed/);
    }
  });

  it('a deploy key may not run commands', async () => {
    for (const cmd of ['apps', `ps ${app}`, `logs ${app}`, 'keys:list', `apps:destroy ${app} --force`]) {
      expectError(await ssh(deploy, cmd), /is a deploy key: it may git push and fetch only/);
    }
    expectError(await ssh(deploy, 'keys:add x', admin.pub), /is a deploy key/);
    expect(server.containers(app)).toHaveLength(1);
  });

  it('help, help COMMAND and --version, the same both ways', async () => {
    const [h1, h2] = await both(['help']);
    expect(h1.stdout).toBe(h2.stdout);
    for (const c of [
      'keys:add',
      'apps:create',
      'apps:info',
      'apps:destroy',
      'ps',
      'ps:restart',
      'logs',
      'ports',
      'ports:add',
      'ports:remove',
    ]) {
      expect(h1.stdout).toContain(`  ${c} `);
    }
    const [c1, c2] = await both(['help', 'logs']);
    expect(c1.stdout).toBe(c2.stdout);
    expect(c1.stdout).toMatch(/^Usage: goku logs APP \[-t\] \[-n LINES\]/);
    const [v1, v2] = await both(['--version']);
    expect(v1.stdout).toMatch(/^goku \d+\.\d+\.\d+\n$/);
    expect(v2.stdout).toBe(v1.stdout);
    expectError(await server.cli(['help', 'nope']), /unknown command "nope"/);
  });

  it('apps:destroy needs --force, then removes containers, images, repo, routes and records', async () => {
    for (const r of await both(['apps:destroy', app])) expectError(r, /run again with --force/);
    expect(server.containers(app)).toHaveLength(1);
    expect((await server.get(`${app}.${server.domain}`)).status).toBe(200);

    const r = await ssh(admin, `apps:destroy ${app} --force`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`=====> ${app} destroyed`);
    expect(server.containers(app)).toHaveLength(0);
    expect(server.images(app)).toHaveLength(0);
    expect(existsSync(join(server.home, 'repos', `${app}.git`))).toBe(false);
    expect((await server.get(`${app}.${server.domain}`)).status).toBe(404);
    expect((await server.cli(['apps'])).stdout).not.toContain(`${app} `);
  });
});
