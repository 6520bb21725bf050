import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppRepo, eventually, GokuServer, httpdApp, type SshKey, uniquePrefix } from '../helpers/goku.js';

// Every broken push is rejected, leaves the branch ref where it was, keeps the same old
// container serving, and leaves no container or image of the attempt behind.
describe('a broken push is rejected and changes nothing', () => {
  const server = new GokuServer({ env: { GOKU_DEPLOY_TIMEOUT: '3' } });
  const p = uniquePrefix();
  const app = `${p}-steady`;
  let key: SshKey;
  let repo: AppRepo;
  let goodSha = '';
  let goodContainer = '';
  let goodImages: string[] = [];

  beforeAll(async () => {
    key = await server.startWithKey();
    repo = new AppRepo(server.tmp, app, server, key);
    repo.write(httpdApp('good'));
    goodSha = repo.commit('good');
    const r = await repo.push();
    expect(r.code, r.stderr).toBe(0);
    goodContainer = server.containers(app)[0]?.id as string;
    goodImages = server.images(app);
  });
  afterAll(async () => {
    await server.cleanup();
  });

  async function expectRejectedAndUnchanged(files: Record<string, string>, message: RegExp): Promise<string> {
    repo.write(files);
    repo.commit('broken');
    const r = await repo.push();
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('[remote rejected] master -> master (pre-receive hook declined)');
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toContain(`Push rejected: what ran before keeps running (${app})`);
    expect(await repo.remoteRef('master')).toBe(goodSha);
    const res = await server.get(`${app}.${server.domain}`);
    expect(res.status).toBe(200);
    expect(res.body).toBe('good\n');
    const cs = server.containers(app);
    expect(cs.map((c) => c.id)).toEqual([goodContainer]);
    expect(cs[0]?.name).toBe(app);
    expect(server.images(app)).toEqual(goodImages);
    // Back to the good tree for the next case.
    repo.remove('CNAME');
    repo.write(httpdApp('good'));
    return r.stderr;
  }

  it('a first push that fails speaks of no earlier release', async () => {
    const fresh = new AppRepo(server.tmp, `${app}-first`, server, key);
    fresh.write({ Dockerfile: 'FROM goku-test/busybox:1\nRUN exit 7\n' });
    fresh.commit('broken first');
    const r = await fresh.push();
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('Push rejected: nothing was deployed; the app has no running release yet');
    expect(r.stderr).not.toMatch(/previous release|ran before/);
  });

  it('a Dockerfile that does not parse', async () => {
    await expectRejectedAndUnchanged(
      { Dockerfile: 'FROM goku-test/busybox:1\nFROBNICATE everything\n' },
      /Dockerfile rejected by docker: .*unknown instruction: FROBNICATE/i,
    );
  });

  it('a failing RUN', async () => {
    const out = await expectRejectedAndUnchanged(
      { Dockerfile: 'FROM goku-test/busybox:1\nRUN echo about to fail && false\nEXPOSE 8000\n' },
      /docker build failed: The command .* returned a non-zero code: 1/,
    );
    expect(out).toContain('about to fail');
  });

  it('a container that exits at start, with its last log lines in the output', async () => {
    const out = await expectRejectedAndUnchanged(
      {
        Dockerfile: 'FROM goku-test/busybox:1\nEXPOSE 8000\nCMD ["sh", "-c", "echo boom-at-start; exit 3"]\n',
      },
      /the container exited during start/,
    );
    expect(out).toContain('boom-at-start');
  });

  it('a port that never answers (GOKU_DEPLOY_TIMEOUT)', async () => {
    await expectRejectedAndUnchanged(
      { Dockerfile: 'FROM goku-test/busybox:1\nEXPOSE 8000\nCMD ["sleep", "3600"]\n' },
      /did not answer HTTP on port 8000 within 3s/,
    );
  });

  it.each([
    ['a.com; include /etc/passwd'],
    ['evil.com { }'],
    ['*.example.com'],
    ['example.com:8080'],
    ['-bad.example.com'],
  ])('a CNAME line that is not a plain domain: %s', async (line) => {
    await expectRejectedAndUnchanged(
      { ...httpdApp('good'), CNAME: `ok.example.com\n${line}\n` },
      /invalid domain/,
    );
  });

  it('a CNAME domain that another app serves', async () => {
    const other = `${p}-other`;
    const o = new AppRepo(server.tmp, other, server, key);
    await o.deploy({ ...httpdApp('other'), CNAME: `taken.${p}.example.com\n` }, 'other');
    await expectRejectedAndUnchanged(
      { ...httpdApp('good'), CNAME: `taken.${p}.example.com\n` },
      new RegExp(`domain taken\\.${p}\\.example\\.com is already served by app ${other}`),
    );
    expect((await server.get(`taken.${p}.example.com`)).body).toBe('other\n');
  });

  it('two pushes to one app at once: the second waits and says so; never interleaved', async () => {
    const a = `${p}-queue`;
    const r1 = new AppRepo(server.tmp, a, server, key);
    const r2 = new AppRepo(server.tmp, a, server, key);
    r1.write(httpdApp('one', 8000, 'RUN sleep 2\n'));
    r1.commit('one');
    r2.write(httpdApp('two'));
    r2.commit('two');
    const first = r1.push('master:master');
    await new Promise((r) => setTimeout(r, 700));
    const second = r2.push('master:other');
    const [a1, a2] = await Promise.all([first, second]);
    expect(a1.code, a1.stderr).toBe(0);
    expect(a2.code, a2.stderr).toBe(0);
    expect(a2.stderr).toContain(`Another deploy of ${a} is in progress; waiting`);
    expect((await server.get(`${a}.${server.domain}`)).body).toBe('one\n');
    expect((await server.get(`${a}-other.${server.domain}`)).body).toBe('two\n');
  });

  it('two pushes of one branch at once: the second is refused once the first lands; repo and app agree', async () => {
    const a = `${p}-race`;
    const r1 = new AppRepo(server.tmp, a, server, key);
    const r2 = new AppRepo(server.tmp, a, server, key);
    r1.write(httpdApp('one', 8000, 'RUN sleep 2\n'));
    const one = r1.commit('one');
    r2.write(httpdApp('two'));
    r2.commit('two');
    const first = r1.push();
    await new Promise((r) => setTimeout(r, 700));
    const [a1, a2] = await Promise.all([first, r2.push()]);
    expect(a1.code, a1.stderr).toBe(0);
    expect(a2.code).not.toBe(0);
    expect(a2.stderr).toMatch(
      /master moved to [0-9a-f]{7} while this push waited; fetch, merge and push again/,
    );
    expect(await r1.remoteRef('master')).toBe(one);
    expect((await server.get(`${a}.${server.domain}`)).body).toBe('one\n');
  });

  it('a release whose ref git cannot land is undone: the old containers take the route back', async () => {
    repo.write(httpdApp('unlanded'));
    repo.commit('unlanded');
    // Another git process holding the ref's lock: the hook's deploy succeeds, git's update fails.
    const lock = join(server.home, 'repos', `${app}.git`, 'refs', 'heads', 'master.lock');
    writeFileSync(lock, '');
    try {
      const r = await repo.push();
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/failed to (update|lock) ref|cannot lock ref/);
    } finally {
      rmSync(lock, { force: true });
    }
    const [last] = await eventually(
      async () => JSON.parse((await server.cli(['releases', app, '--json'])).stdout),
      (rs) => rs[0]?.status === 'failed',
    );
    expect(last.reason).toMatch(/the push did not land: git left refs\/heads\/master at [0-9a-f]{7}/);
    expect(await repo.remoteRef('master')).toBe(goodSha);
    expect((await server.get(`${app}.${server.domain}`)).body).toBe('good\n');
    expect(await server.settled(app, [app])).toEqual([app]);
    expect(server.containers(app)[0]?.id).toBe(goodContainer);
    expect(server.images(app)).toEqual(goodImages);
    repo.write(httpdApp('good'));
  });

  it('the pusher goes away mid-deploy: nothing is switched and the repo keeps its ref', async () => {
    repo.write(httpdApp('abandoned', 8000, 'RUN sleep 2\n'));
    repo.commit('abandoned');
    const child = spawn('git', ['push', 'goku', 'master'], {
      cwd: repo.dir,
      env: { ...process.env, GIT_SSH_COMMAND: repo.sshCommand() },
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
    });
    await eventually(
      async () => err,
      (e) => e.includes('RUN sleep 2'),
    );
    process.kill(-(child.pid as number), 'SIGKILL'); // git and its ssh: the pusher is gone
    const [last] = await eventually(
      async () => JSON.parse((await server.cli(['releases', app, '--json'])).stdout),
      (rs) => rs[0]?.status === 'failed' && rs[0]?.commit !== goodSha,
      20000,
    );
    expect(last.reason).toMatch(/the pusher went away before the deploy finished/);
    expect(await repo.remoteRef('master')).toBe(goodSha);
    expect((await server.get(`${app}.${server.domain}`)).body).toBe('good\n');
    expect(await server.settled(app, [app])).toEqual([app]);
    expect(server.containers(app)[0]?.id).toBe(goodContainer);
    repo.write(httpdApp('good'));
  });

  it('pushes to different apps run in parallel', async () => {
    const slow = new AppRepo(server.tmp, `${p}-slow`, server, key);
    slow.write(httpdApp('slow', 8000, 'RUN sleep 5\n'));
    slow.commit('slow');
    const fast = new AppRepo(server.tmp, `${p}-fast`, server, key);
    fast.write(httpdApp('fast'));
    fast.commit('fast');
    let slowDone = false;
    const slowPush = slow.push().then((r) => {
      slowDone = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 1000));
    const rf = await fast.push();
    // The fast app deployed while the slow app was still building: no lock between apps.
    expect(slowDone).toBe(false);
    expect(rf.code, rf.stderr).toBe(0);
    expect(rf.stderr).not.toContain('waiting');
    const rs = await slowPush;
    expect(rs.code, rs.stderr).toBe(0);
  });
});
