import { freeze, produce } from 'immer';
import type { AcmeState } from '../core/acme.js';
import type { AppScripts, HealthPlan, HttpCheck } from '../core/checks.js';
import type { HttpPortMapping, PortMapping } from '../core/routes.js';
import type { Schedule } from '../core/schedule.js';
import type { WatchPolicy } from '../core/tag-policy.js';

export interface KeyRecord {
  name: string;
  type: string;
  blob: string;
  fingerprint: string;
  admin: boolean;
  addedAt: string;
}

export interface DeploymentRecord {
  name: string;
  branch: string;
  commit: string;
  image: string;
  /** HTTP port inside the container, null when the Dockerfile exposes none (no routing). */
  port: number | null;
  /** The image's own port (EXPOSE), which a config PORT overrides; absent in older stores. */
  exposedPort?: number | null;
  /** Domains from the CNAME file of the deployed commit. */
  cnameDomains: string[];
  /** The first instance (kept for older stores); containerIds lists them all. */
  containerId: string;
  /** Every instance, in order (APP, APP.2, ...); absent in older stores. */
  containerIds?: string[];
  /** How its containers prove they are ready; absent in older stores (default check). */
  health?: HealthPlan;
  /** The Procfile of what it runs (type → command); null or absent: none, the image's CMD is web. */
  procfile?: Record<string, string> | null;
  /** app.json's formation of what it runs, when that sets the counts (ps:scale is off then). */
  appFormation?: Record<string, number> | null;
  /** app.json's liveness checks of what it runs: probed after the switch, a failing container restarted. */
  liveness?: HttpCheck[];
  /** app.json's deployment tasks of what it runs (postdeploy runs again at each config change). */
  scripts?: AppScripts;
  /** Containers of its other process types (Procfile), by type, in order; containerIds are web's. */
  workers?: Record<string, string[]>;
  /** Names this deployment's routing, sent back by nginx in X-Goku-Release to confirm a switch. */
  release: string;
  deployedAt: string;
  /** A compose app's deployment: its sources and services (its own image, port and containers are empty then). */
  compose?: ComposeRecord;
  /** GOKU_SCHEDULER=swarm: it runs as Swarm services (no containers of its own in the record). */
  swarm?: SwarmRecord;
}

/** A deployment's Swarm services: one per running process type, and its tasks' release label. */
export interface SwarmRecord {
  /** Process type → service name. */
  services: Record<string, string>;
  /** The goku.release its tasks carry: a scale keeps it (Swarm then only adds or removes tasks). */
  tasks: string;
  /** The image the services run (REGISTRY/REPO:TAG@DIGEST, or the local image on one node). */
  image: string;
  /** Process type → its replicas (what ps:start scales back to after ps:stop). */
  replicas: Record<string, number>;
  /** The web tasks' addresses on the overlay as the manager's goku last saw them (the other nodes' gokus route to them). */
  addrs?: string[];
  /** A compose deployment's: each routed service's task addresses, by service. */
  routed?: Record<string, string[]>;
}

/**
 * What a compose deployment is made from, kept with it and with each release: a config change
 * or a rollback parses the file again with the config in force, without the pushed tree.
 */
export interface ComposeSources {
  file: string;
  text: string;
  /** The tree's .env (Compose's interpolation defaults), if any. */
  dotenv: string | null;
  /** Each env_file's text, by its path in the tree. */
  envFiles: Record<string, string>;
  /** Each bind mount's host path (a copy of that part of the tree), by its path in the tree. */
  binds: Record<string, string>;
}

/** The image a compose service runs; built ones are goku's (pruned with their releases). */
export interface ServiceImage {
  image: string;
  imageId: string;
  built: boolean;
  /** A build pushed to GOKU_REGISTRY: the repository there and the push's digest. */
  registry?: string;
  digest?: string;
}

export interface ComposeRecord {
  sources: ComposeSources;
  /** By service name, in start order. */
  services: Record<string, ComposeServiceRecord>;
}

