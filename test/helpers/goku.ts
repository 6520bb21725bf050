import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join, relative, resolve } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { expect } from 'vitest';
import { isAlive } from '../../src/proxy/master.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const GOKU_BIN = join(ROOT, 'bin/goku');

/**
 * A port nothing listens on, below the kernel's ephemeral range (32768 and up here): a port
 * the kernel hands out could be taken by any outgoing connection (a load test makes
 * thousands) between this check and the server's bind. Random, so parallel files rarely
 * pick the same one; GokuServer.start() tries again if one is taken anyway.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    const free = await new Promise<boolean>((res) => {
      const s = net.createServer();
      s.once('error', () => res(false));
      s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
    });
    if (free) return port;
  }
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; onOutput?: (text: string) => void } = {},
) {
  return new Promise<RunResult>((res) => {
    const child = execFile(
      cmd,
      args,
      { cwd: opts.cwd, env: { ...process.env, ...opts.env }, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        res({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
    // Output as it comes (stdout and stderr), for a test that waits for a line.
    if (opts.onOutput) {
      const on = opts.onOutput;
      child.stdout?.on('data', (d) => on(String(d)));
      child.stderr?.on('data', (d) => on(String(d)));
    }
    // A command that exits without reading its stdin (ssh, git) must not fail the test with EPIPE.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(opts.input ?? '');
  });
}

/** A unique prefix for app names so parallel test files never share Docker objects. */
export function uniquePrefix(): string {
  return `t${randomBytes(3).toString('hex')}`;
}

export interface SshKey {
  dir: string;
  priv: string;
  pub: string;
}

export function makeKey(dir: string, name: string): SshKey {
  const priv = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', priv]);
  return { dir, priv, pub: readFileSync(`${priv}.pub`, 'utf8') };
}

export interface GokuOptions {
  env?: Record<string, string>;
}

/** A whole goku server on a temp GOKU_HOME and random ports, run as a user would: `bin/goku server`. */
export class GokuServer {
  readonly home: string;
  readonly tmp: string;
  sshPort = 0;
  httpPort = 0;
  proxyPort = 0;
  httpsPort = 0;
  readonly domain = 'goku.test';
  private child: ChildProcess | null = null;
  log = '';
  extraEnv: Record<string, string>;

  constructor(opts: GokuOptions = {}) {
    this.tmp = mkdtempSync(join(tmpdir(), 'goku-test-'));
    // nginx's workers (user nobody) must be able to pass through to GOKU_HOME/nginx, as they
    // can to the default /var/lib/goku; mkdtemp makes the directory 0700.
    chmodSync(this.tmp, 0o711);
    this.home = join(this.tmp, 'home');
    this.extraEnv = opts.env ?? {};
  }

  env(): Record<string, string> {
    return {
      GOKU_HOME: this.home,
      GOKU_SSH_HOST: '127.0.0.1',
      GOKU_SSH_PORT: String(this.sshPort),
      GOKU_HTTP_HOST: '127.0.0.1',
      GOKU_HTTP_PORT: String(this.httpPort),
      GOKU_PROXY_HOST: '127.0.0.1',
      GOKU_PROXY_PORT: String(this.proxyPort),
      GOKU_HTTPS_PORT: String(this.httpsPort),
      GOKU_DOMAIN: this.domain,
      GOKU_DEPLOY_TIMEOUT: '20',
      // Tests about other things skip the 1 s uptime watch after a new container's first good
      // answer; the tests of health checks and of zero downtime keep it (GOKU_CHECK_UPTIME=1).
      GOKU_CHECK_UPTIME: '0',
      ...this.extraEnv,
    };
  }

  /** Picks random free ports once; start() calls it, tests that set things up first may too. */
  async allocatePorts(): Promise<void> {
    if (this.sshPort) return;
    const ports = new Set<number>();
    while (ports.size < 4) ports.add(await freePort());
    [this.sshPort, this.httpPort, this.proxyPort, this.httpsPort] = [...ports] as [
      number,
      number,
      number,
      number,
    ];
  }

