import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { copyFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { dirname, join } from 'node:path';
import nunjucks from 'nunjucks';
import type { Logger } from 'pino';
import { nginxModel, type Route } from '../core/routes.js';
import { GokuError } from '../errors.js';

export interface NginxOptions {
  mode: 'managed' | 'system';
  home: string;
  templatesDir: string;
  bin: string;
  systemConf: string;
  /** The system nginx's pid file, to see its workers switch; optional. */
  systemPid: string;
  /** nginx's dynamic stream module (Debian: libnginx-mod-stream), loaded when ports are published. */
  streamModule: string;
  proxyHost: string;
  proxyPort: number;
}

function exec(bin: string, args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(bin, args, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, output: `${stdout}${stderr}`.trim() });
    });
  });
}

/**
 * The only module that touches nginx. Every change renders the whole config from templates,
 * validates it with `nginx -t` beside the live one, swaps it in and reloads; a failed check
 * leaves the live config untouched. Changes run one at a time.
 */
export class NginxProxy {
  private readonly env: nunjucks.Environment;
  private readonly dir: string;
  private queue: Promise<unknown> = Promise.resolve();
  private supervisor: NodeJS.Timeout | null = null;
  private routes: Route[] = [];
  private restarting = false;
  /** Workers that a reload told to finish their requests and exit. */
  private readonly retiring = new Set<number>();

  constructor(
    private readonly opts: NginxOptions,
    private readonly log: Logger,
  ) {
    this.env = new nunjucks.Environment(new nunjucks.FileSystemLoader(opts.templatesDir, { noCache: true }), {
      autoescape: false,
      trimBlocks: true,
      lstripBlocks: true,
    });
    this.dir = join(opts.home, 'nginx');
  }

  get confFile(): string {
    return this.opts.mode === 'managed' ? join(this.dir, 'nginx.conf') : this.opts.systemConf;
  }

  get pidFile(): string {
    return join(this.dir, 'nginx.pid');
  }

  /** Managed mode: adopt a running goku nginx (it outlives the daemon) or start one; then watch it. */
  async start(routes: Route[]): Promise<void> {
    this.routes = routes;
    if (this.opts.mode === 'system') {
      await this.apply(routes);
      return;
    }
    for (const d of ['tmp/body', 'tmp/proxy', 'tmp/fastcgi', 'tmp/uwsgi', 'tmp/scgi']) {
      await mkdir(join(this.dir, d), { recursive: true });
    }
    const pid = this.masterPid();
    if (pid) {
      this.log.info({ pid }, 'adopting running nginx');
      await this.apply(routes);
    } else {
      await this.writeChecked(this.render(routes));
      await this.launch();
    }
    this.supervisor = setInterval(() => void this.superviseOnce(), 1000);
    this.supervisor.unref();
  }

  /** Leaves nginx running: app traffic must not depend on the daemon. */
  stop(): void {
    if (this.supervisor) clearInterval(this.supervisor);
    this.supervisor = null;
  }

  /** Stops the managed nginx itself (uninstall, tests). */
  async shutdown(): Promise<void> {
    this.stop();
    const pid = this.masterPid();
    if (!pid) return;
    process.kill(pid, 'SIGQUIT');
    for (let i = 0; i < 100 && isAlive(pid); i++) await sleep(50);
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  }

  masterPid(): number | null {
    try {
      const pid = Number(
        readFileSync(this.opts.mode === 'managed' ? this.pidFile : this.opts.systemPid, 'utf8').trim(),
      );
      if (!pid || !isAlive(pid)) return null;
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      return cmd.includes('nginx') ? pid : null;
    } catch {
      return null;
    }
  }