/** One service of a compose deployment as it runs. */
export interface ComposeServiceRecord extends ServiceImage {
  /** Fingerprint of its definition, image, env and count: equal means its containers are kept. */
  digest: string;
  /** Its containers, in order (DEPLOYMENT-SERVICE, DEPLOYMENT-SERVICE.2, ...). */
  containerIds: string[];
  /** The container port nginx routes to, null when not routed. */
  port: number | null;
  /** Routed at the deployment's own domains (else at SERVICE.DEPLOYMENT.DOMAIN). */
  web: boolean;
  /** The routing id of its containers (X-Goku-Release). */
  release: string;
  /** Runs to its end before what depends on it (service_completed_successfully): no container is kept. */
  oneShot?: boolean;
  /** The Swarm service that runs it (GOKU_SCHEDULER=swarm); its containers are then tasks. */
  service?: string;
}

export type ReleaseKind = 'push' | 'image' | 'restart' | 'rollback' | 'config' | 'scale' | 'rename';

/** One change of an app: every deploy attempt, successful or not, is release vN. */
export interface ReleaseRecord {
  version: number;
  kind: ReleaseKind;
  deployment: string;
  branch: string;
  commit: string;
  /** Image tag (goku/DEPLOYMENT:ID) and id; empty until built. */
  image: string;
  imageId: string;
  /** Registry digest; null for images built here (they have none until pushed). */
  digest: string | null;
  /** The app's env as this release runs it. */
  config: Record<string, string>;
  /** Key that caused it (ssh key name, or "cli" for a command on the server). */
  by: string;
  startedAt: string;
  finishedAt: string | null;
  status: 'running' | 'succeeded' | 'failed';
  reason: string | null;
  /** The release's build/deploy output, cut to the last 64 KiB. */
  log: string;
  /** Routing id of the containers (X-Goku-Release), when it got that far. */
  release: string;
  /** For a rollback: the version it went back to. */
  rollbackOf?: number;
  /** A compose release: its sources and every service's image (what a rollback runs again). */
  compose?: { sources: ComposeSources; images: Record<string, ServiceImage> };
  /** For an image release: the reference it was pulled by (canonical), to pull its digest again. */
  source?: string;
  /** A build pushed to GOKU_REGISTRY: the repository there (`digest` is the push's), to pull it back. */
  registry?: string;
  /** The Procfile it ran (null: none), so that a rollback runs its processes; absent in older stores. */
  procfile?: Record<string, string> | null;
  /** Its app.json formation, likewise. */
  appFormation?: Record<string, number> | null;
  /** Its app.json deployment tasks, likewise. */
  scripts?: AppScripts;
}

export interface AppRecord {
  name: string;
  createdAt: string;
  updatedAt: string;
  /** master or main; fixed by the first push of either unless set. */
  defaultBranch: string | null;
  env: Record<string, string>;
  /** Extra domains of the default deployment (domains:add). */
  domains: string[];
  deployments: Record<string, DeploymentRecord>;
  /** Host ports published for the default deployment (ports:add); absent in older stores. */
  ports?: PortMapping[];
  /** Extra HTTP ports of the default deployment (proxy:ports-add http:HOST:CONTAINER). */
  proxyPorts?: HttpPortMapping[];
  /** Oldest first; absent in older stores. */
  releases?: ReleaseRecord[];
  /** Instances of the default deployment's web process (ps:scale); absent means 1. */
  scale?: number;
  /** Instances of its other process types (ps:scale worker=N); a type absent runs 0, as Dokku's. */
  formation?: Record<string, number>;
  /** checks:disable / checks:skip (Dokku's): process types, or `_all_`, whose checks are off. */
  checks?: { disabled?: string[]; skipped?: string[] };
  /** ps:stop: its containers are kept stopped (not started again at goku's start) until ps:start or a deploy. */
  stopped?: boolean;
  /** The key whose first push created the app (counted by GOKU_MAX_APPS_PER_KEY); absent for apps:create. */
  createdBy?: string;
  /** An image app's source (apps:create --image); absent for git apps. */
  image?: ImageSource;
  /** HTTPS: the installed certificate's facts (its files are under GOKU_HOME/certs) and the redirect. */
  tls?: TlsSettings;
  /**
   * A shared store only (Consul): each installed certificate version's bundle (its key and
   * chain), by its id, so that every goku of a cluster serves it. Never shown by any command.
   */
  certBundles?: Record<string, string>;
}

