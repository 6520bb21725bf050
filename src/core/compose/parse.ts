import { isIP } from 'node:net';
import { posix } from 'node:path';
import { isMap, LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { GokuError } from '../../errors.js';
import { interpolate } from './interpolate.js';
import { CONDITIONS, HOST_KEYS, NESTED_KEYS, SERVICE_KEYS, TOP_KEYS } from './keys.js';

/** A compose file past this is refused before it is parsed. */
export const MAX_COMPOSE_BYTES = 256 * 1024;

/**
 * What one app may declare: each service is a build, each network takes one of the engine's
 * address pools (about thirty on a default engine, shared by every app) and each volume disk.
 */
export const COMPOSE_LIMITS = { services: 32, networks: 4, volumes: 32, mounts: 16 } as const;

export type Condition = (typeof CONDITIONS)[number];

export interface ServiceVolume {
  type: 'volume' | 'bind';
  /** A named volume, a path inside the tree (normalised, relative), or null (anonymous). */
  source: string | null;
  target: string;
  readOnly: boolean;
}

export interface ComposeService {
  name: string;
  build: { context: string; dockerfile: string; args: Record<string, string>; target: string | null } | null;
  image: string | null;
  command: string[] | string | null;
  entrypoint: string[] | string | null;
  /** null: the variable's value comes from the app's config (`environment: [KEY]`). */
  environment: Record<string, string | null>;
  envFiles: string[];
  ports: { target: number; published: number | null; protocol: 'tcp' | 'udp' }[];
  expose: number[];
  volumes: ServiceVolume[];
  dependsOn: Record<string, Condition>;
  /** depends_on entries with `restart: true`: replacing that service replaces this one too. */
  restartWith: string[];
  /** depends_on entries with `required: false`: this one runs without them (a profile left out). */
  optional: string[];
  healthcheck: {
    test: string[];
    interval: string | null;
    timeout: string | null;
    retries: number | null;
    startPeriod: string | null;
  } | null;
  restart: 'no' | 'always' | 'on-failure' | 'unless-stopped' | null;
  labels: Record<string, string>;
  workingDir: string | null;
  user: string | null;
  replicas: number;
  networks: string[];
  /** Run with an init process (goku's default: yes). */
  init: boolean;
  /** How long a stop waits before SIGKILL (default GOKU_STOP_GRACE), and with which signal. */
  stopGraceMs: number | null;
  stopSignal: string | null;
  tty: boolean;
  stdinOpen: boolean;
  hostname: string | null;
  /** HOST:IP lines for /etc/hosts. */
  extraHosts: string[];
  /** Limits (mem_limit / cpus, or deploy.resources.limits): bytes and CPUs. */
  memoryBytes: number | null;
  cpus: number | null;
  /** tmpfs mounts (absolute paths). */
  tmpfs: string[];
  shmBytes: number | null;
  /** Compose profiles: a service with any runs only when one is active (COMPOSE_PROFILES). */
  profiles: string[];
}

export interface ComposeProject {
  /** In the order of the file. */
  services: ComposeService[];
  volumes: string[];
  networks: string[];
  /** What goku does differently from Compose with this file, one line each (said at the push). */
  notes: string[];
}

type Plain = Record<string, unknown>;

/**
 * Parses, checks and interpolates a compose file from a pushed tree. Every refusal is one
 * GOKU_ERR_COMPOSE line naming the file, the key and its line.
 */
export function parseCompose(
  text: string,
  opts: { file: string; vars: Readonly<Record<string, string>> },
): ComposeProject {
  if (Buffer.byteLength(text) > MAX_COMPOSE_BYTES) {
    throw new GokuError('GOKU_ERR_COMPOSE', `${opts.file} is over ${MAX_COMPOSE_BYTES / 1024} KiB`);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, merge: true, uniqueKeys: true, prettyErrors: false });
  const first = doc.errors[0];
  if (first) {
    const at = lines.linePos(first.pos[0]).line;
    throw new GokuError('GOKU_ERR_COMPOSE', `${opts.file} line ${at}: ${first.message.split('\n')[0]}`);
  }
  const lineOf = (path: (string | number)[]): string => {
    for (let n = path.length; n > 0; n--) {
      const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      if (node?.range) return ` line ${lines.linePos(node.range[0]).line}`;
    }
    return '';
  };
  const fail = (path: (string | number)[], what: string) =>
    new GokuError('GOKU_ERR_COMPOSE', `${opts.file}${lineOf(path)}: ${path.join('.')}: ${what}`);
  if (!isMap(doc.contents))
    throw new GokuError('GOKU_ERR_COMPOSE', `${opts.file}: the file is not a map of keys`);
  const raw = doc.toJS({ maxAliasCount: 200 }) as Plain;
  checkKeys(raw, fail);
  const data = interpolateAll(raw, opts.vars, []) as Plain;
  return build(data, fail);
}