  /** Renders, validates, swaps and reloads. Serialized: concurrent deploys never interleave configs. */
  apply(routes: Route[]): Promise<void> {
    const run = this.queue.then(async () => {
      const text = this.render(routes);
      const previous = existsSync(this.confFile) ? await readFile(this.confFile, 'utf8') : null;
      await this.writeChecked(text);
      try {
        await this.reload();
      } catch (err) {
        if (previous !== null) await writeFile(this.confFile, previous);
        throw err;
      }
      this.routes = routes;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  currentRoutes(): Route[] {
    return this.routes;
  }

  render(routes: Route[]): string {
    const model = nginxModel(routes, {
      host: this.opts.proxyHost,
      port: this.opts.proxyPort,
      managed: this.opts.mode === 'managed',
      home: this.opts.home,
      streamModule: this.opts.streamModule,
    });
    return this.env.render(this.opts.mode === 'managed' ? 'nginx.conf.njk' : 'sites.conf.njk', model);
  }

  /** Writes the config beside the live one, runs `nginx -t` on it, then renames it into place. */
  private async writeChecked(text: string): Promise<void> {
    const target = this.confFile;
    await mkdir(dirname(target), { recursive: true });
    if (this.opts.mode === 'managed') {
      const next = `${target}.next`;
      await writeFile(next, text);
      const t = await exec(this.opts.bin, [
        '-t',
        '-q',
        '-p',
        this.dir,
        '-c',
        next,
        '-e',
        join(this.dir, 'error.log'),
      ]);
      if (t.code !== 0) {
        await rm(next, { force: true });
        throw new GokuError(
          'GOKU_ERR_ROUTING_FAILED',
          `nginx rejected the new config: ${lastLine(t.output)}`,
        );
      }
      await rename(next, target);
      return;
    }
    // System nginx: the file must sit where nginx.conf includes it, so test it in place and restore on failure.
    const backup = `${target}.goku-backup`;
    const had = existsSync(target);
    if (had) await copyFile(target, backup);
    await writeFile(target, text);
    const t = await exec(this.opts.bin, ['-t', '-q']);
    if (t.code !== 0) {
      if (had) await rename(backup, target);
      else await rm(target, { force: true });
      throw new GokuError('GOKU_ERR_ROUTING_FAILED', `nginx rejected the new config: ${lastLine(t.output)}`);
    }
    if (had) await rm(backup, { force: true });
  }

  private async reload(): Promise<void> {
    const master = this.masterPid();
    const oldWorkers = master ? childPids(master) : [];
    if (this.opts.mode === 'system') {
      const r = await exec(this.opts.bin, ['-s', 'reload']);
      if (r.code !== 0)
        throw new GokuError('GOKU_ERR_ROUTING_FAILED', `nginx reload failed: ${lastLine(r.output)}`);
    } else if (!master) {
      await this.launch();
      return;
    } else {
      process.kill(master, 'SIGHUP');
    }
    await waitForRetirement(oldWorkers);
    for (const w of oldWorkers) this.retiring.add(w);
  }

  /**
   * Resolves once every worker retired by a reload so far has exited: until then it may still
   * be proxying a request to an old upstream, so old containers are stopped only after this.
   */
  async drained(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const pid of this.retiring) if (!isAlive(pid)) this.retiring.delete(pid);
      if (this.retiring.size === 0 || Date.now() > deadline) return;
      await sleep(20);
    }
  }

  /**
   * Workers of a master that was killed keep the listening socket, and a new master cannot
   * bind. Ours are the nginx processes holding our error.log open; nobody else's are touched.
   */
  private killOrphanWorkers(): void {
    const log = join(this.dir, 'error.log');
    for (const pid of nginxProcessesWithFile(log)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  private async launch(): Promise<void> {
    if (!this.masterPid()) this.killOrphanWorkers();
    const r = await exec(this.opts.bin, [
      '-p',
      this.dir,
      '-c',
      this.confFile,
      '-e',
      join(this.dir, 'error.log'),
    ]);
    if (r.code !== 0) {
      throw new GokuError('GOKU_ERR_ROUTING_FAILED', `nginx did not start: ${lastLine(r.output)}`);
    }
    for (let i = 0; i < 100 && !this.masterPid(); i++) await sleep(20);
    if (!this.masterPid())
      throw new GokuError('GOKU_ERR_ROUTING_FAILED', 'nginx did not start (no pid file)');
    this.log.info({ pid: this.masterPid() }, 'nginx started');
  }

  private async superviseOnce(): Promise<void> {
    if (this.restarting) return;
    if (this.masterPid()) return;
    this.restarting = true;
    this.log.warn('managed nginx is not running; starting it again');
    this.killOrphanWorkers();
    try {
      this.queue = this.queue.then(async () => {
        if (!this.masterPid()) await this.launch();
      });
      await this.queue;
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'could not restart nginx');
    } finally {
      this.restarting = false;
    }
  }

  /** A published TCP port answers through nginx (a bind failure would otherwise go unseen). */
  async confirmListening(port: number, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await probeListening(this.probeHost(), port)) return;
      await sleep(15);
    }
    throw new GokuError(
      'GOKU_ERR_ROUTING_FAILED',
      `nginx is not listening on port ${port} (see ${join(this.dir, 'error.log')})`,
    );
  }