export interface TlsSettings {
  cert?: CertMeta;
  /** certs:redirect: plain HTTP answers 308 to HTTPS. */
  redirect?: boolean;
  /** certs:redirect --hsts: HTTPS answers carry Strict-Transport-Security. */
  hsts?: boolean;
  /** certs:auto: ACME certificates for the app (absent: on while ACME is on). */
  auto?: boolean;
  /** ACME, per deployment: its certificate and the last attempt. */
  acme?: Record<string, AcmeRecord>;
}

/** One deployment's ACME certificate (files under GOKU_HOME/certs) and how its last attempt went. */
export interface AcmeRecord extends AcmeState {
  cert?: CertMeta;
}

/** What goku knows of an installed certificate (never its key). */
export interface CertMeta {
  source: 'manual' | 'acme';
  /** Its files' version: GOKU_HOME/certs/apps/APP/ID/bundle.pem. */
  id: string;
  names: string[];
  issuer: string;
  notBefore: string;
  notAfter: string;
  fingerprint: string;
  installedAt: string;
}

/** The registry image an image app follows, and what it last deployed of it. */
export interface ImageSource {
  /** Canonical reference: docker.io/library/nginx:latest, host:5000/team/app:v2. */
  ref: string;
  /** Digest deployed last (sha256:…), null before the first deploy. */
  digest: string | null;
  /** When that digest was pulled. */
  pulledAt: string | null;
  /** A webhook queued a deploy that has not finished: a restart resumes it. */
  pendingSince?: string;
  /** The reference that pending deploy switches to (a `{"service", "tag"}` hook). */
  pendingRef?: string;
  /** The registry watcher's policy (watch:*); absent: defaultPolicy() of the reference's tag. */
  watch?: WatchPolicy;
  /** When updates may deploy (schedule:set); absent: at once. */
  schedule?: Schedule;
  /** An update that arrived while the schedule held it: deployed when it allows (a newer one replaces it). */
  held?: HeldUpdate;
}

export interface HeldUpdate {
  /** The reference to deploy; its digest is asked of the registry when it deploys. */
  ref: string;
  since: string;
  /** What brought it: webhook, watcher. */
  by: string;
}

/**
 * One running instance of a deployment, as other programs can discover it: a Consul service
 * (name = deployment, id = container name) or a record in the embedded store.
 */
export interface ServiceRecord {
  /** The container name: DEPLOYMENT, DEPLOYMENT.2, ... */
  id: string;
  /** The deployment. */
  name: string;
  app: string;
  address: string;
  /** HTTP port inside the container; 0 when the Dockerfile exposes none. */
  port: number;
  tags: string[];
}

/** Credentials for one registry (registries:login); the secret only ever encrypted. */
export interface RegistryLogin {
  /** Registry host as references name it (docker.io for Docker Hub). */
  host: string;
  username: string;
  /** base64 of IV (12 bytes) | GCM tag (16 bytes) | ciphertext, under GOKU_HOME/secrets.key. */
  secret: string;
  addedAt: string;
}

export interface StoreData {
  version: 1;
  keys: KeyRecord[];
  /** Registry credentials; absent in older stores. */
  registries?: RegistryLogin[];
  apps: Record<string, AppRecord>;
  /** Service records (embedded store only; Consul keeps them in its agent). */
  services?: ServiceRecord[];
}

/** What read() hands out: the store's state, frozen (changes go through update()). */
export type Snapshot = DeepReadonly<StoreData>;