type Fail = (path: (string | number)[], what: string) => GokuError;

/** Every key at every level is one goku runs; extension fields (x-...) are skipped. */
function checkKeys(raw: Plain, fail: Fail): void {
  for (const key of Object.keys(raw)) {
    if (!key.startsWith('x-') && !(TOP_KEYS as readonly string[]).includes(key))
      throw fail([key], unsupported(key));
  }
  const services = raw.services;
  if (
    !services ||
    typeof services !== 'object' ||
    Array.isArray(services) ||
    Object.keys(services).length === 0
  ) {
    throw fail(['services'], 'a map of at least one service is needed');
  }
  for (const [name, svc] of Object.entries(services as Plain)) {
    if (!svc || typeof svc !== 'object' || Array.isArray(svc))
      throw fail(['services', name], 'is not a map of keys');
    for (const key of Object.keys(svc)) {
      if (key.startsWith('x-')) continue;
      const host = HOST_KEYS[key];
      if (host)
        throw fail(
          ['services', name, key],
          `refused: it ${host}; goku runs no container with the host's powers`,
        );
      if (!(SERVICE_KEYS as readonly string[]).includes(key))
        throw fail(['services', name, key], unsupported(key));
    }
    checkNested(svc as Plain, ['services', name], fail);
  }
  for (const top of ['volumes', 'networks']) checkNested(raw, [], fail, top);
}

function unsupported(key: string): string {
  return `key ${JSON.stringify(key)} is not supported by goku (see the README's compose section)`;
}

/** The nested maps of NESTED_KEYS under `value` at `path`; extension keys (x-...) are skipped. */
function checkNested(value: Plain, path: (string | number)[], fail: Fail, only?: string): void {
  for (const [key, child] of Object.entries(value)) {
    if ((only && key !== only) || key.startsWith('x-')) continue;
    if (!child || typeof child !== 'object') continue;
    const here = [...path, key];
    const allowed = NESTED_KEYS[patternOf(here)];
    if (allowed && !Array.isArray(child)) {
      for (const k of Object.keys(child)) {
        if (!k.startsWith('x-') && !allowed.includes(k)) throw fail([...here, k], unsupported(k));
      }
    }
    checkNested(child as Plain, here, fail);
  }
}

/** The NESTED_KEYS form of a path: service names and entries as `*`. */
function patternOf(path: (string | number)[]): string {
  const p = path.map(String);
  if (p[0] === 'services' && p.length > 1) {
    p[1] = '*';
    if (p.length > 3 && ['depends_on', 'ports', 'volumes'].includes(p[2] as string)) p[3] = '*';
  } else if ((p[0] === 'volumes' || p[0] === 'networks') && p.length > 1) p[1] = '*';
  return p.join('.');
}

/** Compose interpolates values, never keys; extension fields are left alone. */
function interpolateAll(
  value: unknown,
  vars: Readonly<Record<string, string>>,
  path: (string | number)[],
): unknown {
  if (typeof value === 'string') return interpolate(value, vars, path.join('.'));
  if (Array.isArray(value)) return value.map((v, i) => interpolateAll(v, vars, [...path, i]));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [
        k,
        k.startsWith('x-') ? v : interpolateAll(v, vars, [...path, k]),
      ]),
    );
  }
  return value;
}

const scalar = z.union([z.string(), z.number(), z.boolean()]).transform(String);
const stringList = z.union([z.string(), z.array(scalar)]);
const mapOrList = z.union([z.record(z.string(), scalar.nullable()), z.array(z.string())]);

