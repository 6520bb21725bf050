import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './goku.js';

export interface LabNode {
  /** The network namespace (/run/netns/NAME). */
  ns: string;
  /** Its address on the lab's link. */
  addr: string;
  /** DOCKER_HOST of its engine. */
  host: string;
  dir: string;
}

/**
 * Docker engines of the test's own, each in a network namespace of its own, joined by one
 * veth pair: a two-machine swarm on one machine, never touching the main engine (a swarm there,
 * or a second dockerd in the host's namespace, would disturb every other test: its bridge
 * driver flushes the main engine's iptables chains). Entered with `nsenter --net`, since
 * `ip netns exec` remounts /sys and dockerd then fails.
 */
export class SwarmLab {
  readonly nodes: LabNode[] = [];
  private readonly dir = mkdtempSync(join(tmpdir(), 'gsw-'));
  private readonly children: ChildProcess[] = [];
  private readonly tag = Math.random().toString(36).slice(2, 7);
  private readonly subnet = `10.213.${Math.floor(Math.random() * 250) + 1}`;

  async start(): Promise<void> {
    const [a, b] = [`gsw${this.tag}a`, `gsw${this.tag}b`];
    const [va, vb] = [`gv${this.tag}a`, `gv${this.tag}b`];
    const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
    ip('netns', 'add', a);
    ip('netns', 'add', b);
    ip('link', 'add', va, 'type', 'veth', 'peer', 'name', vb);
    for (const [ns, dev, n] of [
      [a, va, 1],
      [b, vb, 2],
    ] as const) {
      ip('link', 'set', dev, 'netns', ns);
      ip('-n', ns, 'addr', 'add', `${this.subnet}.${n}/24`, 'dev', dev);
      ip('-n', ns, 'link', 'set', dev, 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      this.nodes.push(this.engine(ns, `${this.subnet}.${n}`));
    }
    for (const node of this.nodes) {
      for (let i = 0; ; i++) {
        const r = await run('docker', ['version', '--format', '{{.Server.Version}}'], {
          env: { DOCKER_HOST: node.host },
        });
        if (r.code === 0) break;
        if (i > 150) throw new Error(`dockerd in ${node.ns} did not start: ${this.log(node)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  private engine(ns: string, addr: string): LabNode {
    const dir = join(this.dir, ns.slice(-1));
    const child = spawn(
      'nsenter',
      [
        `--net=/run/netns/${ns}`,
        'dockerd',
        '--data-root',
        join(dir, 'data'),
        '--exec-root',
        join(dir, 'x'),
        '-H',
        `unix://${join(dir, 'docker.sock')}`,
        '--pidfile',
        join(dir, 'docker.pid'),
        '--log-level',
        'warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let log = '';
    child.stderr?.on('data', (d) => {
      log = `${log}${d}`.slice(-4000);
    });
    Object.defineProperty(child, 'gokuLog', { get: () => log });
    this.children.push(child);
    return { ns, addr, host: `unix://${join(dir, 'docker.sock')}`, dir };
  }

  log(node: LabNode): string {
    const i = this.nodes.indexOf(node);
    return (this.children[i] as unknown as { gokuLog: string } | undefined)?.gokuLog ?? '';
  }

  /** Leaves the swarm, stops the engines, removes the namespaces, the link and every file. */
  async cleanup(): Promise<void> {
    for (const node of this.nodes) {
      await run('docker', ['swarm', 'leave', '--force'], { env: { DOCKER_HOST: node.host } });
    }
    for (const c of this.children) {
      if (c.exitCode !== null) continue;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
      if (c.exitCode === null) c.kill('SIGKILL');
    }
    for (const node of this.nodes) {
      const pid = join(node.dir, 'docker.pid');
      if (existsSync(pid)) {
        try {
          process.kill(Number(readFileSync(pid, 'utf8')), 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    for (const ns of [`gsw${this.tag}a`, `gsw${this.tag}b`]) await run('ip', ['netns', 'del', ns]);
    // dockerd unmounts what it mounted when it stops; anything left is unmounted, not deleted.
    const mounts = readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1] ?? '')
      .filter((m) => m.startsWith(this.dir))
      .sort()
      .reverse();
    for (const m of mounts) await run('umount', ['-l', m]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