export type DeepReadonly<T> = T extends (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

export type AppView = DeepReadonly<AppRecord>;
export type DeploymentView = DeepReadonly<DeploymentRecord>;

/** A changeable copy of a part of a snapshot (to keep in a new record). */
export function thaw<T>(value: DeepReadonly<T>): T {
  return structuredClone(value) as T;
}

/**
 * The next snapshot: `fn` changes a draft of `base` (immer), and only what it changed is
 * copied; the rest is shared with `base`, and the result is frozen. With a thousand apps an
 * update costs the app it touches, not a copy of all of them. `fn` must return no part of
 * the draft (it is gone afterwards), only plain values.
 */
export function nextSnapshot<T>(base: Snapshot, fn: (draft: StoreData) => T): { next: Snapshot; result: T } {
  let result: T | undefined;
  const next = produce(base, (draft) => {
    result = fn(draft as StoreData);
  });
  return { next, result: result as T };
}

/** A snapshot from data read from disk or Consul: frozen, as every later one is. */
export function snapshotOf(data: StoreData): Snapshot {
  return freeze(data, true);
}

/**
 * The store port: a snapshot to read (never blocks, never copies: it is frozen), updates that land whole or not at all
 * (a throwing fn changes nothing), and the service records of running deployments.
 */
export interface Store {
  /** Other gokus read it too (Consul): what one installs (certificates) must travel in it. */
  readonly shared: boolean;
  /** The current state. Free to call often: one app's check need not copy a thousand apps. */
  read(): Snapshot;
  update<T>(fn: (draft: StoreData) => T): Promise<T>;
  /** Service records, of one app or of all. */
  services(app?: string): Promise<ServiceRecord[]>;
  /** Makes the app's service records exactly these (none: the app has nothing running). */
  syncServices(app: string, records: ServiceRecord[]): Promise<void>;
  close(): void;
}

/** A deployment's container ids, in order (older stores recorded only the first). */
export function containerIdsOf(dep: DeepReadonly<DeploymentRecord>): string[] {
  return (dep.containerIds ?? [dep.containerId]).filter(Boolean);
}

/** Stores ps:scale counts in the app's record: web's as `scale` (Consul's CONTAINERS), the others' in `formation`. */
export function setScale(app: AppRecord, counts: Readonly<Record<string, number>>): void {
  const { web, ...others } = counts;
  if (web !== undefined) app.scale = web;
  if (Object.keys(others).length) app.formation = { ...app.formation, ...others };
}

/** Every container of a deployment: web's, then each other process type's (or each compose service's). */
export function allContainerIdsOf(dep: DeepReadonly<DeploymentRecord>): string[] {
  return [
    ...containerIdsOf(dep),
    ...Object.values(dep.workers ?? {}).flat(),
    ...Object.values(dep.compose?.services ?? {}).flatMap((s) => s.containerIds),
  ].filter(Boolean);
}

/**
 * The name each container of a deployment has once its deploy is done: web's are DEPLOYMENT,
 * DEPLOYMENT.2, ...; another process type's DEPLOYMENT-TYPE, DEPLOYMENT-TYPE.2, ...
 */
export function containerNamesOf(
  dep: DeepReadonly<DeploymentRecord>,
  prefix: string,
): { id: string; name: string }[] {
  const named = (base: string, ids: readonly string[]) =>
    ids.map((id, i) => ({ id, name: instanceName(prefix, base, i) }));
  return [
    ...named(dep.name, containerIdsOf(dep)),
    ...Object.entries(dep.workers ?? {}).flatMap(([type, ids]) => named(`${dep.name}-${type}`, ids)),
    ...Object.entries(dep.compose?.services ?? {}).flatMap(([svc, s]) =>
      named(`${dep.name}-${svc}`, s.containerIds),
    ),
  ].filter((c) => c.id);
}

/** Instance i (from 0) of a base name: BASE, BASE.2, ... after the container prefix. */
export function instanceName(prefix: string, base: string, i: number): string {
  return `${prefix}${base}${i === 0 ? '' : `.${i + 1}`}`;
}