  async start(): Promise<void> {
    // Ports this start picks may be taken by another process before goku binds them: pick
    // again then. Ports a test picked itself (allocatePorts first) are kept.
    const mine = !this.sshPort;
    for (let attempt = 1; ; attempt++) {
      await this.allocatePorts();
      try {
        return await this.spawnServer();
      } catch (err) {
        // goku's own listeners say EADDRINUSE; its edge nginx says "could not bind()".
        if (!mine || attempt >= 3 || !/EADDRINUSE|could not bind/.test((err as Error).message)) throw err;
        this.sshPort = 0;
      }
    }
  }

  private async spawnServer(): Promise<void> {
    this.log = '';
    const child = spawn(GOKU_BIN, ['server'], {
      env: { ...process.env, ...this.env() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    await new Promise<void>((res, rej) => {
      const onData = (d: Buffer) => {
        this.log += d.toString();
        if (this.log.includes('goku is ready')) res();
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.on('exit', (code) => rej(new Error(`goku server exited with ${code}: ${this.log}`)));
    });
  }

  /** The daemon's pid (to count its open files). */
  pid(): number {
    const pid = this.child?.pid;
    if (!pid) throw new Error('goku server is not running');
    return pid;
  }

  /** How many file descriptors the daemon holds. */
  openFiles(): number {
    return readdirSync(`/proc/${this.pid()}/fd`).length;
  }

  /** SIGTERM, like a service manager would. */
  stop(): Promise<void> {
    return this.signal('SIGTERM');
  }

  /** SIGKILL: goku dies wherever it is. */
  kill(): Promise<void> {
    return this.signal('SIGKILL');
  }

  private async signal(sig: NodeJS.Signals): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill(sig);
    await exited;
    this.child = null;
  }

  /** Starts the server and stores a fresh deploy key for pushing, as a user's first steps would. */
  async startWithKey(name = 'dev'): Promise<SshKey> {
    await this.start();
    const key = makeKey(this.tmp, name);
    const r = await this.cli(['keys:add', name], key.pub);
    if (r.code !== 0) throw new Error(`keys:add failed: ${r.stderr}`);
    return key;
  }

  /** A command that must succeed (its stderr is the failure message otherwise). */
  async ok(args: string[], input?: string): Promise<RunResult> {
    const r = await this.cli(args, input);
    expect(r.code, r.stderr).toBe(0);
    return r;
  }

  cli(args: string[], input?: string, onOutput?: (text: string) => void): Promise<RunResult> {
    return run(GOKU_BIN, args, { env: this.env(), input, ...(onOutput ? { onOutput } : {}) });
  }

  /** The routes nginx (reloads on every change). */
  nginxPid(): number | null {
    return this.pidOf('nginx/nginx.pid');
  }

  /** The edge nginx (listens on the proxy port; never reloaded by a deploy). */
  edgePid(): number | null {
    return this.pidOf('nginx/edge/nginx.pid');
  }

  private pidOf(file: string): number | null {
    const f = join(this.home, file);
    if (!existsSync(f)) return null;
    const pid = Number(readFileSync(f, 'utf8').trim());
    return isAlive(pid) ? pid : null;
  }

  /** Removes everything this server made: its containers, images, nginx and GOKU_HOME. */
  async cleanup(): Promise<void> {
    await this.stop().catch(() => undefined);
    // GOKU_TEST_LOGS=DIR keeps each test server's log (and its nginx error log) for a post-mortem.
    const keep = process.env.GOKU_TEST_LOGS;
    if (keep) {
      const name = `${Date.now()}-${basename(this.tmp)}`;
      writeFileSync(join(keep, `${name}.log`), this.log);
      for (const [f, to] of [
        ['nginx/error.log', 'nginx-error'],
        ['nginx/edge/error.log', 'edge-error'],
      ] as const) {
        if (existsSync(join(this.home, f))) copyFileSync(join(this.home, f), join(keep, `${name}.${to}.log`));
      }
    }
    for (const pid of [this.edgePid(), this.nginxPid()]) {
      if (!pid) continue;
      process.kill(pid, 'SIGQUIT');
      for (let i = 0; i < 50 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 50));
    }
    const ids = execFileSync('docker', ['ps', '-aq', '--filter', `label=goku.home=${this.home}`])
      .toString()
      .split(/\s+/)
      .filter(Boolean);
    if (ids.length) execFileSync('docker', ['rm', '-f', '-v', ...ids], { stdio: 'pipe' });
    const imgs = execFileSync('docker', ['images', '-q', '--filter', `label=goku.home=${this.home}`])
      .toString()
      .split(/\s+/)
      .filter(Boolean);
    if (imgs.length) execFileSync('docker', ['rmi', '-f', ...new Set(imgs)], { stdio: 'pipe' });
    // Compose apps' networks and named volumes.
    for (const kind of ['network', 'volume']) {
      const names = execFileSync('docker', [kind, 'ls', '-q', '--filter', `label=goku.home=${this.home}`])
        .toString()
        .split(/\s+/)
        .filter(Boolean);
      for (const name of names) {
        try {
          execFileSync('docker', [kind, 'rm', name], { stdio: 'pipe' });
        } catch (err) {
          // Docker 20.10 sometimes keeps a removed container's endpoint ("has active
          // endpoints"); the tests that remove networks check it themselves.
          console.warn(`could not remove ${kind} ${name}: ${(err as Error).message.split('\n')[1] ?? ''}`);
        }
      }
    }
    rmSync(this.tmp, { recursive: true, force: true });
  }

  containers(app: string): { id: string; name: string; state: string }[] {
    const out = execFileSync('docker', [
      'ps',
      '-a',
      '--filter',
      `label=goku.app=${app}`,
      '--filter',
      `label=goku.home=${this.home}`,
      '--format',
      '{{.ID}} {{.Names}} {{.State}}',
    ]).toString();
    return out
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [id, name, state] = l.split(' ');
        return { id: id as string, name: name as string, state: state as string };
      });
  }