/** The project from interpolated data: shapes checked, names and references resolved. */
function build(data: Plain, fail: Fail): ComposeProject {
  const volumes = topLevel(data, 'volumes', fail);
  const networks = topLevel(data, 'networks', fail);
  const count = Object.keys(data.services as Plain).length;
  if (count > COMPOSE_LIMITS.services)
    throw fail(['services'], `${count} services; an app runs at most ${COMPOSE_LIMITS.services}`);
  const services = Object.entries(data.services as Plain).map(([name, svc]) =>
    service(name, svc as Plain, { volumes, networks }, fail),
  );
  const notes: string[] = [];
  for (const [name, svc] of Object.entries(data.services as Plain)) {
    if ((svc as Plain).container_name !== undefined)
      notes.push(`container_name of ${name} is not used: goku names its containers APP-${name}`);
  }
  for (const s of services) {
    // Each anonymous volume is made anew for every container.
    if (s.volumes.length > COMPOSE_LIMITS.mounts)
      throw fail(
        ['services', s.name, 'volumes'],
        `${s.volumes.length} mounts; a service has at most ${COMPOSE_LIMITS.mounts}`,
      );
    const named = s.volumes.some((v) => v.type === 'volume' && v.source !== null);
    if (named && s.replicas > 1) {
      throw fail(
        ['services', s.name, 'deploy', 'replicas'],
        `${s.replicas} replicas would share its named volumes; a service with named volumes runs one container`,
      );
    }
    for (const p of s.ports) {
      if (p.published !== null)
        notes.push(
          `port ${p.published} of ${s.name} is not bound on the host: goku's nginx serves the service (goku ports:add publishes a port)`,
        );
    }
  }
  const names = new Set(services.map((s) => s.name));
  for (const s of services) {
    for (const dep of Object.keys(s.dependsOn)) {
      if (!names.has(dep))
        throw fail(['services', s.name, 'depends_on', dep], `no service ${JSON.stringify(dep)}`);
    }
  }
  const cycle = findCycle(services);
  if (cycle) throw fail(['services', cycle[0] as string, 'depends_on'], `a cycle: ${cycle.join(' -> ')}`);
  return { services, volumes, networks, notes };
}

/**
 * The names of the top-level volumes or networks. Each is the app's own (APP_NAME): one
 * outside the app (external, or a name of its own) could be another app's database.
 */
function topLevel(data: Plain, key: 'volumes' | 'networks', fail: Fail): string[] {
  const map = (data[key] as Plain | null) ?? {};
  const max = COMPOSE_LIMITS[key];
  if (Object.keys(map).length > max)
    throw fail([key], `${Object.keys(map).length} ${key}; an app declares at most ${max}`);
  for (const [name, spec] of Object.entries(map)) {
    const v = (spec ?? {}) as Plain;
    if (v.external !== undefined && v.external !== false)
      throw fail([key, name, 'external'], `refused: an app uses only its own ${key}, never one outside it`);
    if (v.name !== undefined)
      throw fail([key, name, 'name'], `refused: goku names ${key} APP_${name}, so no app can take another's`);
    const local = key === 'volumes' ? 'local' : 'bridge';
    if (v.driver !== undefined && v.driver !== local)
      throw fail([key, name, 'driver'], `only the ${local} driver runs here`);
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/.test(name))
      throw fail([key, name], 'names are letters, digits, _, . and -');
  }
  return Object.keys(map);
}

const SERVICE_NAME = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;

/** Reads one key of a service with its schema; a mismatch names the key and its line. */
type Reader = <T>(key: string, schema: z.ZodType<T>) => T | undefined;

function service(
  name: string,
  s: Plain,
  top: { volumes: string[]; networks: string[] },
  fail: Fail,
): ComposeService {
  if (!SERVICE_NAME.test(name)) {
    throw fail(
      ['services', name],
      'service names are lowercase letters, digits and -, at most 32 (they name containers and domains)',
    );
  }
  const at = (key: string) => ['services', name, key];
  const read: Reader = (key, schema) => {
    if (s[key] === undefined || s[key] === null) return undefined;
    const r = schema.safeParse(s[key]);
    if (!r.success) {
      const issue = r.error.issues[0];
      throw fail(
        [...at(key), ...((issue?.path ?? []) as (string | number)[])],
        issue?.message ?? 'is invalid',
      );
    }
    return r.data;
  };
  const build = buildOf(
    read('build', z.union([z.string(), z.record(z.string(), z.unknown())])),
    at('build'),
    fail,
  );
  const image = read('image', z.string().min(1)) ?? null;
  if (!build && !image) throw fail(['services', name], 'needs build or image');
  return { name, build, image, ...processOf(read, at, fail), ...wiringOf(read, at, top, fail) };
}

