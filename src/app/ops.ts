import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { existsSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { applyConfigChange, assertConfigSize, type ConfigChange, webPort } from '../core/config.js';
import { assertAppName, assertOwnDomain, normalizeDomain } from '../core/names.js';
import {
  changeChecks,
  commandArgv,
  DEFAULT_WEB_PORT,
  formationOf,
  parseScaleArgs,
  processTypes,
} from '../core/procfile.js';
import {
  type HttpPortMapping,
  type PortMapping,
  parseHttpMapping,
  parsePortMapping,
} from '../core/routes.js';
import { GokuError, oneLine } from '../errors.js';
import type { Repos } from '../git/repos.js';
import { composeRunSpec } from '../pipeline/compose.js';
import { urlOf } from '../pipeline/context.js';
import type { Deployer, Out } from '../pipeline/deployer.js';
import type { AppLocks } from '../pipeline/locks.js';
import type { Reconciler } from '../pipeline/reconcile.js';
import { composeRouteKey, type RouteTable } from '../pipeline/routing.js';
import { type Instance, type Scheduler, versionOf } from '../pipeline/scheduler.js';
import { formatImageRef, parseImageRef } from '../registry/reference.js';
import type { AttachedIO, ContainerRuntime, TaskSpec } from '../runtime/types.js';
import type { Settings } from '../settings.js';
import { assertAppNameFree, assertMayCreate, createApp } from '../store/apps.js';
import {
  type AppView,
  type DeploymentView,
  type ImageSource,
  type ReleaseRecord,
  type ServiceRecord,
  type Store,
  setScale,
} from '../store/types.js';

export type { Instance };

export interface AppInfo {
  name: string;
  /** Where its releases come from: git pushes, or a registry image (apps:create --image). */
  source: 'git' | 'image';
  /** An image app's reference, the digest it deployed last and when that was pulled. */
  image: ImageSource | null;
  defaultBranch: string | null;
  createdAt: string;
  updatedAt: string;
  domains: string[];
  deployments: {
    name: string;
    branch: string;
    commit: string;
    /** vN, as `releases` lists it. */
    release: string;
    routeId: string;
    image: string;
    port: number | null;
    domains: string[];
    instances: number;
    /** Service records of its running instances ("ID ADDRESS:PORT"), as the store holds them. */
    services: string[];
    deployedAt: string;
    /** A compose deployment's services and named volumes; null for the others. */
    compose: {
      services: {
        name: string;
        image: string;
        containers: number;
        running: number;
        port: number | null;
        domains: string[];
      }[];
      volumes: string[];
    } | null;
  }[];
  /** Why the service records could not be read (Consul down), else null. */
  servicesError: string | null;
}

/** What the app and process commands do, on top of the pipeline and the adapters. */
export class AppOps {
  constructor(
    private readonly d: {
      store: Store;
      runtime: ContainerRuntime;
      repos: Repos;
      routes: RouteTable;
      deployer: Deployer;
      reconciler: Reconciler;
      settings: Settings;
      streamModule: string;
      homeLabel: string;
      scheduler: Scheduler;
      locks: AppLocks;
      /** Certificate files follow an app's rename and go with it. */
      certs?: { renamed(from: string, to: string): Promise<void>; destroyed(app: string): Promise<void> };
    },
  ) {}

  ports(app: string): PortMapping[] {
    return [...(this.get(app).ports ?? [])].sort((a, b) => a.host - b.host);
  }

  /**
   * Publishes HOSTPORT on the host for CONTAINERPORT of the default deployment, through the
   * managed nginx's stream module, so the port keeps answering across deploys. Refused when
   * the port is goku's own, another app's, or taken by any other program.
   */
  async addPort(app: string, spec: string): Promise<PortMapping> {
    this.get(app);
    const m = parsePortMapping(spec);
    const s = this.d.settings;
    if (s.GOKU_NGINX !== 'managed') {
      throw new GokuError(
        'GOKU_ERR_USAGE',
        'ports:* needs GOKU_NGINX=managed (the system nginx config goku owns is inside http {})',
      );
    }
    if (m.proto === 'udp' && !this.d.scheduler.udp) {
      throw new GokuError(
        'GOKU_ERR_USAGE',
        "UDP ports are not published with GOKU_SCHEDULER=swarm: goku's nginx passes published ports on to the apps' overlay through unix sockets, which carry TCP only; publish a TCP port",
      );
    }
    if (!existsSync(this.d.streamModule)) {
      throw new GokuError(
        'GOKU_ERR_USAGE',
        `nginx's stream module is missing (${this.d.streamModule}); install it: apt-get install libnginx-mod-stream`,
      );
    }
    const own = {
      [s.GOKU_SSH_PORT]: 'ssh',
      [s.GOKU_HTTP_PORT]: 'HTTP API',
      [s.GOKU_PROXY_PORT]: 'app proxy',
    };
    if (m.proto === 'tcp' && own[m.host]) {
      throw new GokuError(
        'GOKU_ERR_PORT_TAKEN',
        `host port ${m.host} is goku's own ${own[m.host]} port; pick another`,
      );
    }
    for (const [name, rec] of Object.entries(this.d.store.read().apps)) {
      const clash = (rec.ports ?? []).find((p) => p.host === m.host && p.proto === m.proto);
      if (m.proto === 'tcp' && (rec.proxyPorts ?? []).some((p) => p.host === m.host)) {
        throw new GokuError(
          'GOKU_ERR_PORT_TAKEN',
          `host port ${m.host} is an HTTP port of app ${name} (proxy:ports-add)`,
        );
      }
      if (clash) {
        throw new GokuError(
          'GOKU_ERR_PORT_TAKEN',
          `host port ${m.host}/${m.proto} is already published by app ${name}`,
        );
      }
    }
    await assertBindable(s.GOKU_PROXY_HOST, m);
    await this.d.store.update((st) => {
      const a = st.apps[app];
      if (a) a.ports = [...(a.ports ?? []), m];
    });
    try {
      await this.d.reconciler.refresh(app);
      const route = this.d.routes.get(app);
      if (route) await this.d.routes.confirmStreams(route);
    } catch (err) {
      await this.removePortRecord(app, m.host, m.proto);
      // The change's own error is what the user gets; the reconciler's sweep retries within 5 s.
      await this.d.reconciler.refresh(app).catch(() => undefined);
      throw err;
    }
    return m;
  }

  /**
   * proxy:ports (Dokku's): the app's HTTP mappings, SCHEME:HOST:CONTAINER, the default one
   * first (http:GOKU_PROXY_PORT:the web port), then proxy:ports-add's.
   */
  proxyPorts(app: string): { scheme: 'http'; host: number; container: number | null; default: boolean }[] {
    const rec = this.get(app);
    const port = rec.deployments[app]?.port ?? null;
    return [
      { scheme: 'http' as const, host: this.d.settings.GOKU_PROXY_PORT, container: port, default: true },
      ...[...(rec.proxyPorts ?? [])]
        .sort((a, b) => a.host - b.host)
        .map((m) => ({ scheme: 'http' as const, host: m.host, container: m.container, default: false })),
    ];
  }

  /**
   * proxy:ports-add APP http:HOST:CONTAINER: the app's domains are also served on HOST, to
   * CONTAINER of its web instances. The port may be shared with other apps' extra ports (by
   * host name) but not be goku's own, a ports:add port, or taken by another program; the
   * change is confirmed by asking through the new port.
   */
  async addProxyPort(app: string, spec: string): Promise<HttpPortMapping> {
    const rec = this.get(app);
    const m = parseHttpMapping(spec);
    const s = this.d.settings;
    if (m.host === s.GOKU_PROXY_PORT) {
      throw new GokuError(
        'GOKU_ERR_PORT_TAKEN',
        `host port ${m.host} is the default mapping (http:${m.host}:PORT); to send it to another container port, goku config:set ${app} PORT=${m.container}`,
      );
    }
    if (m.host === s.GOKU_SSH_PORT || m.host === s.GOKU_HTTP_PORT) {
      throw new GokuError(
        'GOKU_ERR_PORT_TAKEN',
        `host port ${m.host} is goku's own (ssh or HTTP API); pick another`,
      );
    }
    if ((rec.proxyPorts ?? []).some((p) => p.host === m.host)) {
      throw new GokuError(
        'GOKU_ERR_PORT_TAKEN',
        `app ${app} already maps host port ${m.host}; proxy:ports-remove it first`,
      );
    }
    const apps = Object.values(this.d.store.read().apps);
    const stream = apps.find((a) => (a.ports ?? []).some((p) => p.host === m.host && p.proto === 'tcp'));
    if (stream) {
      throw new GokuError(
        'GOKU_ERR_PORT_TAKEN',
        `host port ${m.host}/tcp is published by app ${stream.name} (ports:add)`,
      );
    }
    // Shared with another app's extra HTTP port (nginx picks by host name), else it must be free.
    if (!apps.some((a) => (a.proxyPorts ?? []).some((p) => p.host === m.host))) {
      await assertBindable(s.GOKU_PROXY_HOST, { host: m.host, container: m.container, proto: 'tcp' });
    }
    await this.d.store.update((st) => {
      const a = st.apps[app];
      if (a) a.proxyPorts = [...(a.proxyPorts ?? []), m];
    });
    try {
      await this.d.reconciler.refresh(app);
      await this.confirmExtraPort(app, m.host);
    } catch (err) {
      await this.dropProxyPort(app, m.host);
      await this.d.reconciler.refresh(app).catch(() => undefined);
      throw err;
    }
    return m;
  }

  /** proxy:ports-remove APP http:HOST:CONTAINER or HOST: no longer served there. */
  async removeProxyPort(app: string, spec: string): Promise<HttpPortMapping[]> {
    const rec = this.get(app);
    const host = /^\d{1,5}$/.test(spec) ? Number(spec) : parseHttpMapping(spec).host;
    const gone = (rec.proxyPorts ?? []).filter((p) => p.host === host);
    if (gone.length === 0) {
      throw new GokuError(
        'GOKU_ERR_INVALID_PORT',
        host === this.d.settings.GOKU_PROXY_PORT
          ? `the default mapping (http:${host}:PORT) is not removed; goku domains and ps:scale ${app} 0 decide what it serves`
          : `app ${app} maps no host port ${host}; see goku proxy:ports ${app}`,
      );
    }
    await this.dropProxyPort(app, host);
    await this.d.reconciler.refresh(app);
    return gone;
  }

  private async dropProxyPort(app: string, host: number): Promise<void> {
    await this.d.store.update((st) => {
      const a = st.apps[app];
      if (!a) return;
      a.proxyPorts = (a.proxyPorts ?? []).filter((p) => p.host !== host);
      if (a.proxyPorts.length === 0) delete a.proxyPorts;
    });
  }

  /**
   * A port nginx cannot bind passes nginx -t and its reload keeps the old config: the mapping
   * counts only once a request through it answers with the app's release.
   */
  private async confirmExtraPort(app: string, port: number): Promise<void> {
    const route = this.d.routes.get(app);
    if (!route?.http) return; // nothing deployed yet: it is served from the first deploy on
    const host = this.d.settings.GOKU_PROXY_HOST;
    const addr = host === '0.0.0.0' || host === '*' ? '127.0.0.1' : host === '::' ? '::1' : host;
    const deadline = Date.now() + 5000;
    let last = 'no answer';
    while (Date.now() < deadline) {
      last = await releaseAt(addr, port, route.domains[0] as string).catch((e: Error) => e.message);
      if (last === route.release) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new GokuError(
      'GOKU_ERR_ROUTING_FAILED',
      `nginx does not serve ${app} on port ${port} (${last}); see its error log`,
    );
  }

  async removePort(app: string, hostPort: string): Promise<PortMapping[]> {
    this.get(app);
    const host = Number(hostPort);
    if (!/^\d{1,5}$/.test(hostPort) || host < 1 || host > 65535) {
      throw new GokuError(
        'GOKU_ERR_INVALID_PORT',
        `invalid host port ${JSON.stringify(hostPort.slice(0, 20))}: a number from 1 to 65535`,
      );
    }
    const gone = (this.get(app).ports ?? []).filter((p) => p.host === host);
    if (gone.length === 0)
      throw new GokuError(
        'GOKU_ERR_INVALID_PORT',
        `app ${app} publishes no host port ${host}; see goku ports ${app}`,
      );
    for (const p of gone) await this.removePortRecord(app, p.host, p.proto);
    await this.d.reconciler.refresh(app);
    return gone;
  }

  private async removePortRecord(app: string, host: number, proto: string): Promise<void> {
    await this.d.store.update((st) => {
      const a = st.apps[app];
      if (a) a.ports = (a.ports ?? []).filter((p) => !(p.host === host && p.proto === proto));
    });
  }

  /** Every app with its deployments, by name; releases as users number them (vN). */
  list() {
    return Object.values(this.d.store.read().apps)
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .map((a) => {
        const version = versionOf(a);
        return {
          name: a.name,
          defaultBranch: a.defaultBranch,
          deployments: Object.values(a.deployments).map((d) => ({
            name: d.name,
            branch: d.branch,
            commit: d.commit,
            release: version(d.release),
            deployedAt: d.deployedAt,
          })),
          createdAt: a.createdAt,
        };
      });
  }

  get(app: string): AppView {
    const rec = this.d.store.read().apps[app];
    if (!rec) throw new GokuError('GOKU_ERR_APP_NOT_FOUND', `app ${app} does not exist; see goku apps`);
    return rec;
  }

  /** A git app (with its bare repository), or with `image` an image app (no repository). */
  async create(app: string, image?: string): Promise<void> {
    const ref = image === undefined ? null : formatImageRef(parseImageRef(image));
    if (this.d.store.read().apps[app])
      throw new GokuError('GOKU_ERR_APP_EXISTS', `app ${app} already exists`);
    await createApp(this.d.store, app, undefined, ref ? { ref, digest: null, pulledAt: null } : undefined);
    if (!ref) await this.d.repos.ensure(app);
  }

  /** Pulls and deploys an image app now; with `ref` it follows that image from then on. */
  deploy(app: string, ref: string | null, by: string, out: Out, force = false): Promise<void> {
    this.get(app);
    if (ref !== null) parseImageRef(ref); // a bad reference is refused before the lock
    return this.d.deployer.deploy(app, { kind: 'image', by, ref, force }, out);
  }

  /**
   * Before `git receive-pack` runs for a push: an app that does not exist yet is only checked
   * (name, collisions, the key's app count) and given a bare repo; its record is made when a
   * push actually arrives (see arrivePush), so an empty session creates nothing.
   */
  async openPush(app: string, keyName: string): Promise<void> {
    const data = this.d.store.read();
    const image = data.apps[app]?.image;
    if (image) {
      throw new GokuError(
        'GOKU_ERR_SOURCE_MISMATCH',
        `app ${app} deploys the image ${image.ref}, not git pushes; goku deploy ${app} [REF] deploys an image`,
      );
    }
    if (!data.apps[app]) {
      assertAppName(app);
      assertAppNameFree(data, app);
      assertMayCreate(data, keyName, this.d.settings.GOKU_MAX_APPS_PER_KEY);
    }
    await this.d.repos.ensure(app);
  }

  /** The hook handed a push over: create the app now if it is new (true when this push did). */
  async arrivePush(app: string, keyName: string): Promise<boolean> {
    if (this.d.store.read().apps[app]) return false;
    assertMayCreate(this.d.store.read(), keyName, this.d.settings.GOKU_MAX_APPS_PER_KEY);
    return createApp(this.d.store, app, keyName);
  }

  /**
   * `git receive-pack` has exited. A repo no app owns (nothing was pushed) goes; so does an app
   * this push created if nothing of the push landed: a failed first push leaves nothing.
   */
  async closePush(app: string, created: boolean): Promise<void> {
    await this.d.locks.run(
      app,
      async () => {
        const rec = this.d.store.read().apps[app];
        if (!rec) {
          await this.d.repos.remove(app);
          return;
        }
        if (!created || Object.keys(rec.deployments).length > 0) return;
        if (await this.d.repos.hasRefs(app)) return;
        await this.d.store.update((s) => {
          delete s.apps[app];
        });
        await this.d.repos.remove(app);
      },
      undefined,
      { quiet: true },
    );
  }

  async rename(app: string, to: string, by: string, out: Out): Promise<void> {
    this.get(app);
    if (app === to) throw new GokuError('GOKU_ERR_USAGE', `app ${app} already has that name`);
    await this.d.deployer.rename(app, to, by, out);
    await this.d.certs?.renamed(app, to);
  }

  async destroy(app: string, out: Out): Promise<void> {
    this.get(app);
    await this.d.deployer.destroy(app, out);
    await this.d.certs?.destroyed(app);
  }

  /**
   * ps:stop: every container of the app stops (SIGTERM, GOKU_STOP_GRACE) and stays stopped,
   * across goku restarts, until ps:start or a deploy; nginx answers 503 meanwhile.
   */
  async stop(app: string, out: Out): Promise<number> {
    this.get(app);
    const stopped = await this.d.locks.run(app, async () => {
      await this.d.store.update((s) => {
        const a = s.apps[app];
        if (a) a.stopped = true;
      });
      return this.d.scheduler.stopApp(this.d, app, out);
    });
    await this.d.reconciler.refresh(app);
    return stopped;
  }

  /** ps:start: the recorded containers of a stopped app start again and take their routes back. */
  async start(app: string, out: Out): Promise<number> {
    const rec = this.get(app);
    const started = await this.d.locks.run(app, async () => {
      const n = await this.d.scheduler.startApp(this.d, rec, out);
      await this.d.store.update((s) => {
        const a = s.apps[app];
        if (a) delete a.stopped;
      });
      return n;
    });
    await this.d.reconciler.refresh(app);
    return started;
  }

  /** ps:rebuild: built again from the branches' commits, or an image app pulled again. */
  rebuild(app: string, by: string, out: Out, force = false): Promise<void> {
    this.get(app);
    return this.d.deployer.deploy(app, { kind: 'rebuild', by, force }, out);
  }

  restart(app: string, by: string, out: Out, force = false, service?: string): Promise<void> {
    this.get(app);
    return this.d.deployer.deploy(app, { kind: 'restart', by, force, ...(service ? { service } : {}) }, out);
  }

  /** ps:scale APP N (web) or TYPE=N ...: the default deployment again with these counts. */
  async scale(app: string, args: string[], by: string, out: Out, force = false): Promise<void> {
    const rec = this.get(app);
    const counts = parseScaleArgs(args, this.d.settings.GOKU_MAX_SCALE);
    if (!rec.deployments[app]) {
      // As Dokku: scaling before the first deploy sets the counts that deploy starts with.
      await this.d.locks.run(app, () =>
        this.d.store.update((s) => {
          const a = s.apps[app];
          if (a) setScale(a, counts);
        }),
      );
      out(`=====> ${app} is not deployed yet: its first deploy starts ${args.join(' ')}`);
      return;
    }
    await this.d.deployer.deploy(app, { kind: 'scale', by, counts, force }, out);
  }

  /**
   * The formation: each process type of the default deployment's Procfile (web alone without
   * one) and how many instances it runs, and whether app.json sets them.
   */
  formation(app: string): {
    types: { type: string; quantity: number; command: string | null }[];
    appJson: boolean;
  } {
    const rec = this.get(app);
    const dep = rec.deployments[app];
    if (dep?.compose) {
      // A compose app's process types are its services; the command shown is the image each runs.
      return {
        types: Object.entries(dep.compose.services).map(([type, s]) => ({
          type,
          quantity: s.containerIds.length,
          command: s.image,
        })),
        appJson: false,
      };
    }
    const procfile = dep?.procfile ?? null;
    // Not deployed yet: no Procfile is known, so every count set so far (ps:scale) is shown.
    const counts = dep
      ? formationOf({
          procfile,
          appFormation: dep.appFormation ?? null,
          scale: rec.scale,
          formation: rec.formation,
          isDefault: true,
        })
      : { web: rec.scale ?? 1, ...rec.formation };
    return {
      types: Object.entries(counts).map(([type, quantity]) => ({
        type,
        quantity,
        command: procfile?.[type] ?? null,
      })),
      appJson: !!dep?.appFormation,
    };
  }

  rollback(app: string, target: number | null, by: string, out: Out, force = false): Promise<void> {
    this.get(app);
    return this.d.deployer.deploy(app, { kind: 'rollback', by, target, force }, out);
  }

  /**
   * `run APP COMMAND...`: a one-off container of the default deployment's current image with
   * the app's config (and PORT), attached to the caller (a tty when the caller has one), removed
   * when it exits; its exit status is the command's. A single word naming a Procfile type runs
   * that type's command (Dokku's shortcut). No io (--detach): left running on its own.
   */
  async run(
    app: string,
    argv: string[],
    io: AttachedIO | null,
  ): Promise<{ exitCode: number | null; name: string }> {
    const rec = this.get(app);
    const dep = rec.deployments[app];
    if (!dep) {
      throw new GokuError(
        'GOKU_ERR_NOT_DEPLOYED',
        `app ${app} has no default deployment to run a command in; push it first`,
      );
    }
    const name = `${this.d.settings.GOKU_CONTAINER_PREFIX}${app}--run-${randomBytes(3).toString('hex')}`;
    const labels = {
      'goku.app': app,
      'goku.home': this.d.homeLabel,
      'goku.process': 'run',
      'goku.oneoff': '1',
    };
    let spec: TaskSpec;
    if (dep.compose) {
      const { service: _, ...task } = composeRunSpec(dep, rec.env);
      spec = { name, labels, cmd: argv, ...task };
    } else {
      const port = String(dep.port ?? DEFAULT_WEB_PORT);
      const env = { ...rec.env, PORT: port };
      const type = argv.length === 1 ? dep.procfile?.[argv[0] as string] : undefined;
      spec = { name, image: dep.image, env, cmd: type ? commandArgv(type, env) : argv, labels };
    }
    if (!io) {
      await this.d.runtime.runDetached(spec);
      return { exitCode: 0, name };
    }
    return { exitCode: await this.d.runtime.runAttached(spec, io), name };
  }

  /**
   * `enter APP [INSTANCE] [COMMAND...]`: a command (default /bin/sh) in a running container of
   * the app, attached like `run`. INSTANCE is a container's name (APP.2, APP-worker) or a
   * process type (its first container); default the default deployment's first web container.
   */
  async enter(app: string, words: string[], io: AttachedIO): Promise<number | null> {
    this.get(app);
    const running = (await this.ps(app)).filter((i) => i.state === 'running' && i.process !== 'run');
    const prefix = this.d.settings.GOKU_CONTAINER_PREFIX;
    const first = words[0];
    const named =
      first === undefined
        ? undefined
        : (running.find((i) => i.name === first || i.name === `${prefix}${first}`) ??
          running.find((i) => i.process === first && i.deployment === app));
    const target = named ?? running.find((i) => i.deployment === app && i.process === 'web') ?? running[0];
    if (!target) {
      throw new GokuError(
        'GOKU_ERR_NOT_DEPLOYED',
        `app ${app} has no running container to enter; push it or ps:start it`,
      );
    }
    const argv = named ? words.slice(1) : words;
    // A Swarm task is a container of the engine of its node: only this node's can be entered.
    if (target.node && !(await this.d.runtime.inspectContainer(target.id))) {
      throw new GokuError(
        'GOKU_ERR_NOT_DEPLOYED',
        `${target.name} runs on the node ${target.node}; goku enter reaches the tasks on this goku's node (see goku ps ${app})`,
      );
    }
    return this.d.runtime.execAttached(
      target.node ? target.id : target.name,
      argv.length ? argv : ['/bin/sh'],
      io,
    );
  }

  /**
   * checks:enable / checks:disable / checks:skip APP [TYPES] (Dokku's): which process types'
   * checks are skipped (no health check) or disabled (no check, old containers stopped first).
   * Takes effect at the app's next deploy, restart or config change.
   */
  async setChecks(
    app: string,
    action: 'enable' | 'disable' | 'skip',
    raw: string | undefined,
  ): Promise<{ disabled: string[]; skipped: string[] }> {
    const rec = this.get(app);
    const dep = rec.deployments[app];
    const known = processTypes(dep?.procfile ?? null);
    const types =
      raw === undefined
        ? []
        : raw
            .split(',')
            .map((t) => t.trim())
            .filter(Boolean);
    for (const t of types) {
      if (!/^[a-z0-9][a-z0-9_-]{0,29}$/.test(t)) {
        throw new GokuError(
          'GOKU_ERR_USAGE',
          `${JSON.stringify(t.slice(0, 40))} is not a process type (TYPE[,TYPE...])`,
        );
      }
      if (dep && !known.includes(t)) {
        throw new GokuError(
          'GOKU_ERR_PROCFILE',
          `${app} has no process type ${t}; it runs ${known.join(', ')}`,
        );
      }
    }
    const next = changeChecks(rec.checks, action, types, known);
    await this.d.store.update((s) => {
      const a = s.apps[app];
      if (!a) throw new GokuError('GOKU_ERR_APP_NOT_FOUND', `app ${app} does not exist`);
      if (next.disabled.length || next.skipped.length) a.checks = next;
      else delete a.checks;
    });
    return next;
  }

  checksReport(app: string): { disabled: string[]; skipped: string[] } {
    const c = this.get(app).checks;
    return { disabled: [...(c?.disabled ?? [])], skipped: [...(c?.skipped ?? [])] };
  }

  /** ps:report: Dokku's process report, from the records and the containers. */
  async psReport(app: string): Promise<{
    deployed: boolean;
    processes: number;
    running: 'true' | 'false' | 'mixed';
    restore: boolean;
    restartPolicy: string;
    scale: number;
    formation: Record<string, number>;
    status: { deployment: string; process: string; instance: number; state: string; id: string }[];
  }> {
    const rec = this.get(app);
    const list = await this.ps(app);
    const up = list.filter((c) => c.state === 'running').length;
    return {
      deployed: Object.keys(rec.deployments).length > 0,
      processes: list.length,
      running: list.length > 0 && up === list.length ? 'true' : up === 0 ? 'false' : 'mixed',
      restore: !rec.stopped,
      restartPolicy: 'unless-stopped',
      scale: rec.scale ?? 1,
      formation: Object.fromEntries(this.formation(app).types.map((t) => [t.type, t.quantity])),
      status: list.map((c) => ({
        deployment: c.deployment,
        process: c.process,
        instance: Number(/\.(\d+)$/.exec(c.name)?.[1] ?? 1),
        state: c.state,
        id: c.id,
      })),
    };
  }

  /** `url APP`: where the default deployment answers; an error says why there is none. */
  url(app: string): string {
    const rec = this.get(app);
    const route = this.d.routes.get(app);
    if (!rec.deployments[app]) {
      throw new GokuError('GOKU_ERR_NOT_DEPLOYED', `app ${app} has no default deployment yet; push it first`);
    }
    if (!route?.http || !route.domains[0]) {
      throw new GokuError(
        'GOKU_ERR_NOT_DEPLOYED',
        `app ${app} runs with no HTTP port (no EXPOSE, no config PORT), so it has no URL`,
      );
    }
    return urlOf(this.d, route.domains[0]);
  }

  /** The app's stored instance count (ps:scale); 1 when never set. */
  scaleOf(app: string): number {
    return this.get(app).scale ?? 1;
  }

  /** Every domain the app is served at: per deployment, and the extra ones (domains:add). */
  domains(app: string): { extra: string[]; deployments: Record<string, string[]> } {
    const rec = this.get(app);
    const deployments: Record<string, string[]> = {};
    for (const dep of Object.keys(rec.deployments).sort())
      deployments[dep] = this.d.routes.get(dep)?.domains ?? [];
    return { extra: [...rec.domains], deployments };
  }

  /**
   * Adds host names to the app's default deployment; all validated and checked against every
   * other app before anything is stored, then routed through nginx at once.
   */
  async addDomains(app: string, raw: string[]): Promise<string[]> {
    const rec = this.get(app);
    const wanted = [...new Set(raw.map(normalizeDomain))];
    for (const d of wanted) assertOwnDomain(d, this.d.settings.GOKU_DOMAIN, app);
    this.d.deployer.assertDomainsFree(app, app, wanted);
    const added = wanted.filter((d) => !rec.domains.includes(d));
    await this.d.store.update((s) => {
      const a = s.apps[app];
      if (a) a.domains = [...a.domains, ...added];
    });
    try {
      await this.d.reconciler.refresh(app);
    } catch (err) {
      await this.d.store.update((s) => {
        const a = s.apps[app];
        if (a) a.domains = a.domains.filter((d) => !added.includes(d));
      });
      // The change's own error is what the user gets; the reconciler's sweep retries within 5 s.
      await this.d.reconciler.refresh(app).catch(() => undefined);
      throw err;
    }
    return added;
  }

  async removeDomains(app: string, raw: string[]): Promise<string[]> {
    const rec = this.get(app);
    const gone = [...new Set(raw.map(normalizeDomain))];
    for (const d of gone) {
      if (!rec.domains.includes(d)) {
        throw new GokuError(
          'GOKU_ERR_INVALID_DOMAIN',
          `${d} is not an added domain of ${app} (default and CNAME domains come from the deployment); see goku domains ${app}`,
        );
      }
    }
    await this.d.store.update((s) => {
      const a = s.apps[app];
      if (a) a.domains = a.domains.filter((d) => !gone.includes(d));
    });
    await this.d.reconciler.refresh(app);
    return gone;
  }

  config(app: string): Record<string, string> {
    return { ...this.get(app).env };
  }

  /** Sets and unsets env vars in one change (validated before anything is touched). */
  async setConfig(
    app: string,
    change: ConfigChange,
    restart: boolean,
    by: string,
    out: Out,
    force = false,
  ): Promise<void> {
    // Refused at once if it cannot fit; the deploy applies the change to the env it finds
    // under the app's lock, so two changes queued one behind the other both take effect.
    const env = applyConfigChange(this.get(app).env, change);
    assertConfigSize(env);
    webPort(env, null); // a PORT that is not a port is refused before anything changes
    await this.d.deployer.deploy(app, { kind: 'config', by, change, restart, force }, out);
  }

  releases(app: string): ReleaseView[] {
    return [...(this.get(app).releases ?? [])].reverse().map(releaseView);
  }

  release(app: string, version: number): ReleaseView {
    const r = (this.get(app).releases ?? []).find((x) => x.version === version);
    if (!r)
      throw new GokuError(
        'GOKU_ERR_RELEASE_NOT_FOUND',
        `app ${app} has no release v${version}; see goku releases ${app}`,
      );
    return releaseView(r);
  }

  ps(app: string): Promise<Instance[]> {
    return this.d.scheduler.instances(this.d, this.get(app));
  }

  async info(app: string): Promise<AppInfo> {
    const rec = this.get(app);
    const version = versionOf(rec);
    const instances = await this.ps(app);
    let services: ServiceRecord[] = [];
    let servicesError: string | null = null;
    try {
      services = await this.d.store.services(app);
    } catch (err) {
      servicesError = oneLine(err);
    }
    const volumes = await this.d.runtime.listVolumes({ 'goku.app': app, 'goku.home': this.d.homeLabel });
    const composeOf = (dep: DeploymentView): AppInfo['deployments'][number]['compose'] => {
      if (!dep.compose) return null;
      return {
        services: Object.entries(dep.compose.services).map(([name, s]) => ({
          name,
          image: s.image,
          containers: s.containerIds.length,
          running: instances.filter(
            (i) => i.deployment === dep.name && i.process === name && i.state === 'running',
          ).length,
          port: s.port,
          domains: this.d.routes.get(composeRouteKey(dep.name, name, s.web))?.domains ?? [],
        })),
        volumes: volumes.filter((v) => v.startsWith(`${dep.name}_`)),
      };
    };
    return {
      name: rec.name,
      source: rec.image ? 'image' : 'git',
      image: rec.image ? { ...rec.image } : null,
      defaultBranch: rec.defaultBranch,
      createdAt: rec.createdAt,
      updatedAt: rec.updatedAt,
      domains: [...rec.domains],
      deployments: Object.values(rec.deployments)
        .sort((a, b) => (a.name < b.name ? -1 : 1))
        .map((dep) => ({
          name: dep.name,
          branch: dep.branch,
          commit: dep.commit,
          release: version(dep.release),
          routeId: dep.release,
          image: dep.image,
          port: dep.port,
          domains: this.d.routes.get(dep.name)?.domains ?? [],
          instances: instances.filter((i) => i.deployment === dep.name && i.state === 'running').length,
          services: services
            .filter((r) => r.name === dep.name || r.name.startsWith(`${dep.name}-`))
            .map((r) => `${r.id} ${r.address}:${r.port}`),
          deployedAt: dep.deployedAt,
          compose: composeOf(dep),
        })),
      servicesError,
    };
  }

  /** The named volumes of the app's compose deployments. */
  volumes(app: string): Promise<string[]> {
    this.get(app);
    return this.d.runtime.listVolumes({ 'goku.app': app, 'goku.home': this.d.homeLabel });
  }

  /** Log lines of the app's containers, prefixed with the instance name when there are several. */
  async logs(
    app: string,
    opts: { tail: number; follow: boolean; signal?: AbortSignal; process?: string },
    onLine: (line: string) => void,
  ): Promise<void> {
    const all = (await this.ps(app)).filter((i) => i.state === 'running' || i.state === 'restarting');
    const running = opts.process ? all.filter((i) => i.process === opts.process) : all;
    if (running.length === 0) {
      throw new GokuError(
        'GOKU_ERR_NOT_DEPLOYED',
        opts.process && all.length > 0
          ? `app ${app} has no running ${opts.process} process (running: ${[...new Set(all.map((i) => i.process))].join(', ')})`
          : `app ${app} has no running containers; push it first`,
      );
    }
    await this.d.scheduler.logs(this.d, running, opts, onLine);
  }
}

/** The X-Goku-Release a GET of `domain` through addr:port answers with (its error when none). */
function releaseAt(addr: string, port: number, domain: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: addr, port, path: '/', headers: { host: domain }, timeout: 1000 }, (res) => {
      res.resume();
      resolve(String(res.headers['x-goku-release'] ?? `status ${res.statusCode} without a release`));
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 1s')));
    req.on('error', reject);
  });
}

/** Binding the port ourselves is the one sure test that nothing else holds it. */
function assertBindable(host: string, m: PortMapping): Promise<void> {
  const taken = (err: NodeJS.ErrnoException) =>
    new GokuError(
      'GOKU_ERR_PORT_TAKEN',
      err.code === 'EADDRINUSE'
        ? `host port ${m.host}/${m.proto} is taken by another program; pick another`
        : `host port ${m.host}/${m.proto} cannot be used: ${err.message}`,
    );
  return new Promise((resolve, reject) => {
    if (m.proto === 'udp') {
      const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
      sock.once('error', (err) => {
        sock.close();
        reject(taken(err));
      });
      sock.bind(m.host, host, () => sock.close(() => resolve()));
      return;
    }
    const srv = net.createServer();
    srv.once('error', (err) => reject(taken(err)));
    srv.listen(m.host, host, () => srv.close(() => resolve()));
  });
}

/** A release as users see it: vN, with goku's routing id under its own name. */
export type ReleaseView = Omit<ReleaseRecord, 'release'> & { routeId: string };

function releaseView(r: ReleaseRecord): ReleaseView {
  const { release, ...rest } = r;
  return { ...rest, routeId: release };
}
