import { existsSync, readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import nunjucks from 'nunjucks';
import type { Logger } from 'pino';
import { edgeRelays, listenAddress, nginxModel, type Route, type RouteTls } from '../core/routes.js';
import { GokuError } from '../errors.js';
import { Serial } from '../util/serial.js';
import { isAlive, type NginxLauncher } from './master.js';
import { ManagedNginx, type NginxMode, routesSocket, SystemNginx } from './modes.js';

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
  /** The edge's HTTPS port (managed mode; 0: none). */
  httpsPort: number;
  /** Where the edge serves /.well-known/acme-challenge/ from, for every host (null: ACME is off). */
  acmeWebroot?: string | null;
  /** How managed masters start (default: nginx daemonizes on this machine). */
  launch?: NginxLauncher;
  /** Each app's HTTPS choices (certs:redirect), read at every render. */
  tls?: (app: string) => RouteTls;
  /** Seconds nginx waits for a connection to an app (Swarm: a gone node's task never answers). */
  connectTimeout?: number;
  /**
   * Swarm: the routes nginx is on the apps' overlay, not on this machine's network, so the
   * edge listens on the published ports too (ports:add's TCP ports, proxy:ports-add's HTTP
   * ports) and passes each on over a unix socket the routes nginx listens on.
   */
  relayPorts?: boolean;
}

/**
 * The only module that touches nginx. Every change renders the whole config from templates,
 * validates it with `nginx -t` beside the live one, swaps it in and reloads; a failed check
 * leaves the live config untouched. Changes run one at a time. What differs between goku's
 * own nginx masters and the system nginx lives in ./modes.ts.
 */
export class NginxProxy {
  private readonly env: nunjucks.Environment;
  private readonly dir: string;
  private readonly mode: NginxMode;
  private readonly serial = new Serial();
  private routes: Route[] = [];
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
    this.mode =
      opts.mode === 'managed'
        ? new ManagedNginx(opts, () => this.renderEdge(), this.serial, log)
        : new SystemNginx(opts);
  }

  get confFile(): string {
    return this.mode.confFile;
  }

  /** Adopts or starts nginx with the first routes; in managed mode also watches the masters. */
  async start(routes: Route[]): Promise<void> {
    this.routes = routes;
    await this.mode.start(this.render(routes), () => this.apply(routes));
  }

  renderEdge(routes: Route[] = this.routes): string {
    const relays = this.opts.relayPorts ? edgeRelays(routes, this.opts.proxyHost, this.relayDir) : null;
    return this.env.render('edge.conf.njk', {
      relayHttp: relays?.http ?? [],
      relayTcp: relays?.tcp ?? [],
      streamModule: this.opts.streamModule,
      listen: listenAddress(this.opts.proxyHost, this.opts.proxyPort),
      httpsListen: this.opts.httpsPort ? listenAddress(this.opts.proxyHost, this.opts.httpsPort) : null,
      certs: join(this.opts.home, 'certs'),
      acmeWebroot: this.opts.acmeWebroot ?? null,
      dir: join(this.dir, 'edge'),
      socket: routesSocket(this.opts.home),
    });
  }

  /** Where the routes nginx listens for the ports the edge relays (beside its own socket). */
  private get relayDir(): string {
    return dirname(routesSocket(this.opts.home));
  }

  /** Leaves nginx running: app traffic must not depend on the daemon. */
  stop(): void {
    this.mode.stop();
  }

  /** Stops the managed nginx masters themselves (uninstall, tests). */
  shutdown(): Promise<void> {
    return this.mode.shutdown();
  }

  /** The master that reloads on route changes (managed: the routes nginx; system: the system nginx). */
  masterPid(): number | null {
    return this.mode.masterPid();
  }

  /** Renders, validates, swaps and reloads. Serialized: concurrent deploys never interleave configs. */
  apply(routes: Route[]): Promise<void> {
    return this.serial.run(async () => {
      const text = this.render(routes);
      const previous = existsSync(this.confFile) ? await readFile(this.confFile, 'utf8') : null;
      await this.mode.writeChecked(text);
      try {
        await this.reload();
      } catch (err) {
        if (previous !== null) await writeFile(this.confFile, previous);
        throw err;
      }
      this.routes = routes;
      // The edge changes only when the published ports do (never with a deploy). A port it
      // cannot take (another program has it) leaves the routes applied: ports:add says so.
      if (this.opts.relayPorts)
        await this.mode
          .applyEdge?.(this.renderEdge(routes))
          .catch((err: unknown) =>
            this.log.error(
              { err: (err as Error).message },
              'the edge nginx did not take the published ports',
            ),
          );
    });
  }

  currentRoutes(): Route[] {
    return this.routes;
  }

  render(routes: Route[]): string {
    const model = nginxModel(routes, {
      host: this.opts.proxyHost,
      port: this.opts.proxyPort,
      managed: this.mode.managed,
      home: this.opts.home,
      streamModule: this.opts.streamModule,
      listen: this.mode.listen,
      httpsPort: this.opts.httpsPort,
      ...(this.opts.tls ? { tls: this.opts.tls } : {}),
      ...(this.opts.relayPorts ? { relayDir: this.relayDir } : {}),
    });
    return this.env.render(this.mode.template, { ...model, connectTimeout: this.opts.connectTimeout });
  }

  private async reload(): Promise<void> {
    const master = this.mode.masterPid();
    const oldWorkers = master ? childPids(master) : [];
    if (!(await this.mode.signalReload(master))) return;
    if (master) await retireEarly(master, oldWorkers);
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
 * After a reload nginx's master starts the new workers, then sleeps 100 ms before it tells the
 * old ones to shut down. Meanwhile the old workers keep serving the edge's kept-alive
 * connections with the old routes: each switch would show new content 100 ms late. Once the
 * new workers exist, goku sends the old ones the same graceful shutdown (SIGQUIT) itself. The
 * master blocks SIGCHLD during that sleep, so it still sees them as its own exiting workers
 * and does not respawn them; connections that arrive meanwhile wait in the listen backlog,
 * which the master and the new workers keep open. No new worker (a config the master could
 * not load): nothing is sent, and the old workers keep serving.
 */
async function retireEarly(master: number, oldWorkers: number[], timeoutMs = 1000): Promise<void> {
  const old = new Set(oldWorkers);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (childPids(master).some((p) => !old.has(p))) {
      for (const w of oldWorkers) {
        try {
          process.kill(w, 'SIGQUIT');
        } catch {
          // Already gone.
        }
      }
      return;
    }
    await sleep(2);
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