/** What runs and how: command, entrypoint, environment, user, directory, restart, labels, limits. */
function processOf(read: Reader, at: (key: string) => (string | number)[], fail: Fail) {
  const deploy = read(
    'deploy',
    z.object({
      replicas: z.coerce.number().int().min(0).max(100).optional(),
      resources: z
        .object({ limits: z.object({ cpus: scalar.optional(), memory: scalar.optional() }).optional() })
        .optional(),
    }),
  );
  return {
    command: read('command', stringList) ?? null,
    entrypoint: read('entrypoint', stringList) ?? null,
    environment: keyValues(read('environment', mapOrList), at('environment'), fail),
    envFiles: [read('env_file', stringList) ?? []]
      .flat()
      .map((f, i) => insideTree(f, [...at('env_file'), i], fail)),
    restart: read('restart', z.enum(['no', 'always', 'on-failure', 'unless-stopped'])) ?? null,
    labels: Object.fromEntries(
      Object.entries(keyValues(read('labels', mapOrList), at('labels'), fail)).map(([k, v]) => [k, v ?? '']),
    ),
    workingDir: read('working_dir', z.string()) ?? null,
    user: read('user', scalar) ?? null,
    replicas: deploy?.replicas ?? 1,
    ...limitsOf(read, deploy, at, fail),
    init: read('init', z.boolean()) ?? true,
    stopGraceMs:
      durationMs(durationText(read('stop_grace_period', scalar), at('stop_grace_period'), fail)) ?? null,
    stopSignal:
      read(
        'stop_signal',
        z.string().regex(/^(SIG[A-Z0-9+-]+|[A-Z0-9]+|\d{1,2})$/, 'is a signal (SIGTERM, 15)'),
      ) ?? null,
    tty: read('tty', z.boolean()) ?? false,
    stdinOpen: read('stdin_open', z.boolean()) ?? false,
    hostname:
      read('hostname', z.string().regex(/^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,62})$/, 'is a host name')) ?? null,
    extraHosts: extraHostsOf(read('extra_hosts', mapOrList), at('extra_hosts'), fail),
    tmpfs: [read('tmpfs', stringList) ?? []].flat().map((t, i) => {
      const path = String(t).split(':')[0] as string;
      if (!posix.isAbsolute(path))
        throw fail([...at('tmpfs'), i], `${JSON.stringify(t)} is not an absolute path`);
      return path;
    }),
    shmBytes: bytesOf(read('shm_size', scalar), at('shm_size'), fail),
    profiles: [read('profiles', stringList) ?? []].flat().map(String),
  };
}

/** mem_limit and cpus, or deploy.resources.limits (Compose's two spellings of the same). */
function limitsOf(
  read: Reader,
  deploy: { resources?: { limits?: { cpus?: string; memory?: string } } } | undefined,
  at: (key: string) => (string | number)[],
  fail: Fail,
): { memoryBytes: number | null; cpus: number | null } {
  const lim = deploy?.resources?.limits;
  const memory =
    bytesOf(read('mem_limit', scalar), at('mem_limit'), fail) ??
    bytesOf(lim?.memory, [...at('deploy'), 'resources', 'limits', 'memory'], fail);
  const cpuText = read('cpus', scalar) ?? lim?.cpus;
  let cpus: number | null = null;
  if (cpuText !== undefined) {
    cpus = Number(cpuText);
    if (!Number.isFinite(cpus) || cpus <= 0 || cpus > 1024)
      throw fail(at('cpus'), `${JSON.stringify(cpuText)} is not a CPU count`);
  }
  return { memoryBytes: memory, cpus };
}

/** `1g`, `512m`, `64mb`, `1024`: bytes. */
function bytesOf(v: string | undefined, path: (string | number)[], fail: Fail): number | null {
  if (v === undefined) return null;
  const m = /^(\d+(?:\.\d+)?)\s*([bkmg]?)b?$/i.exec(String(v).trim());
  if (!m) throw fail(path, `${JSON.stringify(v)} is not a size (512m, 1g)`);
  const unit = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m[2] as string).toLowerCase()] as number;
  return Math.round(Number(m[1]) * unit);
}

