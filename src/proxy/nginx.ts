import { existsSync, readFileSync, statSync } from 'node:fs';
import { chmod, chown, copyFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import nunjucks from 'nunjucks';
import type { Logger } from 'pino';
import { listenAddress, nginxModel, type Route } from '../core/routes.js';
import { GokuError } from '../errors.js';
import { Serial } from '../util/serial.js';
import { exec, isAlive, lastLine, NginxMaster, nginxPid } from './master.js';

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

/**
 * The only module that touches nginx. Every change renders the whole config from templates,
 * validates it with `nginx -t` beside the live one, swaps it in and reloads; a failed check
 * leaves the live config untouched. Changes run one at a time.
 *
 * Managed mode runs two nginx masters. The routes nginx holds every app's routes and reloads
 * on every change; it listens on a unix socket. The edge nginx listens on GOKU_PROXY_PORT and
 * passes each request to the routes nginx on a new socket connection; its config never
 * changes, so it never reloads. A reload closes the idle keep-alive connections of the
 * retiring workers, and a client that sent a request on one at that instant saw it fail;
 * clients' connections now end at the edge, which no deploy touches.
 */
export class NginxProxy {
  private readonly env: nunjucks.Environment;
  private readonly dir: string;
  private readonly routesMaster: NginxMaster;
  private readonly edge: NginxMaster;
  private readonly serial = new Serial();
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
    this.routesMaster = new NginxMaster(this.dir, opts.bin, log, 'nginx', this.socket);
    this.edge = new NginxMaster(join(this.dir, 'edge'), opts.bin, log, 'edge nginx');
  }

  get confFile(): string {
    return this.opts.mode === 'managed' ? this.routesMaster.confFile : this.opts.systemConf;
  }

  /**
   * Where the routes nginx listens in managed mode (the edge's only upstream). Its directory
   * is nginx's workers' own (0700), so no other local user can skip the edge and set the
   * client address headers the routes nginx trusts from it.
   */
  get socket(): string {
    return join(this.opts.home, 'nginx', 'sock', 'routes.sock');
  }

  private async prepareSocketDir(): Promise<void> {
    const dir = dirname(this.socket);
    await mkdir(this.dir, { recursive: true }); // not 0700: workers pass through it to their temp files
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
    if (process.getuid?.() === 0) {
      const w = workerUser();
      await chown(dir, w.uid, w.gid);
    }
    // Before this, the socket sat world-writable beside the config.
    await rm(join(this.opts.home, 'nginx', 'routes.sock'), { force: true });
  }

  /** Managed mode: adopt the running goku nginx masters (they outlive the daemon) or start them; then watch them. */
  async start(routes: Route[]): Promise<void> {
    this.routes = routes;
    if (this.opts.mode === 'system') {
      await this.apply(routes);
      return;
    }
    if (Buffer.byteLength(this.socket) > 107) {
      throw new GokuError(
        'GOKU_ERR_SETTINGS',
        `GOKU_HOME is too long: nginx's socket ${this.socket} must be under 108 bytes; choose a shorter GOKU_HOME`,
      );
    }
    assertWorkersCanReach(this.dir);
    await this.prepareSocketDir();
    await this.routesMaster.prepare();
    await this.edge.prepare();
    const pid = this.routesMaster.pid();
    if (pid) {
      this.log.info({ pid }, 'adopting running nginx');
      await this.apply(routes);
    } else {
      await this.routesMaster.writeChecked(this.render(routes));
      await this.routesMaster.launch();
    }
    await this.startEdge();
    this.supervisor = setInterval(() => void this.superviseOnce(), 1000);
    this.supervisor.unref();
  }

  renderEdge(): string {
    return this.env.render('edge.conf.njk', {
      listen: listenAddress(this.opts.proxyHost, this.opts.proxyPort),
      dir: this.edge.dir,
      socket: this.socket,
    });
  }

  /**
   * Adopts or starts the edge. Its config changes only with goku itself or GOKU_PROXY_*; then
   * (and only then) it is reloaded once.
   */
  private async startEdge(): Promise<void> {
    const text = this.renderEdge();
    const pid = this.edge.pid();
    if (!pid) {
      await this.edge.writeChecked(text);
      await this.edge.launch();
      return;
    }
    const current = await readFile(this.edge.confFile, 'utf8').catch(() => '');
    if (current === text) {
      this.log.info({ pid }, 'adopting running edge nginx');
      return;
    }
    await this.edge.writeChecked(text);
    process.kill(pid, 'SIGHUP');
    this.log.info({ pid }, 'edge nginx config changed; reloaded it');
  }

  /** Leaves nginx running: app traffic must not depend on the daemon. */
  stop(): void {
    if (this.supervisor) clearInterval(this.supervisor);
    this.supervisor = null;
  }

  /** Stops the managed nginx masters themselves (uninstall, tests). */
  async shutdown(): Promise<void> {
    this.stop();
    await this.edge.shutdown();
    await this.routesMaster.shutdown();
  }

  /** The master that reloads on route changes (managed: the routes nginx; system: the system nginx). */
  masterPid(): number | null {
    return this.opts.mode === 'managed' ? this.routesMaster.pid() : nginxPid(this.opts.systemPid);
  }

  /** Renders, validates, swaps and reloads. Serialized: concurrent deploys never interleave configs. */
  apply(routes: Route[]): Promise<void> {
    return this.serial.run(async () => {
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
      // Managed: app traffic arrives from the edge nginx on the unix socket.
      listen: this.opts.mode === 'managed' ? `unix:${this.socket}` : undefined,
    });
    return this.env.render(this.opts.mode === 'managed' ? 'nginx.conf.njk' : 'sites.conf.njk', model);
  }

  /** Writes the config beside the live one, runs `nginx -t` on it, then renames it into place. */
  private async writeChecked(text: string): Promise<void> {
    if (this.opts.mode === 'managed') {
      await this.routesMaster.writeChecked(text);
      return;
    }
    const target = this.confFile;
    await mkdir(dirname(target), { recursive: true });
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
      await this.routesMaster.launch();
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

  private async superviseOnce(): Promise<void> {
    if (this.restarting) return;
    const dead = [this.routesMaster, this.edge].filter((m) => !m.pid());
    if (dead.length === 0) return;
    this.restarting = true;
    try {
      for (const m of dead) {
        this.log.warn(`managed ${m.label} is not running; starting it again`);
        await this.serial.run(async () => {
          if (!m.pid()) await m.launch();
        });
      }
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

/**
 * Started by root, nginx runs its workers as nobody; they open the routes socket and the temp
 * files for request bodies under GOKU_HOME/nginx, so every directory above it must let others
 * pass (o+x). Otherwise uploads over 16 KiB fail with a 500 and the edge cannot reach the
 * routes nginx: refuse to start instead, naming the directory.
 */
function assertWorkersCanReach(dir: string): void {
  if (process.getuid?.() !== 0) return; // not root: the workers run as goku's own user
  let p = dir;
  for (;;) {
    let mode: number;
    try {
      mode = statSync(p).mode;
    } catch {
      mode = 0o755; // created later with a mode that lets them through
    }
    if ((mode & 0o001) === 0) {
      throw new GokuError(
        'GOKU_ERR_SETTINGS',
        `nginx's workers (user nobody) cannot pass through ${p} (mode ${(mode & 0o777).toString(8)}); let others enter it (chmod o+x) or choose a GOKU_HOME under a directory they can pass, such as /var/lib/goku`,
      );
    }
    const up = dirname(p);
    if (up === p) return;
    p = up;
  }
}

/** The user nginx runs its workers as when started by root without a `user` directive. */
function workerUser(): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('nobody:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  return { uid: Number(uid ?? 65534), gid: Number(gid ?? 65534) };
}
