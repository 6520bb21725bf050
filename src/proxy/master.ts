import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { GokuError } from '../errors.js';

export function exec(bin: string, args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(bin, args, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, output: `${stdout}${stderr}`.trim() });
    });
  });
}

/**
 * Starts an nginx master with these arguments and returns once it has forked away (or failed):
 * a daemon on this machine by default, or (goku in a container on the host's engine) a
 * container of its own, so that it outlives goku's container. `label` names the master.
 */
export type NginxLauncher = (label: string, args: string[]) => Promise<{ code: number; output: string }>;

/**
 * One nginx master that goku runs with its own prefix directory (config, pid, error log,
 * temp files): started, adopted across goku restarts, checked before every config swap, and
 * started again if it dies. goku's managed mode runs two of these (see NginxProxy).
 */
export class NginxMaster {
  constructor(
    readonly dir: string,
    private readonly bin: string,
    private readonly log: Logger,
    /** Said in log lines: "nginx" or "edge nginx". */
    readonly label: string,
    /** A unix socket it listens on; a stale one (left by a killed master) blocks a new start. */
    private readonly socket: string | null = null,
    private readonly launcher: NginxLauncher = (_label, args) => exec(bin, args),
  ) {}

  get confFile(): string {
    return join(this.dir, 'nginx.conf');
  }

  get pidFile(): string {
    return join(this.dir, 'nginx.pid');
  }

  get errorLog(): string {
    return join(this.dir, 'error.log');
  }

  async prepare(): Promise<void> {
    for (const d of ['tmp/body', 'tmp/proxy', 'tmp/fastcgi', 'tmp/uwsgi', 'tmp/scgi']) {
      await mkdir(join(this.dir, d), { recursive: true });
    }
  }

  pid(): number | null {
    return nginxPid(this.pidFile);
  }

  /** Writes the config beside the live one, runs `nginx -t` on it, then renames it into place. */
  async writeChecked(text: string): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const next = `${this.confFile}.next`;
    await writeFile(next, text);
    const t = await exec(this.bin, ['-t', '-q', '-p', this.dir, '-c', next, '-e', this.errorLog]);
    if (t.code !== 0) {
      await rm(next, { force: true });
      throw new GokuError(
        'GOKU_ERR_ROUTING_FAILED',
        `${this.label} rejected the new config: ${lastLine(t.output)}`,
      );
    }
    await rename(next, this.confFile);
  }

  async launch(): Promise<void> {
    if (!this.pid()) {
      this.killOrphanWorkers();
      if (this.socket) await rm(this.socket, { force: true });
    }
    const r = await this.launcher(this.label, ['-p', this.dir, '-c', this.confFile, '-e', this.errorLog]);
    if (r.code !== 0) {
      throw new GokuError('GOKU_ERR_ROUTING_FAILED', `${this.label} did not start: ${lastLine(r.output)}`);
    }
    for (let i = 0; i < 100 && !this.pid(); i++) await sleep(20);
    if (!this.pid())
      throw new GokuError('GOKU_ERR_ROUTING_FAILED', `${this.label} did not start (no pid file)`);
    this.log.info({ pid: this.pid() }, `${this.label} started`);
  }

  async shutdown(): Promise<void> {
    const pid = this.pid();
    if (!pid) return;
    process.kill(pid, 'SIGQUIT');
    for (let i = 0; i < 100 && isAlive(pid); i++) await sleep(50);
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  }

  /**
   * Workers of a master that was killed keep the listening sockets, and a new master cannot
   * bind. Ours are the nginx processes holding our error.log open; nobody else's are touched.
   */
  killOrphanWorkers(): void {
    for (const pid of nginxProcessesWithFile(this.errorLog)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
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

/** The nginx master a pid file names, if it is alive and is nginx (not a reused pid). */
export function nginxPid(pidFile: string): number | null {
  try {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    if (!pid || !isAlive(pid)) return null;
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmd.includes('nginx') ? pid : null;
  } catch {
    return null;
  }
}

/**
 * A process that runs, not a zombie: a daemonized nginx master's parent is init, and an init
 * that reaps late (1-2 s in some containers) leaves an exited master answering signal 0.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // /proc/PID/stat: "pid (comm) S ...": comm may hold spaces and parentheses, so read after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

export function lastLine(s: string): string {
  const lines = s.split('\n').filter((l) => l.trim() && !/test failed|syntax is ok/.test(l));
  return (lines[lines.length - 1] ?? s).replace(/^nginx: /, '').trim();
}
