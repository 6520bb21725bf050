import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AppRepo,
  GokuServer,
  httpdApp,
  makeKey,
  run,
  type SshKey,
  sshRun,
  uniquePrefix,
} from '../helpers/goku.js';

// The ssh endpoint with the real OpenSSH client: who may in, what may run, and keys:* commands.
describe('ssh server', () => {
  const server = new GokuServer();
  const p = uniquePrefix();
  let admin: SshKey;
  let deploy: SshKey;
  let stranger: SshKey;

  const ssh = (key: SshKey, command: string, input = '', extra: string[] = []) =>
    sshRun(server, key, command, input, extra);

  beforeAll(async () => {
    await server.start();
    admin = makeKey(server.tmp, 'admin');
    deploy = makeKey(server.tmp, 'deploy');
    stranger = makeKey(server.tmp, 'stranger');
    expect((await server.cli(['keys:add', 'admin', '--admin'], admin.pub)).code).toBe(0);
    expect((await server.cli(['keys:add', 'deploy'], deploy.pub)).code).toBe(0);
  });
  afterAll(async () => {
    await server.cleanup();
  });

  const reposDir = () => join(server.home, 'repos');
  const repoCount = () => (existsSync(reposDir()) ? readdirSync(reposDir()).length : 0);

  it('refuses an unknown key before git runs', async () => {
    const repo = new AppRepo(server.tmp, `${p}-x`, server, stranger);
    repo.write(httpdApp('x'));
    repo.commit('x');
    const before = repoCount();
    const r = await repo.push();
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('Permission denied (publickey)');
    expect(repoCount()).toBe(before);
  });

  it('offers only publickey: password and keyboard-interactive are refused', async () => {
    const r = await ssh(stranger, 'git-receive-pack x', '', [
      '-o',
      'PreferredAuthentications=password,keyboard-interactive',
      '-o',
      'PubkeyAuthentication=no',
    ]);
    expect(r.code).toBe(255);
    expect(r.stderr).toContain('Permission denied (publickey)');
  });

  it.each([
    ['../x'],
    ['/etc/passwd'],
    ['a/b'],
    ['UPPER'],
    ['-x'],
    ["it's"],
    ['a;b'],
    ['a b'],
    ['x'.repeat(80)],
    ['..'],
  ])('refuses the repository path %j without creating anything', async (path) => {
    const before = repoCount();
    const quoted = `'${path.replace(/'/g, `'\\''`)}'`;
    const r = await ssh(deploy, `git-receive-pack ${quoted}`);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^error: invalid repository/);
    expect(repoCount()).toBe(before);
  });

  it.each([
    ['ls -la'],
    ['rm -rf /'],
    ['sh -c id'],
    ['git-receive-pack x; id'],
    ['scp -t /tmp'],
    ['keys:list'],
  ])('refuses %j from a deploy key with one clear line', async (command) => {
    const r = await ssh(deploy, command);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^error: /);
  });

  it('lets the deploy key push and clone; clone gets what was pushed', async () => {
    const app = `${p}-clone`;
    const repo = new AppRepo(server.tmp, app, server, deploy);
    repo.write({ 'README.md': 'hi\n' });
    const sha = repo.commit('one');
    expect((await repo.push()).code).toBe(0);
    const dest = join(server.tmp, 'cloned');
    const r = await run('git', ['clone', `ssh://git@127.0.0.1:${server.sshPort}/${app}.git`, dest], {
      env: { GIT_SSH_COMMAND: repo.sshCommand() },
    });
    expect(r.code, r.stderr).toBe(0);
    const head = await run('git', ['rev-parse', 'HEAD'], { cwd: dest });
    expect(head.stdout.trim()).toBe(sha);
    // Fetching an app that does not exist is a clear error, not a new repo.
    const missing = await run(
      'git',
      ['clone', `ssh://git@127.0.0.1:${server.sshPort}/${p}-nope`, join(server.tmp, 'n')],
      {
        env: { GIT_SSH_COMMAND: repo.sshCommand() },
      },
    );
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain(`error: app ${p}-nope does not exist`);
  });

  it('the hook refuses a push that bypasses the goku ssh server', async () => {
    const app = `${p}-bypass`;
    const repo = new AppRepo(server.tmp, app, server, deploy);
    repo.write({ 'README.md': 'one\n' });
    const sha = repo.commit('one');
    expect((await repo.push()).code).toBe(0);
    repo.write({ 'README.md': 'two\n' });
    repo.commit('two');
    const direct = await run('git', ['push', join(reposDir(), `${app}.git`), 'master'], { cwd: repo.dir });
    expect(direct.code).not.toBe(0);
    expect(direct.stderr).toContain('push refused: pushes must go through the goku ssh server');
    expect(await repo.remoteRef('master')).toBe(sha);
  });

  it('accepts the git@host:app form and a trailing .git', async () => {
    const app = `${p}-scp`;
    const repo = new AppRepo(server.tmp, app, server, deploy);
    repo.write({ 'README.md': 'scp form\n' });
    repo.commit('one');
    const r = await run('git', ['push', `git@127.0.0.1:${app}.git`, 'master'], {
      cwd: repo.dir,
      env: { GIT_SSH_COMMAND: `${repo.sshCommand()} -p ${server.sshPort}` },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(reposDir(), `${app}.git`))).toBe(true);
  });

  it('runs keys commands for an admin key over ssh, with stdin passed through', async () => {
    const list = await ssh(admin, 'keys:list --json');
    expect(list.code, list.stderr).toBe(0);
    const keys = JSON.parse(list.stdout) as { name: string; role: string; fingerprint: string }[];
    expect(keys.map((k) => [k.name, k.role])).toEqual([
      ['admin', 'admin'],
      ['deploy', 'deploy'],
    ]);
    const fp = await run('ssh-keygen', ['-lf', `${admin.priv}.pub`]);
    expect(fp.stdout).toContain(keys[0]?.fingerprint);

    const added = await ssh(admin, 'keys:add laptop', stranger.pub);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toContain('Added deploy key laptop');
    const removed = await ssh(admin, 'keys:remove laptop');
    expect(removed.code).toBe(0);
  });

  it('keys:add refuses malformed keys, private keys, duplicate names and duplicate keys', async () => {
    const cases: [string[], string, RegExp][] = [
      [['keys:add', 'a'], 'not a key', /^error: invalid public key/],
      [['keys:add', 'a'], '', /^error: invalid public key: nothing on stdin/],
      [['keys:add', 'a'], 'ssh-ed25519 AAAAnotbase64!!', /^error: invalid public key/],
      [
        ['keys:add', 'a'],
        readFileSync(stranger.priv, 'utf8'),
        /^error: that is a private key: keep it secret/,
      ],
      [['keys:add', 'admin'], stranger.pub, /^error: a key named admin already exists/],
      [['keys:add', 'again'], admin.pub, /^error: this key is already stored as admin/],
      [['keys:add', 'bad name'], stranger.pub, /^error: invalid key name/],
      [['keys:add'], stranger.pub, /^error: missing argument; usage: goku keys:add/],
      [['keys:remove', 'nobody'], '', /^error: no key named "nobody"/],
    ];
    for (const [args, input, msg] of cases) {
      const r = await server.cli(args, input);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    const list = JSON.parse((await server.cli(['keys:list', '--json'])).stdout) as unknown[];
    expect(list).toHaveLength(2);
  });

  it('a removed key can no longer push', async () => {
    const temp = makeKey(server.tmp, 'temp');
    expect((await server.cli(['keys:add', 'temp'], temp.pub)).code).toBe(0);
    expect((await server.cli(['keys:remove', 'temp'])).code).toBe(0);
    const repo = new AppRepo(server.tmp, `${p}-gone`, server, temp);
    repo.write({ 'README.md': 'x' });
    repo.commit('x');
    const r = await repo.push();
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('Permission denied (publickey)');
  });

  it('keeps its host key across restarts', async () => {
    const scan = async () => (await run('ssh-keyscan', ['-p', String(server.sshPort), '127.0.0.1'])).stdout;
    const before = await scan();
    expect(before).toContain('ssh-ed25519');
    await server.stop();
    await server.start();
    expect(await scan()).toBe(before);
  });
});