  /** Names of the app's containers, sorted. */
  names(app: string): string[] {
    return this.containers(app)
      .map((c) => c.name)
      .sort();
  }

  /** Ids of the app's containers, sorted. */
  ids(app: string): string[] {
    return this.containers(app)
      .map((c) => c.id)
      .sort();
  }

  /** Waits until the app's containers are exactly these (retirements and renames done). */
  settled(app: string, want: string[], timeoutMs = 20000): Promise<string[]> {
    return eventually(
      async () => this.names(app),
      (n) => JSON.stringify(n) === JSON.stringify(want),
      timeoutMs,
    );
  }

  /** Sends n GETs to host through nginx (each must answer 200): how many distinct bodies came back. */
  async distinctAnswers(host: string, n: number): Promise<number> {
    const bodies = new Set<string>();
    for (let i = 0; i < n; i++) {
      const r = await this.get(host);
      if (r.status !== 200) throw new Error(`GET ${host} answered ${r.status}`);
      bodies.add(r.body);
    }
    return bodies.size;
  }

  /** The env a container of the app actually runs with. */
  containerEnv(app: string, name: string): Record<string, string> {
    const id = this.containers(app).find((c) => c.name === name)?.id;
    if (!id) throw new Error(`no container ${name} of ${app}`);
    const env = JSON.parse(
      execFileSync('docker', ['inspect', '-f', '{{json .Config.Env}}', id]).toString(),
    ) as string[];
    return Object.fromEntries(env.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  }

  images(app: string): string[] {
    return execFileSync('docker', [
      'images',
      '--filter',
      `label=goku.app=${app}`,
      '--filter',
      `label=goku.home=${this.home}`,
      '--format',
      '{{.Repository}}:{{.Tag}}',
    ])
      .toString()
      .split('\n')
      .filter(Boolean);
  }

  /** GET through nginx with a Host header, as a browser on that domain would. */
  get(
    host: string,
    path = '/',
  ): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
    return httpGet(this.proxyPort, host, path);
  }
}

