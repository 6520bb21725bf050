import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppRepo, GokuServer, httpdApp, type SshKey, uniquePrefix } from '../helpers/goku.js';

// Whoever holds a deploy key controls the pushed tree: goku reads what it needs from git's
// objects, never through a link, and bounds what a tree may cost.
describe('a hostile pushed tree', () => {
  const server = new GokuServer({
    env: { GOKU_MAX_TREE_BYTES: String(4 * 1024 * 1024), GOKU_MAX_PUSH_BYTES: String(1024 * 1024) },
  });
  const p = uniquePrefix();
  const app = `${p}-tree`;
  let key: SshKey;
  let repo: AppRepo;
  let goodSha = '';
  let token = '';

  beforeAll(async () => {
    key = await server.startWithKey();
    token = readFileSync(join(server.home, 'admin-token'), 'utf8').trim();
    repo = new AppRepo(server.tmp, app, server, key);
    repo.write(httpdApp('good'));
    goodSha = repo.commit('good');
    expect((await repo.push()).code).toBe(0);
  });
  afterAll(async () => {
    await server.cleanup();
  });

  const git = (args: string[], input?: string) =>
    execFileSync('git', args, { cwd: repo.dir, input }).toString().trim();

  async function expectRefused(message: RegExp, refspec = 'master'): Promise<string> {
    const r = await repo.push(refspec);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('(pre-receive hook declined)');
    expect(r.stderr).toMatch(message);
    expect(await repo.remoteRef('master')).toBe(goodSha);
    expect((await server.get(`${app}.${server.domain}`)).body).toBe('good\n');
    git(['reset', '-q', '--hard', goodSha]);
    return r.stderr;
  }

  for (const [file, target] of [
    ['CNAME', '/etc/passwd'],
    ['CNAME', 'ADMIN_TOKEN'],
    ['app.json', '/etc/passwd'],
    ['Dockerfile', '/etc/passwd'],
    ['.dockerignore', '/proc/self/environ'],
  ] as const) {
    it(`a symlinked ${file} (-> ${target}) is refused without reading its target`, async () => {
      const to = target === 'ADMIN_TOKEN' ? join(server.home, 'admin-token') : target;
      repo.remove(file);
      symlinkSync(to, join(repo.dir, file));
      repo.commit(`link ${file}`);
      const out = await expectRefused(
        new RegExp(`${file.replace('.', '\\.')} in the pushed tree is a symlink`),
      );
      for (const secret of ['root:', token, 'PATH=']) {
        expect(out).not.toContain(secret);
        expect(server.log).not.toContain(secret);
      }
      const rel = await server.cli(['releases', app, '--json']);
      expect(rel.stdout).not.toContain('root:');
      expect(rel.stdout).not.toContain(token);
    });
  }

  it('a tree with a ".." entry is refused', async () => {
    const blob = git(['hash-object', '-w', '--stdin'], 'x\n');
    const dockerfile = git(['rev-parse', 'HEAD:Dockerfile']);
    const tree = git(['mktree'], `100644 blob ${blob}\t..\n100644 blob ${dockerfile}\tDockerfile\n`);
    const commit = git(['commit-tree', tree, '-p', goodSha, '-m', 'dotdot']);
    await expectRefused(/unsafe path "\.\."/, `${commit}:refs/heads/master`);
  });

  it('a tree bomb (110,000 files from 5 objects) is refused from its tree objects at once, and other apps stay responsive', async () => {
    const blob = git(['hash-object', '-w', '--stdin'], 'x\n');
    const dockerfile = git(['rev-parse', 'HEAD:Dockerfile']);
    const fan = (oid: string, type: string, n: number) =>
      git(
        ['mktree'],
        Array.from(
          { length: n },
          (_, i) => `${type === 'blob' ? '100644' : '040000'} ${type} ${oid}\tf${i}\n`,
        ).join(''),
      );
    const t1 = fan(blob, 'blob', 100);
    const t2 = fan(t1, 'tree', 100);
    const t3 = fan(t2, 'tree', 11);
    const root = git(['mktree'], `040000 tree ${t3}\tbomb\n100644 blob ${dockerfile}\tDockerfile\n`);
    const commit = git(['commit-tree', root, '-p', goodSha, '-m', 'bomb']);
    const logBefore = server.log.length;
    const started = Date.now();
    const push = expectRefused(
      /more than 100000 files \(GOKU_MAX_TREE_FILES\)/,
      `${commit}:refs/heads/master`,
    );
    // Another app's command is answered while the bomb is being refused.
    const other = await server.cli(['apps:create', `${p}-other`]);
    expect(other.code, other.stderr).toBe(0);
    const out = await push;
    expect(Date.now() - started).toBeLessThan(15000);
    expect(out.split('\n').filter((l) => l.includes('GOKU_MAX_TREE_FILES'))).toHaveLength(1);
    const logged = server.log.slice(logBefore);
    expect(logged.split('\n').filter((l) => l.includes('GOKU_MAX_TREE_FILES'))).toHaveLength(1);
    expect(logged).not.toContain('    at ');
  });

  it('a tree over GOKU_MAX_TREE_BYTES is refused', async () => {
    repo.write({ 'big.bin': 'z'.repeat(5 * 1024 * 1024) });
    repo.commit('big');
    await expectRefused(/more than 4 MiB \(GOKU_MAX_TREE_BYTES\)/);
  });

  it('a push whose pack is over GOKU_MAX_PUSH_BYTES is refused by git as it arrives', async () => {
    repo.write({ 'noise.bin': randomBytes(2 * 1024 * 1024).toString('base64') });
    repo.commit('noise');
    const r = await repo.push();
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/pack exceeds maximum allowed size/);
    expect(await repo.remoteRef('master')).toBe(goodSha);
    expect((await server.get(`${app}.${server.domain}`)).body).toBe('good\n');
    execFileSync('git', ['reset', '-q', '--hard', goodSha], { cwd: repo.dir });
  });

  it('retargeting a symlink and replacing it with a directory deploy, push after push', async () => {
    const serving = (file: string) => ({
      Dockerfile: `FROM goku-test/busybox:1\nCOPY ${file} /www/index.html\nEXPOSE 8000\nCMD ["httpd", "-f", "-p", "8000", "-h", "/www"]\n`,
    });
    repo.write({ ...serving('link'), 'a.txt': 'from a\n', 'b.txt': 'from b\n' });
    symlinkSync('a.txt', join(repo.dir, 'link'));
    repo.commit('link to a');
    let r = await repo.push();
    expect(r.code, r.stderr).toBe(0);
    expect((await server.get(`${app}.${server.domain}`)).body).toBe('from a\n');

    repo.remove('link');
    symlinkSync('b.txt', join(repo.dir, 'link'));
    repo.commit('link to b');
    r = await repo.push();
    expect(r.code, r.stderr).toBe(0);
    expect((await server.get(`${app}.${server.domain}`)).body).toBe('from b\n');

    repo.remove('link');
    repo.write({ ...serving('link/index.html'), 'link/index.html': 'a directory now\n' });
    repo.commit('link is a directory');
    r = await repo.push();
    expect(r.code, r.stderr).toBe(0);
    expect((await server.get(`${app}.${server.domain}`)).body).toBe('a directory now\n');
    goodSha = repo.commit('noop');
    expect((await repo.push()).code).toBe(0);
  });

  it('a link that leaves the tree stays a link inside the build context', async () => {
    symlinkSync('/etc/hostname', join(repo.dir, 'host'));
    repo.write({
      Dockerfile:
        'FROM goku-test/busybox:1\nCOPY . /ctx\nRUN mkdir -p /www && (cat /ctx/host || echo dangling) > /www/index.html\nEXPOSE 8000\nCMD ["httpd", "-f", "-p", "8000", "-h", "/www"]\n',
    });
    repo.commit('outside link');
    const r = await repo.push();
    expect(r.code, r.stderr).toBe(0);
    const body = (await server.get(`${app}.${server.domain}`)).body;
    expect(body).not.toBe(readFileSync('/etc/hostname', 'utf8'));
  });

  it('apps:destroy leaves nothing of the app under GOKU_HOME; a new app of that name starts empty', async () => {
    const name = `${p}-gone`;
    const listing = {
      Dockerfile:
        'FROM goku-test/busybox:1\nCOPY . /ctx\nRUN mkdir -p /www && ls -A /ctx | tr "\\n" " " > /www/index.html\nEXPOSE 8000\nCMD ["httpd", "-f", "-p", "8000", "-h", "/www"]\n',
    };
    const first = new AppRepo(server.tmp, name, server, key);
    await first.deploy({ ...listing, 'old-1.txt': '1', 'old-2.txt': '2' }, 'old');
    expect((await server.get(`${name}.${server.domain}`)).body).toBe('Dockerfile old-1.txt old-2.txt ');
    const d = await server.cli(['apps:destroy', name, '--force']);
    expect(d.code, d.stderr).toBe(0);
    const left = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
        const full = join(dir, e.name);
        const mine = e.name.includes(name) ? [full] : [];
        return e.isDirectory() ? [...mine, ...left(full)] : mine;
      });
    expect(left(server.home)).toEqual([]);
    const second = new AppRepo(server.tmp, name, server, key);
    await second.deploy({ ...listing, 'new.txt': 'n' }, 'new');
    expect((await server.get(`${name}.${server.domain}`)).body).toBe('Dockerfile new.txt ');
  });
});
