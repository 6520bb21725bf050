import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { AcmeClient } from './acme/client.js';
import { AcmeManager, appTargets, forgetGoneDeployments } from './app/acme.js';
import { CertService } from './app/certs.js';
import { ClusterService } from './app/cluster.js';
import { AppEvents } from './app/events.js';
import { KeyService } from './app/keys.js';
import { Monitor } from './app/monitor.js';
import { AppOps } from './app/ops.js';
import { RegistryLogins } from './app/registries.js';
import { WatchService } from './app/watch.js';
import { commandTable } from './commands/index.js';
import type { Command, Services } from './commands/types.js';
import { ControlServer } from './control/server.js';
import { overlayName } from './core/swarm.js';
import { DockerEngine } from './docker/engine.js';
import { GokuError, oneLine } from './errors.js';
import { Repos } from './git/repos.js';
import { HttpServer } from './http/server.js';
import { ApiTls } from './http/tls.js';
import { acmeDir, PACKAGE_ROOT, packageVersion, socketPath } from './paths.js';
import type { PipelineDeps } from './pipeline/context.js';
import { Deployer } from './pipeline/deployer.js';
import { LivenessMonitor } from './pipeline/liveness.js';
import { AppLocks } from './pipeline/locks.js';
import { Reconciler } from './pipeline/reconcile.js';
import { RouteTable } from './pipeline/routing.js';
import { LocalScheduler } from './pipeline/scheduler.js';
import { SwarmFollower, SwarmScheduler } from './pipeline/swarm.js';
import { CertFiles } from './proxy/certs.js';
import { exec, isAlive, type NginxLauncher, nginxPid } from './proxy/master.js';
import { NginxProxy } from './proxy/nginx.js';
import { RegistryClient } from './registry/client.js';
import { ImageUpdates } from './registry/updates.js';
import { Watcher } from './registry/watcher.js';
import { Webhooks } from './registry/webhooks.js';
import type { ContainerRuntime } from './runtime/types.js';
import { acmeOn, httpsPortOf, type Settings } from './settings.js';
import { SshServer } from './ssh/server.js';
import { failInterruptedReleases } from './store/apps.js';
import { ConsulStore } from './store/consul.js';
import { EmbeddedStore } from './store/embedded.js';
import type { Store } from './store/types.js';

/** Debian's libnginx-mod-stream, loaded by the managed nginx when ports are published. */
const STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so';

export interface RunningGoku {
  sshPort: number;
  httpPort: number;
  stop(): Promise<void>;
}

/** Loads the admin token, generating it on first start (returned so it can be printed once). */
async function adminToken(home: string): Promise<{ token: string; created: boolean }> {
  const file = join(home, 'admin-token');
  if (existsSync(file)) return { token: readFileSync(file, 'utf8').trim(), created: false };
  const token = randomBytes(24).toString('hex');
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  return { token, created: true };
}

/**
 * The key that seals registry secrets in the store (AES-256-GCM), made on first start: it
 * stays on this host in a 0600 file, so a copy of the store (or Consul's KV) reveals none.
 */