export function httpGet(
  port: number,
  host: string,
  path = '/',
  agent: http.Agent | false = false,
): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return httpRequest(port, host, { path, agent });
}

/** An HTTPS answer of the edge, with the certificate it presented: its subject CN and fingerprint. */
export interface HttpsAnswer {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
  peer: { cn: string; fingerprint: string };
  authorized: boolean;
}

/** A GET over HTTPS to an edge's port, asking for `name` by SNI; trusts `trust` (a CA), or nothing. */
export function httpsGet(
  port: number,
  name: string,
  path = '/',
  trust: string | null = null,
): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      {
        host: '127.0.0.1',
        port,
        path,
        servername: name,
        headers: { host: name },
        ...(trust ? { ca: trust } : { rejectUnauthorized: false }),
        agent: false,
      },
      (res) => {
        const sock = res.socket as TLSSocket;
        const cert = sock.getPeerCertificate();
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body,
            headers: res.headers,
            peer: { cn: String(cert.subject?.CN ?? ''), fingerprint: cert.fingerprint256 },
            authorized: sock.authorized,
          }),
        );
      },
    );
    req.on('error', reject);
  });
}

/** One HTTP request through goku's proxy port (GET unless told), with a 5 s timeout. */
export function httpRequest(
  port: number,
  host: string,
  opts: { method?: string; path?: string; body?: string; agent?: http.Agent | false } = {},
): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((res, rej) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: opts.method ?? 'GET',
        path: opts.path ?? '/',
        headers: { Host: host },
        agent: opts.agent ?? false,
        timeout: 5000,
      },
      (r) => {
        let body = '';
        r.on('data', (d) => {
          body += d;
        });
        r.on('end', () => res({ status: r.statusCode ?? 0, body, headers: r.headers }));
        // A response cut off mid-body ends with neither 'end' nor (without a listener) 'error':
        // without these two the promise would wait forever.
        r.on('error', rej);
        r.on('close', () => {
          if (!r.complete) rej(new Error('the response was cut off'));
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', rej);
    req.end(opts.body);
  });
}

/** A local git work tree that pushes to goku over the real OpenSSH client. */
export class AppRepo {
  readonly dir: string;
  constructor(
    parent: string,
    readonly name: string,
    server: GokuServer,
    private readonly key: SshKey,
  ) {
    this.dir = join(parent, `repo-${name}-${randomBytes(2).toString('hex')}`);
    mkdirSync(this.dir, { recursive: true });
    execFileSync('git', ['init', '-q', '-b', 'master'], { cwd: this.dir });
    execFileSync('git', ['config', 'user.email', 't@example.com'], { cwd: this.dir });
    execFileSync('git', ['config', 'user.name', 'Test'], { cwd: this.dir });
    execFileSync('git', ['remote', 'add', 'goku', `ssh://git@127.0.0.1:${server.sshPort}/${name}`], {
      cwd: this.dir,
    });
  }

  sshCommand(): string {
    return `ssh -i ${this.key.priv} -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes`;
  }

  /** Writes files; a file that starts with `#!` is made executable (git records 100755). */
  write(files: Record<string, string>): this {
    for (const [name, content] of Object.entries(files)) {
      const p = join(this.dir, name);
      mkdirSync(resolve(p, '..'), { recursive: true });
      writeFileSync(p, content);
      chmodSync(p, content.startsWith('#!') ? 0o755 : 0o644);
    }
    return this;
  }

  remove(name: string): this {
    rmSync(join(this.dir, name), { force: true });
    return this;
  }