/** A Compose duration (`1m30s`, `500ms`): its text, checked (null when absent). */
function durationText(v: unknown, path: (string | number)[], fail: Fail): string | null {
  if (v === undefined) return null;
  const text = String(v);
  if (!/^(\d+(\.\d+)?(us|ms|s|m|h))+$/.test(text))
    throw fail(path, `${JSON.stringify(text)} is not a duration (30s, 1m30s)`);
  return text;
}

/** A checked Compose duration (`1m30s`, `500ms`, `2.5s`) in milliseconds; null stays undefined. */
export function durationMs(d: string | null): number | undefined {
  if (d === null) return undefined;
  const unit: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  for (const m of d.matchAll(/(\d+(?:\.\d+)?)(us|ms|s|m|h)/g))
    total += Number(m[1]) * (unit[m[2] as string] ?? 0);
  return Math.round(total);
}

/** `HOST:IP` (or `HOST=IP`) lines, or a map of host to IP; the IP must be one. */
function extraHostsOf(v: Plain | string[] | undefined, path: (string | number)[], fail: Fail): string[] {
  if (!v) return [];
  const pairs = Array.isArray(v)
    ? v.map((line) => {
        const m = /^([^:=\s]+)[:=](.+)$/.exec(line);
        return [m?.[1] ?? '', m?.[2] ?? ''] as const;
      })
    : Object.entries(v).map(([h, ip]) => [h, String(ip ?? '')] as const);
  return pairs.map(([host, ip], i) => {
    if (!/^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,252})$/.test(host) || (isIP(ip) === 0 && ip !== 'host-gateway'))
      throw fail([...path, i], `${JSON.stringify(`${host}:${ip}`)} is not HOST:IP`);
    return `${host}:${ip}`;
  });
}

/** How it connects: ports, volumes, dependencies, health, networks. */
function wiringOf(
  read: Reader,
  at: (key: string) => (string | number)[],
  top: { volumes: string[]; networks: string[] },
  fail: Fail,
) {
  const entries = <T>(key: string, schema: z.ZodType<T>) => (read(key, z.array(schema)) ?? []) as T[];
  const depends = z.union([
    z.array(z.string()),
    z.record(z.string(), z.record(z.string(), scalar).nullable()),
  ]);
  return {
    ports: entries('ports', z.union([scalar, z.record(z.string(), scalar)])).map((p, i) =>
      portOf(p, [...at('ports'), i], fail),
    ),
    expose: entries('expose', scalar).map((p, i) =>
      portNumber(String(p).replace(/\/tcp$/, ''), [...at('expose'), i], fail),
    ),
    volumes: entries('volumes', z.union([z.string(), z.record(z.string(), z.unknown())])).map((v, i) =>
      volumeOf(v, top.volumes, [...at('volumes'), i], fail),
    ),
    dependsOn: dependsOn(read('depends_on', depends), at('depends_on'), fail),
    ...dependsFlags(read('depends_on', depends)),
    healthcheck: healthcheckOf(
      read('healthcheck', z.record(z.string(), z.unknown())),
      at('healthcheck'),
      fail,
    ),
    networks: networksOf(
      read('networks', z.union([z.array(z.string()), z.record(z.string(), z.unknown())])),
      top.networks,
      at('networks'),
      fail,
    ),
  };
}

function buildOf(
  b: string | Plain | undefined,
  path: (string | number)[],
  fail: Fail,
): ComposeService['build'] {
  if (b === undefined) return null;
  const spec = typeof b === 'string' ? { context: b } : b;
  const context = insideTree(String(spec.context ?? '.'), [...path, 'context'], fail);
  const dockerfile = String(spec.dockerfile ?? 'Dockerfile');
  if (posix.isAbsolute(dockerfile) || posix.normalize(posix.join(context, dockerfile)).startsWith('..')) {
    throw fail([...path, 'dockerfile'], 'must be a file inside the repository');
  }
  const args = keyValues(
    Array.isArray(spec.args) || (spec.args && typeof spec.args === 'object')
      ? (spec.args as Plain | string[])
      : undefined,
    [...path, 'args'],
    fail,
  );
  return {
    context,
    dockerfile,
    args: Object.fromEntries(Object.entries(args).filter((e): e is [string, string] => e[1] !== null)),
    target: spec.target === undefined ? null : String(spec.target),
  };
}

