import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BASE_IMAGE } from './global-setup.js';
import { freePort } from './goku.js';

/**
 * Debian's docker-registry (distribution v2), run on 127.0.0.1 and a random port: the Docker
 * engine treats 127.0.0.0/8 as an insecure registry, so plain HTTP works for pushes and pulls.
 * With users it asks for htpasswd Basic auth; with notify it POSTs its events there.
 */
export class TestRegistry {
  readonly dir: string;
  port = 0;
  private child: ChildProcess | null = null;
  /** Holds the port while the registry is down (takeDown), so no other test's server binds it. */
  private holder: net.Server | null = null;
  private readonly images = new Set<string>();

  constructor(private readonly opts: { users?: Record<string, string>; notify?: string } = {}) {
    this.dir = mkdtempSync(join(tmpdir(), 'goku-registry-'));
  }

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.holder) {
      const h = this.holder;
      this.holder = null;
      await new Promise<void>((r) => h.close(() => r()));
    }
    if (!this.port) this.port = await freePort();
    const lines = [
      'version: 0.1',
      'log:',
      '  level: warn',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(this.dir, 'data')}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${this.port}`,
    ];
    if (this.opts.users) {
      const htpasswd = Object.entries(this.opts.users)
        .map(([u, p]) => execFileSync('htpasswd', ['-Bbn', u, p]).toString().trim())
        .join('\n');
      writeFileSync(join(this.dir, 'htpasswd'), `${htpasswd}\n`);
      lines.push('auth:', '  htpasswd:', '    realm: goku-test', `    path: ${join(this.dir, 'htpasswd')}`);
    }
    if (this.opts.notify) {
      lines.push(
        'notifications:',
        '  endpoints:',
        '    - name: goku',
        `      url: ${this.opts.notify}`,
        '      timeout: 2s',
        '      threshold: 3',
        '      backoff: 1s',
      );
    }
    mkdirSync(join(this.dir, 'data'), { recursive: true });
    writeFileSync(join(this.dir, 'config.yml'), `${lines.join('\n')}\n`);
    this.child = spawn('docker-registry', ['serve', join(this.dir, 'config.yml')], { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const status = await fetch(`http://${this.host}/v2/`).then(
        (r) => r.status,
        () => 0,
      );
      if (status === 200 || status === 401) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`docker-registry did not answer on ${this.host}`);
  }

  /** New users (the old ones stop working): restarts the registry on the same port and data. */
  async setUsers(users: Record<string, string>): Promise<void> {
    this.opts.users = users;
    this.stop();
    await this.start();
  }

  stop(): void {
    this.child?.kill('SIGKILL');
    this.child = null;
  }

  /**
   * The registry goes away but its port stays taken by a listener that resets every
   * connection: with the port free, a parallel test file once bound it, and goku's poll got
   * that server's 404 instead of an unreachable registry.
   */
  async takeDown(): Promise<void> {
    const child = this.child;
    this.stop();
    if (child && child.exitCode === null) await new Promise((r) => child.once('exit', r));
    const holder = net.createServer((sock) => sock.resetAndDestroy());
    for (let i = 0; ; i++) {
      try {
        await new Promise<void>((res, rej) => {
          holder.once('error', rej);
          holder.listen(this.port, '127.0.0.1', () => res());
        });
        break;
      } catch (err) {
        if (i >= 50) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    this.holder = holder;
  }

  /**
   * Builds a busybox httpd image serving `body` on `port`, pushes it as REPO:TAG and removes
   * it from the engine; returns the pushed digest. `extra` lines go into the Dockerfile,
   * `files` into the context (copied to /ctx).
   */
  push(
    repoTag: string,
    body: string,
    opts: { port?: number; extra?: string; files?: Record<string, string>; cmd?: string } = {},
  ): string {
    const ctx = mkdtempSync(join(this.dir, 'ctx-'));
    const port = opts.port ?? 8000;
    mkdirSync(join(ctx, 'www'));
    writeFileSync(join(ctx, 'www/index.html'), `${body}\n`);
    for (const [f, text] of Object.entries(opts.files ?? {})) writeFileSync(join(ctx, f), text);
    writeFileSync(
      join(ctx, 'Dockerfile'),
      `FROM ${BASE_IMAGE}\n${opts.files ? 'COPY . /ctx\n' : ''}COPY www /www\n${opts.extra ?? ''}EXPOSE ${port}\n${opts.cmd ?? `CMD ["httpd", "-f", "-p", "${port}", "-h", "/www"]`}\n`,
    );
    const name = `${this.host}/${repoTag}`;
    // A label of its own: two test files pushing the same content would otherwise build one
    // image id, and their concurrent `docker rmi` of it race in dockerd ("unrecognized image ID").
    const own = `goku-test-push=${randomBytes(6).toString('hex')}`;
    buildRetrying(['build', '-q', '-t', name, '--label', 'goku-test=1', '--label', own, ctx]);
    this.images.add(name);
    const out = this.docker(['push', name]);
    const digest = /digest: (sha256:[a-f0-9]{64})/.exec(out)?.[1];
    if (!digest) throw new Error(`docker push ${name} printed no digest: ${out}`);
    // Gone from the engine: goku has to pull it from the registry, as on a real server. Not
    // when the registry notifies goku: goku may be pulling it already, and an image removed
    // under its pull is a test's race, not a server's.
    if (!this.opts.notify) {
      removeTag(name);
      this.images.delete(name);
    }
    return digest;
  }

  /** The docker CLI with this registry's first user logged in (its own config dir). */
  private docker(args: string[]): string {
    const config = join(this.dir, 'docker-config');
    mkdirSync(config, { recursive: true });
    const env = { ...process.env, DOCKER_CONFIG: config };
    const [user, pass] = Object.entries(this.opts.users ?? {})[0] ?? [];
    if (user && pass) {
      execFileSync('docker', ['login', this.host, '-u', user, '--password-stdin'], {
        env,
        input: pass,
        stdio: 'pipe',
      });
    }
    return execFileSync('docker', args, { env, stdio: 'pipe' }).toString();
  }

  /** Removes the registry, its data and the images built for it. */
  cleanup(): void {
    this.stop();
    this.holder?.close();
    this.holder = null;
    if (this.images.size) {
      try {
        execFileSync('docker', ['rmi', '-f', ...this.images], { stdio: 'pipe' });
      } catch {
        // already gone
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * `docker rmi NAME`. dockerd 20.10 sometimes answers "unrecognized image ID" when other
 * removals run at once (parallel test files); the name is asked for again, and one that no
 * longer resolves is gone, which is all the caller wants.
 */
function removeTag(name: string): void {
  for (let attempt = 1; ; attempt++) {
    try {
      execFileSync('docker', ['rmi', name], { stdio: 'pipe' });
      return;
    } catch (err) {
      const msg = String((err as { stderr?: Buffer }).stderr ?? err);
      if (!/unrecognized image ID|No such image/.test(msg) || attempt >= 5) throw err;
      const still = spawnSync('docker', ['image', 'inspect', name], { stdio: 'pipe' });
      if (still.status !== 0) return;
      execFileSync('sleep', ['0.2']);
    }
  }
}

/**
 * docker build, once more when dockerd lost a cached layer under it: another test file's
 * `docker rmi` of an image built from the same steps removes their untagged parents, and a
 * build that is using one as its cache fails ("failed to get digest ...: no such file").
 */
function buildRetrying(args: string[]): void {
  for (let attempt = 1; ; attempt++) {
    try {
      execFileSync('docker', args, { stdio: 'pipe' });
      return;
    } catch (err) {
      const text = `${(err as { stderr?: Buffer }).stderr ?? ''}`;
      if (attempt >= 3 || !/failed to get digest|No such image|no such file or directory/.test(text))
        throw err;
    }
  }
}