  commit(msg: string): string {
    execFileSync('git', ['add', '-A'], { cwd: this.dir });
    execFileSync('git', ['commit', '-q', '--allow-empty', '-m', msg], { cwd: this.dir });
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: this.dir }).toString().trim();
  }

  /** Writes the files, commits them and pushes master, which must succeed; returns the commit. */
  async deploy(files: Record<string, string>, message: string): Promise<string> {
    this.write(files);
    const sha = this.commit(message);
    const r = await this.push();
    expect(r.code, r.stderr).toBe(0);
    return sha;
  }

  push(refspec = 'master', extra: string[] = [], onOutput?: (text: string) => void): Promise<RunResult> {
    return run('git', ['push', ...extra, 'goku', refspec], {
      cwd: this.dir,
      env: { GIT_SSH_COMMAND: this.sshCommand() },
      ...(onOutput ? { onOutput } : {}),
    });
  }

  /** What the server's branch points at (ls-remote over ssh), or null. */
  async remoteRef(branch: string): Promise<string | null> {
    const r = await run('git', ['ls-remote', 'goku', `refs/heads/${branch}`], {
      cwd: this.dir,
      env: { GIT_SSH_COMMAND: this.sshCommand() },
    });
    return r.stdout.trim().split(/\s+/)[0] || null;
  }
}

/**
 * A busybox httpd app that serves `body` on `port`. Its page is a file COPYed in, not written
 * by a RUN step: a RUN starts a container during the build, which doubles the build's time.
 */
export function httpdApp(body: string, port = 8000, extra = ''): Record<string, string> {
  return {
    Dockerfile: `FROM goku-test/busybox:1\nCOPY www /www\n${extra}EXPOSE ${port}\nCMD ["httpd", "-f", "-p", "${port}", "-h", "/www"]\n`,
    'www/index.html': `${body}\n`,
  };
}

/** An app whose every instance answers with its own hostname (to see which ones get traffic). */
/** Every file of a fixture directory, by its path in the repository. */
export function fixtureFiles(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out[relative(dir, p)] = readFileSync(p, 'utf8');
    }
  };
  walk(dir);
  return out;
}

export function hostnameApp(): Record<string, string> {
  return {
    Dockerfile: `FROM goku-test/busybox:1\nCOPY www /www\nEXPOSE 8000\nCMD ["httpd", "-f", "-p", "8000", "-h", "/www"]\n`,
    'www/cgi-bin/index.cgi': '#!/bin/sh\necho "Content-Type: text/plain"\necho\nhostname\n',
  };
}

export async function eventually<T>(
  fn: () => Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs = 15000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (ok(last)) return last;
    } catch (err) {
      lastErr = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `condition not met in ${timeoutMs} ms; last value: ${JSON.stringify(last)} ${lastErr ?? ''}`,
  );
}

/** OpenSSH client options for talking to a test server with one key, never prompting. */
export function sshArgs(server: GokuServer, key: SshKey, extra: string[] = []): string[] {
  return [
    '-i',
    key.priv,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'LogLevel=ERROR',
    '-o',
    'BatchMode=yes',
    ...extra,
    '-p',
    String(server.sshPort),
    'git@127.0.0.1',
  ];
}

/** `ssh -p PORT git@127.0.0.1 COMMAND`, as a user with that key runs it. */
export function sshRun(server: GokuServer, key: SshKey, command: string, input = '', extra: string[] = []) {
  return run('ssh', [...sshArgs(server, key, extra), command], { input });
}

/**
 * Runs `work` while a loop of GETs (a new connection each) hits `host` through nginx;
 * returns its result with how many requests answered 200 and how many did not.
 */
export async function underLoad<T>(
  server: GokuServer,
  host: string,
  work: () => Promise<T>,
): Promise<{ result: T; ok: number; failed: number }> {
  let ok = 0;
  let failed = 0;
  let running = true;
  const load = (async () => {
    while (running) {
      const r = await httpGet(server.proxyPort, host).catch(() => ({ status: 0 }));
      if (r.status === 200) ok++;
      else failed++;
    }
  })();
  try {
    return { result: await work(), ok, failed };
  } finally {
    running = false;
    await load;
  }
}