  private probeHost(): string {
    return this.opts.proxyHost === '0.0.0.0' || this.opts.proxyHost === '::'
      ? '127.0.0.1'
      : this.opts.proxyHost;
  }

  /**
   * A reload that cannot bind keeps the old config silently, so a switch is only trusted once
   * nginx itself answers for the domain with the new release header.
   */
  async confirm(domain: string, release: string, timeoutMs = 5000): Promise<void> {
    const host =
      this.opts.proxyHost === '0.0.0.0' || this.opts.proxyHost === '::' ? '127.0.0.1' : this.opts.proxyHost;
    const deadline = Date.now() + timeoutMs;
    let seen = '';
    while (Date.now() < deadline) {
      seen = await probeRelease(host, this.opts.proxyPort, domain).catch((e: Error) => `error ${e.message}`);
      if (seen === release) return;
      await sleep(15);
    }
    throw new GokuError(
      'GOKU_ERR_ROUTING_FAILED',
      `nginx did not switch ${domain} to release ${release} within ${timeoutMs} ms (saw ${seen || 'no release header'})`,
    );
  }
}

/** Resolves once something accepts TCP connections on the port. */
function probeListening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    sock.setTimeout(1000);
    sock.on('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.on('timeout', () => {
      sock.destroy();
      resolve(false);
    });
    sock.on('error', () => resolve(false));
  });
}

function probeRelease(host: string, port: number, domain: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host, port, path: '/', headers: { Host: domain }, agent: false, timeout: 2000 },
      (res) => {
        res.resume();
        resolve(String(res.headers['x-goku-release'] ?? ''));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** nginx processes (by command line) that hold `file` open. */
function nginxProcessesWithFile(file: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!readFileSync(`/proc/${entry}/cmdline`, 'utf8').startsWith('nginx')) continue;
      for (const fd of readdirSync(`/proc/${entry}/fd`)) {
        if (readlinkSync(`/proc/${entry}/fd/${fd}`) === file) {
          out.push(Number(entry));
          break;
        }
      }
    } catch {
      // process ended while we looked
    }
  }
  return out;
}

/** Direct children of a process: the workers of an nginx master. */
function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * After a reload the new workers answer at once, but an old worker keeps accepting until it
 * handles the master's shutdown signal; it then renames itself "... is shutting down" and
 * has closed its listening sockets. Until then a request may still see the old routes.
 */
async function waitForRetirement(workers: number[], timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const retired = (pid: number) => {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      return !cmd.startsWith('nginx: worker process') || cmd.includes('shutting down');
    } catch {
      return true;
    }
  };
  while (Date.now() < deadline && !workers.every(retired)) await sleep(5);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function lastLine(s: string): string {
  const lines = s.split('\n').filter((l) => l.trim() && !/test failed|syntax is ok/.test(l));
  return (lines[lines.length - 1] ?? s).replace(/^nginx: /, '').trim();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
