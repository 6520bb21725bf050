import { existsSync, readFileSync, statSync } from 'node:fs';
import { chmod, chown, copyFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { GokuError } from '../errors.js';
import type { Serial } from '../util/serial.js';
import { exec, lastLine, type NginxLauncher, NginxMaster, nginxPid } from './master.js';

/**
 * How goku runs nginx: its own masters (managed) or the machine's nginx (system). NginxProxy
 * does everything the two share (render, validate, swap, reload, confirm, drain) and asks its
 * mode only for what differs.
 */
export interface NginxMode {
  /** Whether the routes config is a whole nginx.conf goku owns (managed) or one included file. */
  readonly managed: boolean;
  readonly confFile: string;
  readonly template: 'nginx.conf.njk' | 'sites.conf.njk';
  /** Where the routes config listens (managed: the edge's socket); undefined: the proxy port. */
  readonly listen: string | undefined;
  /** Brings nginx up with the first routes, adopting masters that outlived the last daemon. */
  start(firstConfig: string, apply: () => Promise<void>): Promise<void>;
  /** The master that reloads on route changes. */
  masterPid(): number | null;
  /** Writes the config so that nginx -t passed on it, or throws and leaves the live one. */
  writeChecked(text: string): Promise<void>;
  /** Makes nginx load the written config; false: there was no master, one was started. */
  signalReload(master: number | null): Promise<boolean>;
  /** Managed: loads this edge config when it differs from the running one. */
  applyEdge?(text: string): Promise<void>;
  stop(): void;
  shutdown(): Promise<void>;
}

export interface ModeOptions {
  home: string;
  bin: string;
  systemConf: string;
  systemPid: string;
  /** How managed masters start (default: `bin` daemonizes on this machine). */
  launch?: NginxLauncher;
}

/** The machine's nginx: goku owns one included file and reloads the system master. */
export class SystemNginx implements NginxMode {
  readonly managed = false;
  readonly template = 'sites.conf.njk' as const;
  readonly listen = undefined;

  constructor(private readonly opts: ModeOptions) {}

  get confFile(): string {
    return this.opts.systemConf;
  }

  async start(_firstConfig: string, apply: () => Promise<void>): Promise<void> {
    await apply();
  }

  masterPid(): number | null {
    return nginxPid(this.opts.systemPid);
  }

  /** The file must sit where nginx.conf includes it: tested in place, restored on failure. */
  async writeChecked(text: string): Promise<void> {
    const target = this.confFile;
    await mkdir(dirname(target), { recursive: true });
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

  async signalReload(): Promise<boolean> {
    const r = await exec(this.opts.bin, ['-s', 'reload']);
    if (r.code !== 0)
      throw new GokuError('GOKU_ERR_ROUTING_FAILED', `nginx reload failed: ${lastLine(r.output)}`);
    return true;
  }

  stop(): void {}

  async shutdown(): Promise<void> {}
}

/**
 * goku's own two nginx masters. The routes nginx holds every app's routes and reloads on
 * every change; it listens on a unix socket. The edge nginx listens on GOKU_PROXY_PORT and
 * passes each request to the routes nginx on kept-alive socket connections (sending a request
 * again when a reused one closes unanswered: see edge.conf.njk); its config never
 * changes, so it never reloads, and clients' connections, which end at the edge, survive
 * every deploy. Both outlive the daemon, are adopted at its next start and restarted if they die.
 */
export class ManagedNginx implements NginxMode {
  readonly managed = true;
  readonly template = 'nginx.conf.njk' as const;
  private readonly dir: string;
  private readonly routesMaster: NginxMaster;
  readonly edge: NginxMaster;
  private supervisor: NodeJS.Timeout | null = null;
  private restarting = false;

  constructor(
    private readonly opts: ModeOptions,
    private readonly renderEdge: () => string,
    private readonly serial: Serial,
    private readonly log: Logger,
  ) {
    this.dir = join(opts.home, 'nginx');
    this.routesMaster = new NginxMaster(this.dir, opts.bin, log, 'nginx', this.socket, opts.launch);
    this.edge = new NginxMaster(join(this.dir, 'edge'), opts.bin, log, 'edge nginx', null, opts.launch);
  }

  get confFile(): string {
    return this.routesMaster.confFile;
  }

  get listen(): string {
    return `unix:${this.socket}`;
  }

  /**
   * The routes nginx's socket. Its directory is nginx's workers' own (0700), so no other local
   * user can skip the edge and set the client address headers the routes nginx trusts from it.
   */
  get socket(): string {
    return routesSocket(this.opts.home);
  }

  async start(firstConfig: string, apply: () => Promise<void>): Promise<void> {
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
      await apply();
    } else {
      await this.routesMaster.writeChecked(firstConfig);
      await this.routesMaster.launch();
    }
    await this.startEdge();
    this.supervisor = setInterval(() => void this.superviseOnce(), 1000);
    this.supervisor.unref();
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

  /**
   * Adopts or starts the edge. Its config changes only with goku itself or GOKU_PROXY_* (and,
   * on Swarm, the published ports); then (and only then) it is reloaded once.
   */
  private startEdge(): Promise<void> {
    return this.applyEdge(this.renderEdge());
  }

  async applyEdge(text: string): Promise<void> {
    const pid = this.edge.pid();
    if (!pid) {
      await this.edge.writeChecked(text);
      await this.edge.launch();
      return;
    }
    const current = existsSync(this.edge.confFile) ? await readFile(this.edge.confFile, 'utf8') : '';
    if (current === text) {
      this.log.info({ pid }, 'adopting running edge nginx');
      return;
    }
    await this.edge.writeChecked(text);
    process.kill(pid, 'SIGHUP');
    this.log.info({ pid }, 'edge nginx config changed; reloaded it');
  }

  masterPid(): number | null {
    return this.routesMaster.pid();
  }

  writeChecked(text: string): Promise<void> {
    return this.routesMaster.writeChecked(text);
  }

  async signalReload(master: number | null): Promise<boolean> {
    if (!master) {
      await this.routesMaster.launch();
      return false;
    }
    process.kill(master, 'SIGHUP');
    return true;
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

  /** Leaves nginx running: app traffic must not depend on the daemon. */
  stop(): void {
    if (this.supervisor) clearInterval(this.supervisor);
    this.supervisor = null;
  }

  /** Stops the masters themselves (uninstall, tests). */
  async shutdown(): Promise<void> {
    this.stop();
    await this.edge.shutdown();
    await this.routesMaster.shutdown();
  }
}

/** Where the managed routes nginx listens, in a directory only nginx's workers may enter. */
export function routesSocket(home: string): string {
  return join(home, 'nginx', 'sock', 'routes.sock');
}

/** The user nginx runs its workers as when started by root without a `user` directive. */
export function workerUser(): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('nobody:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  return { uid: Number(uid ?? 65534), gid: Number(gid ?? 65534) };
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