/** A path of the pushed tree, normalised and relative; anything that leaves the tree is refused. */
function insideTree(p: string, path: (string | number)[], fail: Fail): string {
  if (p.startsWith('~') || posix.isAbsolute(p)) {
    throw fail(
      path,
      `${JSON.stringify(p)} is outside the repository: only paths inside it (./...) may be used`,
    );
  }
  const n = posix.normalize(p);
  if (n === '..' || n.startsWith('../')) {
    throw fail(path, `${JSON.stringify(p)} leaves the repository: only paths inside it may be used`);
  }
  return n;
}

/** `KEY=VALUE` lists and maps alike; `KEY` alone (or a null value) takes the app's config. */
function keyValues(
  v: Plain | string[] | undefined,
  path: (string | number)[],
  fail: Fail,
): Record<string, string | null> {
  if (!v) return {};
  if (Array.isArray(v)) {
    const out: Record<string, string | null> = {};
    v.forEach((entry, i) => {
      const eq = entry.indexOf('=');
      const key = eq < 0 ? entry : entry.slice(0, eq);
      if (!key || key === '__proto__') throw fail([...path, i], `${JSON.stringify(entry)} is not KEY=VALUE`);
      out[key] = eq < 0 ? null : entry.slice(eq + 1);
    });
    return out;
  }
  return Object.fromEntries(
    Object.entries(v).map(([k, x]) => [k, x === null || x === undefined ? null : String(x)]),
  );
}

function portNumber(p: string, path: (string | number)[], fail: Fail): number {
  const n = Number(p);
  if (!/^\d{1,5}$/.test(p) || n < 1 || n > 65535)
    throw fail(path, `${JSON.stringify(p)} is not a port (1-65535)`);
  return n;
}

/** `"8080:80"`, `"80"`, `"127.0.0.1:8080:80/udp"` or `{target, published, protocol}`. */
function portOf(
  p: string | Record<string, string>,
  path: (string | number)[],
  fail: Fail,
): ComposeService['ports'][number] {
  if (typeof p === 'object') {
    const protocol = (p.protocol ?? 'tcp') as 'tcp' | 'udp';
    if (protocol !== 'tcp' && protocol !== 'udp') throw fail([...path, 'protocol'], 'is tcp or udp');
    return {
      target: portNumber(String(p.target), [...path, 'target'], fail),
      published:
        p.published === undefined ? null : portNumber(String(p.published), [...path, 'published'], fail),
      protocol,
    };
  }
  const m =
    /^(?:(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-f:]+\]):)?(?:(\d+)(?:-\d+)?:)?(\d+)(?:-\d+)?(?:\/(tcp|udp))?$/.exec(
      p,
    );
  if (!m) throw fail(path, `${JSON.stringify(p)} is not [HOST:]CONTAINER[/PROTOCOL]`);
  return {
    target: portNumber(m[2] as string, path, fail),
    published: m[1] ? portNumber(m[1], path, fail) : null,
    protocol: (m[3] ?? 'tcp') as 'tcp' | 'udp',
  };
}

/** Short (`name:/path[:ro]`, `./dir:/path`, `/path`) or long syntax; bind mounts stay in the tree. */
function volumeOf(
  v: string | Plain,
  declared: string[],
  path: (string | number)[],
  fail: Fail,
): ServiceVolume {
  let type: 'volume' | 'bind';
  let source: string | null;
  let target: string;
  let readOnly = false;
  if (typeof v === 'string') {
    const parts = v.split(':');
    if (parts.length === 1) [type, source, target] = ['volume', null, parts[0] as string];
    else {
      const [src, tgt, mode] = parts as [string, string, string | undefined];
      if (parts.length > 3 || (mode !== undefined && !/^(ro|rw)$/.test(mode))) {
        throw fail(path, `${JSON.stringify(v)} is not SOURCE:TARGET[:ro|rw]`);
      }
      type = /^[./~]/.test(src) ? 'bind' : 'volume';
      [source, target, readOnly] = [src, tgt, mode === 'ro'];
    }
  } else {
    type =
      v.type === 'bind'
        ? 'bind'
        : v.type === 'volume' || v.type === undefined
          ? 'volume'
          : (() => {
              throw fail([...path, 'type'], 'is volume or bind');
            })();
    source = v.source === undefined ? null : String(v.source);
    target = String(v.target ?? '');
    readOnly = v.read_only === true;
  }
  if (!posix.isAbsolute(target))
    throw fail(path, `the target ${JSON.stringify(target)} is not an absolute path in the container`);
  if (type === 'bind') source = insideTree(source ?? '', path, fail);
  else if (source !== null && !declared.includes(source)) {
    throw fail(path, `volume ${JSON.stringify(source)} is not declared under the top-level volumes`);
  }
  return { type, source, target, readOnly };
}

