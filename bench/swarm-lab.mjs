// Shared by the Swarm tests (test/helpers/swarm.ts) and the Swarm benchmark (bench/swarm.mjs).
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A port free on this machine now. */
const freePort = () =>
  new Promise((res) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });

/** A command's exit code, never a throw (a lab engine still starting answers with an error). */
const run = (cmd, args, env = {}) =>
  new Promise((res) =>
    execFile(cmd, args, { env: { ...process.env, ...env } }, (err) =>
      res(err ? (typeof err.code === 'number' ? err.code : 1) : 0),
    ),
  );

/**
 * Docker engines of the test's own, each in a network namespace of its own, joined by one
 * veth pair: a two-machine swarm on one machine, never touching the main engine (a swarm there,
 * or a second dockerd in the host's namespace, would disturb every other test: its bridge
 * driver flushes the main engine's iptables chains). Entered with `nsenter --net`, since
 * `ip netns exec` remounts /sys and dockerd then fails.
 */
export class SwarmLab {
  /** Each node: its network namespace, its address on the link, DOCKER_HOST of its engine, its files. */
  nodes = [];
  /** HOST:PORT of the lab's registry (on the first node's address), when asked for. */
  registry = null;
  dir = mkdtempSync(join(tmpdir(), 'gsw-'));
  children = [];
  tag = Math.random().toString(36).slice(2, 7);
  subnet = `10.213.${Math.floor(Math.random() * 250) + 1}`;
  /** The host link's /30: the first node's end and this machine's. */
  hostLink = ((x, k) => ({ node: `10.214.${x}.${k + 1}`, host: `10.214.${x}.${k + 2}` }))(
    Math.floor(Math.random() * 250) + 1,
    4 * Math.floor(Math.random() * 60),
  );
  registryPort = 0;
  forwarder = null;