async function secretsKey(home: string): Promise<Buffer> {
  const file = join(home, 'secrets.key');
  if (existsSync(file)) {
    const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'hex');
    if (key.length !== 32) throw new GokuError('GOKU_ERR_SETTINGS', `${file} is not a 32-byte hex key`);
    return key;
  }
  const key = randomBytes(32);
  await writeFile(file, `${key.toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  return key;
}

/** GOKU_HOME and its secrets, with the modes nginx's workers and the secrets need. */
/** Makes GOKU_HOME and its secrets; returns the admin token (GOKU_ADMIN_TOKEN wins over the file). */
async function prepareHome(home: string, log: Logger, fromEnv: string | undefined): Promise<string> {
  // Pass-through only for others: nginx's workers (user nobody) need to reach their socket and
  // temp files under GOKU_HOME/nginx; everything secret in it is 0600 or 0700 itself.
  await mkdir(home, { recursive: true, mode: 0o711 });
  await chmod(home, 0o711);
  await mkdir(join(home, 'repos'), { recursive: true, mode: 0o700 });
  await chmod(join(home, 'repos'), 0o700);
  // Work trees of earlier versions: pushes are read from git's objects now.
  await rm(join(home, 'work'), { recursive: true, force: true });
  const admin = await adminToken(home);
  if (admin.created) {
    // Never into the log (a log file outlives its reader and may be readable by others): only
    // onto a terminal, when the first start has one.
    log.info({ file: join(home, 'admin-token') }, 'admin token created (0600; `cat` it as root)');
    if (process.stderr.isTTY) process.stderr.write(`admin token (shown once): ${admin.token}\n`);
  }
  return fromEnv ?? admin.token;
}

async function connectRuntime(): Promise<ContainerRuntime> {
  const runtime = new DockerEngine();
  try {
    await runtime.ping();
  } catch (err) {
    throw new GokuError(
      'GOKU_ERR_SETTINGS',
      `cannot reach the Docker engine (${process.env.DOCKER_HOST ?? '/var/run/docker.sock'}): ${oneLine(err)}; is dockerd running?`,
    );
  }
  return runtime;
}

async function openStore(settings: Settings, home: string, log: Logger): Promise<Store> {
  if (!settings.GOKU_CONSUL_URL) return new EmbeddedStore(home);
  const store = await ConsulStore.open({
    url: settings.GOKU_CONSUL_URL,
    token: settings.GOKU_CONSUL_TOKEN,
    log,
  });
  log.info({ consul: settings.GOKU_CONSUL_URL }, 'store: Consul KV under goku/');
  return store;
}

/**
 * GOKU_SCHEDULER=swarm: on a manager goku makes and follows the services; on a worker (with the
 * shared store) it serves the cluster's apps from the manager's records. Either way its routes
 * nginx joins the apps' overlay as a container of GOKU_NGINX_IMAGE.
 */
async function swarmRole(
  settings: Settings,
  runtime: ContainerRuntime,
): Promise<{ role: 'manager'; nodeId: string } | { role: 'follower'; managers: string[] } | null> {
  if (settings.GOKU_SCHEDULER !== 'swarm') return null;
  const st = await runtime.swarmState();
  if (st.state !== 'active' || !st.nodeId) {
    throw new GokuError(
      'GOKU_ERR_SETTINGS',
      'GOKU_SCHEDULER=swarm: this Docker engine is not in a swarm; run goku cluster:init (or cluster:join) first, or unset GOKU_SCHEDULER',
    );
  }
  if (settings.GOKU_NGINX !== 'managed') {
    throw new GokuError(
      'GOKU_ERR_SETTINGS',
      "GOKU_SCHEDULER=swarm needs GOKU_NGINX=managed: goku's own routes nginx joins the apps' overlay network",
    );
  }
  if (!settings.GOKU_NGINX_IMAGE) {
    throw new GokuError(
      'GOKU_ERR_SETTINGS',
      "GOKU_SCHEDULER=swarm needs GOKU_NGINX_IMAGE (an image with nginx, such as goku's own: ./install.sh host sets it): the routes nginx runs on the apps' overlay network",
    );
  }
  if (st.manager) return { role: 'manager', nodeId: st.nodeId };
  if (!settings.GOKU_CONSUL_URL) {
    throw new GokuError(
      'GOKU_ERR_SETTINGS',
      "GOKU_SCHEDULER=swarm: this Docker engine is a swarm worker; its goku serves the cluster's apps from the shared store: set GOKU_CONSUL_URL (the manager's goku uses the same)",
    );
  }
  return { role: 'follower', managers: st.managers };
}

/**
 * goku in a container on the host's engine: its nginx masters run as containers of its own
 * image (named for GOKU_HOME), so replacing goku's container leaves app traffic alone.
 */
/** The container name of one of goku's nginx masters run as a container (GOKU_NGINX_IMAGE). */
function nginxContainerName(settings: Settings, home: string, label: string): string {
  const id = createHash('sha256').update(home).digest('hex').slice(0, 8);
  return `${settings.GOKU_CONTAINER_PREFIX}goku-${label === 'nginx' ? 'nginx' : 'edge'}-${id}`;
}

/**
 * A routes nginx left by goku in another mode (a daemon here, a container on the host's
 * network, or one on the overlay) is stopped (SIGQUIT: its requests finish), so that this start
 * runs it where this mode needs it; otherwise it would be adopted and could not reach the apps.
 */
async function retireForeignRoutesMaster(
  settings: Settings,
  home: string,
  runtime: ContainerRuntime,
  overlay: string | null,
  log: Logger,
): Promise<void> {
  if (settings.GOKU_NGINX !== 'managed') return;
  const pid = nginxPid(join(home, 'nginx', 'nginx.pid'));
  if (!pid) return;
  const name = nginxContainerName(settings, home, 'nginx');
  const c = await runtime.inspectContainer(name).catch(() => null);
  const inContainer = c?.running === true;
  const onOverlay = !!overlay && !!c?.networks.includes(overlay);
  const want = overlay ? 'overlay' : settings.GOKU_NGINX_IMAGE ? 'host' : 'daemon';
  const have = !inContainer
    ? 'daemon'
    : onOverlay
      ? 'overlay'
      : c?.networks.includes('host')
        ? 'host'
        : 'other';
  if (want === have) return;
  log.warn({ pid, have, want }, 'the routes nginx runs as goku in another mode left it; replacing it');
  process.kill(pid, 'SIGQUIT');
  for (let i = 0; i < 200 && isAlive(pid); i++) await sleep(50);
  if (c) await runtime.removeContainer(name).catch(() => undefined);
}

function nginxLauncher(
  settings: Settings,
  home: string,
  runtime: ContainerRuntime,
  /** Swarm: the overlay the routes nginx joins (the edge stays on the host's network). */
  overlay: string | null,
): NginxLauncher | undefined {
  const image = settings.GOKU_NGINX_IMAGE;
  if (!image) return undefined;
  // Natively (a swarm's routes nginx only), the edge stays a daemon on this machine.
  const edgeToo = settings.GOKU_CONTAINER_MODE !== undefined || !overlay;
  const native: NginxLauncher = (_label, args) => exec(settings.GOKU_NGINX_BIN, args);
  return async (label, args) => {
    if (label !== 'nginx' && !edgeToo) return native(label, args);
    const name = nginxContainerName(settings, home, label);
    try {
      const cmd = [settings.GOKU_NGINX_BIN, '-g', 'daemon off;', ...args];
      const network = label === 'nginx' && overlay ? { network: overlay } : {};
      await runtime.runNginxMaster({ name, image, cmd, home, label: home, ...network });
      return { code: 0, output: '' };
    } catch (err) {
      return { code: 1, output: `container ${name}: ${oneLine(err)}` };
    }
  };
}

function makeProxy(
  settings: Settings,
  home: string,
  log: Logger,
  store: Store,
  runtime: ContainerRuntime,
  overlay: string | null,
): NginxProxy {
  const launch = nginxLauncher(settings, home, runtime, overlay);
  return new NginxProxy(
    {
      mode: settings.GOKU_NGINX,
      home,
      templatesDir: join(PACKAGE_ROOT, 'templates'),
      bin: settings.GOKU_NGINX_BIN,
      systemConf: settings.GOKU_NGINX_CONF,
      systemPid: settings.GOKU_NGINX_PID,
      streamModule: STREAM_MODULE,
      proxyHost: settings.GOKU_PROXY_HOST,
      proxyPort: settings.GOKU_PROXY_PORT,
      httpsPort: httpsPortOf(settings),
      acmeWebroot: acmeOn(settings) ? join(acmeDir(home), 'webroot') : null,
      ...(launch ? { launch } : {}),
      ...(overlay ? { connectTimeout: 2, relayPorts: true } : {}),
      tls: (app) => {
        const t = store.read().apps[app]?.tls;
        return { redirect: t?.redirect === true, hsts: t?.hsts === true };
      },
    },
    log,
  );
}

function makeSsh(
  settings: Settings,
  home: string,
  log: Logger,
  p: { store: Store; repos: Repos; deployer: Deployer; ops: AppOps; services: Services; table: Command[] },
): SshServer {
  const { ops } = p;
  return new SshServer({
    hostKeyFile: join(home, 'ssh_host_ed25519_key'),
    store: p.store,
    repos: p.repos,
    deploy: (push, out) => p.deployer.deploy(push.app, { kind: 'push', push }, out),
    table: p.table,
    services: p.services,
    pushes: {
      open: (app, keyName) => ops.openPush(app, keyName),
      arrive: (app, keyName) => ops.arrivePush(app, keyName),
      close: (app, created) => ops.closePush(app, created),
    },
    log,
    limits: {
      authTimeoutMs: settings.GOKU_SSH_AUTH_TIMEOUT * 1000,
      idleTimeoutMs: settings.GOKU_SSH_IDLE_TIMEOUT * 1000,
      maxUnauth: settings.GOKU_SSH_MAX_UNAUTH,
      maxUnauthPerIp: settings.GOKU_SSH_MAX_UNAUTH_PER_IP,
    },
  });
}

/** The composition root: builds every adapter from settings and starts the endpoints. */
export async function startGoku(settings: Settings, log: Logger): Promise<RunningGoku> {
  const home = resolve(settings.GOKU_HOME);
  const token = await prepareHome(home, log, settings.GOKU_ADMIN_TOKEN);
  const runtime = await connectRuntime();
  const store = await openStore(settings, home, log);
  const swarm = await swarmRole(settings, runtime);
  const overlay = swarm ? overlayName(settings.GOKU_CONTAINER_PREFIX) : null;
  await retireForeignRoutesMaster(settings, home, runtime, overlay, log);
  const proxy = makeProxy(settings, home, log, store, runtime, overlay);
  const routes = new RouteTable(proxy);
  const { certs, acme, apiTls } = await makeCerts({ settings, home, store, routes, log });
  const locks = new AppLocks();
  const repos = new Repos(join(home, 'repos'), join(PACKAGE_ROOT, 'hooks'), settings.GOKU_MAX_PUSH_BYTES);
  const homeLabel = home;
  const clock = () => new Date();
  const events = new AppEvents();
  const { registry, logins } = await makeRegistry(settings, home, store);
  const pipeline: PipelineDeps = {
    settings: { ...settings, GOKU_HOME: home },
    store,
    runtime,
    repos,
    routes,
    locks,
    registry,
    log,
    homeLabel,
    clock,
    events,
    scheduler: new LocalScheduler(),
  };
  if (swarm?.role === 'manager') pipeline.scheduler = new SwarmScheduler(pipeline, swarm.nodeId);
  if (swarm?.role === 'follower') pipeline.scheduler = new SwarmFollower(pipeline, swarm.managers);
  const { scheduler } = pipeline;
  const deployer = new Deployer(pipeline);
  const reconciler = new Reconciler({ settings, store, runtime, routes, locks, log, homeLabel, scheduler });
  // A worker's goku: another goku changed an app's HTTPS (certs:add, ACME, certs:redirect); the
  // routes render its choices again, and the certificates' files and links follow (certs.sync).
  const tlsSeen = new Map<string, string>();
  await scheduler.start((app) => {
    reconciler.refresh(app).catch((err) => log.error({ app, err: oneLine(err) }, 'route update failed'));
    if (swarm?.role !== 'follower') return;
    const rec = store.read().apps[app];
    const tls = JSON.stringify([rec?.tls ?? null, Object.keys(rec?.certBundles ?? {})]);
    if (tlsSeen.get(app) === tls) return;
    tlsSeen.set(app, tls);
    routes.change([], []).catch((err) => log.error({ app, err: oneLine(err) }, 'HTTPS update failed'));
  });

  await resumeRouting({ store, reconciler, routes, proxy, log });
  await certs.sync();

  const ops = new AppOps({ ...pipeline, settings, deployer, reconciler, streamModule: STREAM_MODULE, certs });
  const images = await followImages({ settings, home, store, deployer, registry, log, clock });
  const { webhooks, watch } = images;
  const keys = new KeyService(store);
  const version = packageVersion();
  const services: Services = {
    settings,
    store,
    ops,
    keys,
    registries: logins,
    webhooks,
    watch,
    certs,
    cluster: new ClusterService(runtime, { 'goku.home': homeLabel }),
    version,
  };
  const endpoints = await listen(settings, home, log, {
    store,
    repos,
    deployer,
    ops,
    services,
    webhooks,
    token,
    events,
    monitor: new Monitor({ settings, store, runtime, routes, events, homeLabel }),
    apiTls,
  });
  log.info(
    { ssh: endpoints.sshPort, http: endpoints.httpPort, proxy: settings.GOKU_PROXY_PORT, home },
    'goku is ready',
  );
  // A worker's goku deploys nothing: image updates and certificates are the manager's goku's.
  const follower = swarm?.role === 'follower';
  if (!follower) {
    images.updates.resume();
    images.watcher.start();
  }
  const liveness = new LivenessMonitor({ ...pipeline, refresh: (app) => reconciler.refresh(app) });
  liveness.start();
  if (!follower) acme?.start();

  return {
    sshPort: endpoints.sshPort,
    httpPort: endpoints.httpPort,
    async stop() {
      images.watcher.stop();
      liveness.stop();
      acme?.stop();
      registry.close();
      scheduler.stop();
      reconciler.stop();
      proxy.stop();
      await endpoints.close();
      store.close();
    },
  };
}

/**
 * HTTPS certificates: the user's own (certs:add) and, with GOKU_ACME_EMAIL, ACME's for every
 * deployment; the edge finds them through links that follow every route change.
 */
async function makeCerts(d: {
  settings: Settings;
  home: string;
  store: Store;
  routes: RouteTable;
  log: Logger;
}): Promise<{ certs: CertService; acme: AcmeManager | null; apiTls: ApiTls }> {
  const { settings, store, routes, log } = d;
  const files = new CertFiles(d.home);
  const apiTls = new ApiTls({ settings, files, clock: () => new Date(), log });
  let acme: AcmeManager | null = null;
  const certs = new CertService({
    store,
    routes,
    files,
    settings,
    clock: () => new Date(),
    acme: { kick: () => acme?.kick() },
  });
  // Without HTTPS nothing reads certificates: no openssl is needed then.
  if (certs.httpsPort() || settings.GOKU_HTTP_TLS_DOMAIN) await files.init();
  // Bad GOKU_HTTP_TLS_CERT/_KEY files stop the start here, with one line, before anything listens.
  apiTls.initial();
  if (acmeOn(settings)) {
    const client = new AcmeClient({
      directory: settings.GOKU_ACME_DIRECTORY,
      email: settings.GOKU_ACME_EMAIL as string,
      ca: settings.GOKU_ACME_CA ? readSettingFile('GOKU_ACME_CA', settings.GOKU_ACME_CA) : null,
      dir: acmeDir(d.home),
    });
    await client.init();
    const sync = () => certs.sync();
    acme = new AcmeManager({
      issue: (names, key) => client.issue(names, key),
      targets: () => {
        const own = apiTls.target();
        return [...(certs.acmeOn() ? appTargets({ store, routes, files, sync }) : []), ...(own ? [own] : [])];
      },
      tidy: () => forgetGoneDeployments({ store, files }),
      clock: () => new Date(),
      log,
    });
    log.info({ directory: settings.GOKU_ACME_DIRECTORY }, 'ACME: certificates for every app');
  }
  routes.onChange(async () => {
    acme?.kick();
    await certs
      .sync()
      .catch((err) => log.error({ err: oneLine(err) }, 'could not update the certificate links'));
  });
  return { certs, acme, apiTls };
}

/** A file a setting names, read at start; unreadable is a one-line settings error. */
function readSettingFile(setting: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new GokuError('GOKU_ERR_SETTINGS', `${setting}: cannot read ${file}: ${oneLine(err)}`);
  }
}

/** What the last stop left: interrupted releases marked failed, routes as the containers say, nginx up. */
async function resumeRouting(d: {
  store: Store;
  reconciler: Reconciler;
  routes: RouteTable;
  proxy: NginxProxy;
  log: Logger;
}): Promise<void> {
  const interrupted = await failInterruptedReleases(d.store);
  if (interrupted)
    d.log.warn({ releases: interrupted }, 'marked releases interrupted by the last stop as failed');
  const initial = await d.reconciler.initialRoutes();
  d.routes.seed(initial);
  await d.proxy.start(initial);
  void d.reconciler.watch();
}

/** How image apps follow their registry: the update gate, the watcher, webhooks, and their commands. */
async function followImages(d: {
  settings: Settings;
  home: string;
  store: Store;
  deployer: Deployer;
  registry: RegistryClient;
  log: Logger;
  clock: () => Date;
}): Promise<{ updates: ImageUpdates; watcher: Watcher; webhooks: Webhooks; watch: WatchService }> {
  const { store, deployer, log, clock } = d;
  const updates = new ImageUpdates({ store, deployer, log, clock });
  const watcher = new Watcher({
    store,
    registry: d.registry,
    updates,
    log,
    interval: d.settings.GOKU_WATCH_INTERVAL,
    clock,
  });
  const webhooks = new Webhooks({
    store,
    updates,
    settings: d.settings,
    log,
    secretFile: join(d.home, 'webhook-secret'),
  });
  await webhooks.init();
  return { updates, watcher, webhooks, watch: new WatchService({ store, watcher, deployer, clock }) };
}

/** The registry client and the stored logins: the client reads their credentials, they verify through it. */
async function makeRegistry(
  settings: Settings,
  home: string,
  store: Store,
): Promise<{ registry: RegistryClient; logins: RegistryLogins }> {
  let logins: RegistryLogins | null = null;
  const registry = new RegistryClient({
    dockerHubRegistry: settings.GOKU_DOCKERHUB_REGISTRY ?? null,
    credentials: (host) => logins?.credentials(host) ?? null,
  });
  logins = new RegistryLogins(store, await secretsKey(home), (host, creds) =>
    registry.verifyLogin(host, creds),
  );
  return { registry, logins };
}

/** The three ways in: the local control socket (the CLI), ssh, and HTTP. */
async function listen(
  settings: Settings,
  home: string,
  log: Logger,
  d: Omit<Parameters<typeof makeSsh>[3], 'table'> & {
    webhooks: Webhooks;
    token: string;
    events: AppEvents;
    monitor: Monitor;
    apiTls: ApiTls;
  },
): Promise<{ sshPort: number; httpPort: number; close(): Promise<void> }> {
  const table = commandTable();
  const ssh = makeSsh(settings, home, log, { ...d, table });
  const sshPort = await ssh.listen(settings.GOKU_SSH_HOST, settings.GOKU_SSH_PORT);
  const http = new HttpServer({
    table,
    services: d.services,
    events: d.events,
    monitor: d.monitor,
    adminToken: d.token,
    log,
    tls: d.apiTls,
  });
  const httpPort = await http.listen(settings.GOKU_HTTP_HOST, settings.GOKU_HTTP_PORT);
  // The control socket last: install.sh (and anyone) takes its appearance for "goku is up".
  const control = new ControlServer(socketPath(home), { table, services: d.services, log });
  await control.listen();
  return {
    sshPort,
    httpPort,
    close: async () => {
      await Promise.all([ssh.close(), http.close(), control.close()]);
    },
  };
}