function dependsOn(
  d: string[] | Record<string, Record<string, string> | null> | undefined,
  path: (string | number)[],
  fail: Fail,
): Record<string, Condition> {
  if (!d) return {};
  if (Array.isArray(d)) return Object.fromEntries(d.map((n) => [n, 'service_started' as const]));
  return Object.fromEntries(
    Object.entries(d).map(([n, spec]) => {
      const c = spec?.condition ?? 'service_started';
      if (!(CONDITIONS as readonly string[]).includes(c))
        throw fail([...path, n, 'condition'], `is one of ${CONDITIONS.join(', ')}`);
      return [n, c as Condition];
    }),
  );
}

/** The services of depends_on marked `restart: true` and `required: false`. */
function dependsFlags(d: string[] | Record<string, Record<string, string> | null> | undefined): {
  restartWith: string[];
  optional: string[];
} {
  const entries = d && !Array.isArray(d) ? Object.entries(d) : [];
  return {
    restartWith: entries.filter(([, spec]) => spec?.restart === 'true').map(([n]) => n),
    optional: entries.filter(([, spec]) => spec?.required === 'false').map(([n]) => n),
  };
}

function healthcheckOf(
  h: Plain | undefined,
  path: (string | number)[],
  fail: Fail,
): ComposeService['healthcheck'] {
  if (!h || h.disable === true) return null;
  const t = h.test;
  let test: string[];
  if (typeof t === 'string') test = ['CMD-SHELL', t];
  else if (Array.isArray(t) && t.length > 0 && /^(CMD|CMD-SHELL|NONE)$/.test(String(t[0])))
    test = t.map(String);
  else throw fail([...path, 'test'], 'is a command string or a list starting with CMD, CMD-SHELL or NONE');
  if (test[0] === 'NONE') return null;
  const duration = (k: string) => durationText(h[k], [...path, k], fail);
  const retries = h.retries === undefined ? null : Number(h.retries);
  if (retries !== null && (!Number.isInteger(retries) || retries < 0))
    throw fail([...path, 'retries'], 'is a count');
  return {
    test,
    interval: duration('interval'),
    timeout: duration('timeout'),
    retries,
    startPeriod: duration('start_period'),
  };
}

function networksOf(
  n: string[] | Plain | undefined,
  declared: string[],
  path: (string | number)[],
  fail: Fail,
): string[] {
  const names = !n ? [] : Array.isArray(n) ? n : Object.keys(n);
  for (const name of names) {
    if (name !== 'default' && !declared.includes(name)) {
      throw fail(path, `network ${JSON.stringify(name)} is not declared under the top-level networks`);
    }
  }
  return names;
}

/** A cycle among depends_on, as the names along it, or null. */
export function findCycle(services: Pick<ComposeService, 'name' | 'dependsOn'>[]): string[] | null {
  const deps = new Map(services.map((s) => [s.name, Object.keys(s.dependsOn)]));
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): string[] | null => {
    if (state.get(n) === 'done') return null;
    if (state.get(n) === 'visiting') return [...stack.slice(stack.indexOf(n)), n];
    state.set(n, 'visiting');
    stack.push(n);
    for (const d of deps.get(n) ?? []) {
      const c = visit(d);
      if (c) return c;
    }
    stack.pop();
    state.set(n, 'done');
    return null;
  };
  for (const s of services) {
    const c = visit(s.name);
    if (c) return c;
  }
  return null;
}