  /**
   * `registry`: Debian's docker-registry in the first node's namespace, on its link address,
   * which both engines take as an insecure registry (plain HTTP): what a swarm pulls from.
   */
  async start(opts = {}) {
    // The registry's port is free on this machine too: the same port on 127.0.0.1 here
    // (hostRegistry) and in the first node's namespace names it for goku and that engine alike.
    if (opts.registry) this.registryPort = await freePort();
    if (opts.registry) this.registry = `${this.subnet}.1:${this.registryPort}`;
    const [a, b] = [`gsw${this.tag}a`, `gsw${this.tag}b`];
    const [va, vb] = [`gv${this.tag}a`, `gv${this.tag}b`];
    const ip = (...args) => execFileSync('ip', args, { stdio: 'pipe' });
    ip('netns', 'add', a);
    ip('netns', 'add', b);
    ip('link', 'add', va, 'type', 'veth', 'peer', 'name', vb);
    for (const [ns, dev, n] of [
      [a, va, 1],
      [b, vb, 2],
    ]) {
      ip('link', 'set', dev, 'netns', ns);
      ip('-n', ns, 'addr', 'add', `${this.subnet}.${n}/24`, 'dev', dev);
      ip('-n', ns, 'link', 'set', dev, 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      this.nodes.push(this.engine(ns, `${this.subnet}.${n}`));
    }
    if (this.registry) {
      // A link from this machine's namespace to the first node's, for hostRegistry.
      const [vh, vx] = [`gv${this.tag}h`, `gv${this.tag}x`];
      ip('link', 'add', vh, 'type', 'veth', 'peer', 'name', vx);
      ip('link', 'set', vx, 'netns', a);
      ip('-n', a, 'addr', 'add', `${this.hostLink.node}/30`, 'dev', vx);
      ip('-n', a, 'link', 'set', vx, 'up');
      ip('addr', 'add', `${this.hostLink.host}/30`, 'dev', vh);
      ip('link', 'set', vh, 'up');
      this.startRegistry(a);
    }
    for (const node of this.nodes) await this.waitEngine(node);
  }

  engine(ns, addr) {
    const dir = join(this.dir, ns.slice(-1));
    const node = { ns, addr, host: `unix://${join(dir, 'docker.sock')}`, dir };
    this.children.push(this.spawnEngine(node));
    return node;
  }

  spawnEngine(node) {
    const { ns, dir } = node;
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
        ...(this.registry ? ['--insecure-registry', this.registry] : []),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let log = '';
    child.stderr?.on('data', (d) => {
      log = `${log}${d}`.slice(-4000);
    });
    Object.defineProperty(child, 'gokuLog', { get: () => log });
    return child;
  }

  async waitEngine(node) {
    for (let i = 0; ; i++) {
      if (
        (await run('docker', ['version', '--format', '{{.Server.Version}}'], { DOCKER_HOST: node.host })) ===
        0
      )
        return;
      if (i > 150) throw new Error(`dockerd in ${node.ns} did not start: ${this.log(node)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  startRegistry(ns) {
    const dir = join(this.dir, 'registry');
    mkdirSync(join(dir, 'data'), { recursive: true });
    writeFileSync(
      join(dir, 'config.yml'),
      `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\nhttp:\n  addr: 0.0.0.0:${this.registryPort}\n`,
    );
    this.children.push(
      spawn('nsenter', [`--net=/run/netns/${ns}`, 'docker-registry', 'serve', join(dir, 'config.yml')], {
        stdio: 'ignore',
      }),
    );
  }

  /**
   * The lab's registry as 127.0.0.1:PORT both here (a forwarder over the host link: Docker and
   * goku speak plain HTTP to loopback registries only) and on the first node (its own loopback).
   */
  async hostRegistry() {
    if (!this.forwarder) {
      const target = this.hostLink.node;
      this.forwarder = net.createServer((c) => {
        const up = net.connect(this.registryPort, target);
        c.pipe(up).pipe(c);
        const end = () => {
          c.destroy();
          up.destroy();
        };
        c.on('error', end);
        up.on('error', end);
      });
      await new Promise((r) => this.forwarder.listen(this.registryPort, '127.0.0.1', r));
    }
    return `127.0.0.1:${this.registryPort}`;
  }

  /** Makes the first node a swarm's manager and joins the second as a worker. */
  async initSwarm() {
    const [a, b] = this.nodes;
    const on = (n, ...args) =>
      execFileSync('docker', args, { env: { ...process.env, DOCKER_HOST: n.host }, stdio: 'pipe' })
        .toString()
        .trim();
    on(a, 'swarm', 'init', '--advertise-addr', a.addr);
    const token = on(a, 'swarm', 'join-token', '-q', 'worker');
    on(b, 'swarm', 'join', '--advertise-addr', b.addr, '--token', token, `${a.addr}:2377`);
  }

  /** Copies an image of the machine's engine into a node's (docker save | docker load). */
  loadImage(node, image) {
    execFileSync('sh', ['-c', `docker save "$1" | DOCKER_HOST="$2" docker load -q`, 'sh', image, node.host], {
      stdio: 'pipe',
    });
  }

  /** A command of the docker CLI on a node's engine. */
  docker(node, ...args) {
    return execFileSync('docker', args, { env: { ...process.env, DOCKER_HOST: node.host }, stdio: 'pipe' })
      .toString()
      .trim();
  }

  /** Kills a node's dockerd (a machine that went away): the swarm must move its tasks. */
  async killEngine(node) {
    const child = this.children[this.nodes.indexOf(node)];
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }

  /** Starts a killed node's dockerd again (it stops the containers the killed one left running). */
  async restartEngine(node) {
    const i = this.nodes.indexOf(node);
    const child = this.children[i];
    if (child && child.exitCode === null && child.signalCode === null) return;
    this.children[i] = this.spawnEngine(node);
    await this.waitEngine(node);
  }

  log(node) {
    const i = this.nodes.indexOf(node);
    return this.children[i]?.gokuLog ?? '';
  }

  /** Leaves the swarm, stops the engines, removes the namespaces, the link and every file. */
  async cleanup() {
    this.forwarder?.close();
    // A killed engine left its containers running: started again, it stops them as it stops.
    for (const node of this.nodes) await this.restartEngine(node).catch(() => undefined);
    for (const node of this.nodes) {
      await run('docker', ['swarm', 'leave', '--force'], { DOCKER_HOST: node.host });
    }
    for (const c of this.children) {
      if (c.exitCode !== null || c.signalCode !== null) continue;
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
