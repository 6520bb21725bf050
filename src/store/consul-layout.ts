import { bundleId } from '../core/certs.js';
import { isValidAppName, normalizeDomain } from '../core/names.js';
import type { Schedule } from '../core/schedule.js';
import type { WatchPolicy } from '../core/tag-policy.js';
import { excerpt } from '../errors.js';
import type {
  AppRecord,
  CertMeta,
  DeploymentRecord,
  HeldUpdate,
  ImageSource,
  KeyRecord,
  RegistryLogin,
  ReleaseRecord,
  Snapshot,
  StoreData,
  TlsSettings,
} from './types.js';

/**
 * How StoreData maps onto Consul KV (README: "Where goku keeps its state"), pure so it can be tested without Consul:
 *
 *   goku/apps/APP/env/KEY               the value of env var KEY, as is
 *   goku/apps/APP/CONTAINERS            instances of the default deployment (absent: 1)
 *   goku/apps/APP/domains               JSON array of extra domains
 *   goku/apps/APP/app                   JSON: created/updated times, default branch, ports
 *   goku/apps/APP/deployments/DEPLOY    JSON deployment record
 *   goku/apps/APP/releases/N            JSON release record vN
 *   goku/apps/APP/tls                   JSON: HTTPS settings and certificates' facts
 *   goku/apps/APP/certs/ID              a certificate version's bundle (key and chain, PEM)
 *   goku/keys/NAME                      JSON ssh key record
 *   goku/registries/HOST                JSON registry login (its secret encrypted)
 *
 * An operator may `consul kv put` any of the first three by hand; goku reads them as they are.
 */
export const PREFIX = 'goku/';
const APPS = `${PREFIX}apps/`;
const KEYS = `${PREFIX}keys/`;
const REGISTRIES = `${PREFIX}registries/`;

export type Pairs = Map<string, string>;

const POSIX_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function appPrefix(app: string): string {
  return `${APPS}${app}/`;
}

export function toPairs(data: Snapshot): Pairs {
  const out: Pairs = new Map();
  for (const k of data.keys) out.set(`${KEYS}${k.name}`, JSON.stringify(k));
  for (const r of data.registries ?? []) out.set(`${REGISTRIES}${r.host}`, JSON.stringify(r));
  for (const a of Object.values(data.apps)) {
    const p = appPrefix(a.name);
    const meta: Record<string, unknown> = {
      createdAt: a.createdAt,
      updatedAt: a.updatedAt,
      defaultBranch: a.defaultBranch,
    };
    if (a.ports) meta.ports = a.ports;
    if (a.createdBy) meta.createdBy = a.createdBy;
    if (a.stopped) meta.stopped = true;
    if (a.formation) meta.formation = a.formation;
    if (a.checks) meta.checks = a.checks;
    if (a.proxyPorts) meta.proxyPorts = a.proxyPorts;
    if (a.image) meta.image = a.image;
    out.set(`${p}app`, JSON.stringify(meta));
    for (const [k, v] of Object.entries(a.env)) out.set(`${p}env/${k}`, v);
    if (a.scale !== undefined) out.set(`${p}CONTAINERS`, String(a.scale));
    out.set(`${p}domains`, JSON.stringify(a.domains));
    for (const d of Object.values(a.deployments)) out.set(`${p}deployments/${d.name}`, JSON.stringify(d));
    for (const r of a.releases ?? []) out.set(`${p}releases/${r.version}`, JSON.stringify(r));
    if (a.tls) out.set(`${p}tls`, JSON.stringify(a.tls));
    for (const [id, pem] of Object.entries(a.certBundles ?? {})) out.set(`${p}certs/${id}`, pem);
  }
  return out;
}

function json(raw: string, key: string, problems: { push(msg: string): unknown }): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    problems.push(`${key} is not JSON; ignored`);
    return undefined;
  }
}

/**
 * Reads the pairs back. Keys goku does not know and values it cannot use (a hand-edited
 * CONTAINERS of "abc", a domains value that is not a JSON list of strings) are left out and
 * reported in `problems`; they stay in Consul untouched.
 */
export function fromPairs(pairs: Pairs, reported: string[] = []): StoreData {
  // Keys and values come from anyone with Consul access: a report is one printable line.
  const problems: Problems = { push: (msg: string) => reported.push(excerpt(msg, 300)) };
  const data: StoreData = { version: 1, keys: [], apps: {} };
  const app = (name: string): AppRecord => {
    data.apps[name] ??= {
      name,
      createdAt: new Date(0).toISOString(),
      updatedAt: new Date(0).toISOString(),
      defaultBranch: null,
      env: {},
      domains: [],
      deployments: {},
    };
    return data.apps[name];
  };
  for (const [key, raw] of [...pairs].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))) {
    if (key.startsWith(KEYS)) {
      const k = json(raw, key, problems) as KeyRecord | undefined;
      if (k && typeof k.name === 'string' && typeof k.blob === 'string') data.keys.push(k);
      continue;
    }
    if (key.startsWith(REGISTRIES)) {
      const r = json(raw, key, problems) as RegistryLogin | undefined;
      if (r && r.host === key.slice(REGISTRIES.length) && typeof r.secret === 'string') {
        data.registries = [...(data.registries ?? []), r];
      }
      continue;
    }
    if (!key.startsWith(APPS)) continue;
    const [name, kind, ...rest] = key.slice(APPS.length).split('/');
    const sub = rest.join('/');
    if (!name || !isValidAppName(name) || !kind) {
      if (name && kind !== undefined) problems.push(`${key}: not a valid app name; ignored`);
      continue;
    }
    // Own keys only: a key named after an Object method (goku/apps/x/constructor) is no reader.
    const slot = `${kind}${sub ? '/' : ''}`;
    const read = Object.hasOwn(READERS, slot) ? READERS[slot] : undefined;
    if (read) read({ app: () => app(name), key, sub, raw, problems });
    else if (sub || !['env', 'deployments', 'releases', 'certs'].includes(kind)) {
      problems.push(`${key}: not a key goku uses; ignored`);
    }
  }
  for (const a of Object.values(data.apps)) a.releases?.sort((x, y) => x.version - y.version);
  return data;
}

interface Problems {
  push(msg: string): void;
}

/** One key of an app as fromPairs meets it: KIND (sub empty) or KIND/SUB. */
interface KeyRead {
  app: () => AppRecord;
  key: string;
  sub: string;
  raw: string;
  problems: Problems;
}

/** How each key of an app is read, by "KIND" (no sub key) or "KIND/" (with one). */
const READERS: Record<string, (k: KeyRead) => void> = {
  'env/': ({ app, key, sub, raw, problems }) => {
    if (POSIX_NAME.test(sub)) app().env[sub] = raw;
    else problems.push(`${key}: ${sub} is not a valid env var name; ignored`);
  },
  // A "folder" key made by consul kv put goku/apps/APP/env/ carries nothing.
  env: () => undefined,
  tls: ({ app, key, raw, problems }) => {
    const v = json(raw, key, problems);
    if (!v || typeof v !== 'object' || Array.isArray(v)) {
      if (v !== undefined) problems.push(`${key} is not a JSON object of HTTPS settings; ignored`);
      return;
    }
    const tls = v as TlsSettings;
    // A certificate's id names its directory: only goku's own ids (16 hex digits) are taken.
    const ok = (c: CertMeta | undefined) => c === undefined || (!!c && /^[0-9a-f]{16}$/.test(String(c.id)));
    if (!ok(tls.cert) || !Object.values(tls.acme ?? {}).every((a) => ok(a?.cert))) {
      problems.push(`${key}: a certificate id is not goku's; ignored`);
      return;
    }
    app().tls = tls;
  },
  'certs/': ({ app, key, sub, raw, problems }) => {
    // Taken only when its content is what its id names (goku names a version by its content).
    if (/^[0-9a-f]{16}$/.test(sub) && bundleId(raw) === sub) {
      const a = app();
      a.certBundles = { ...a.certBundles, [sub]: raw };
    } else problems.push(`${key}: not a certificate bundle of this id; ignored`);
  },
  CONTAINERS: ({ app, key, raw, problems }) => {
    const a = app();
    if (/^\s*\d{1,6}\s*$/.test(raw)) a.scale = Number(raw.trim());
    else problems.push(`${key} is ${JSON.stringify(raw)}, not a number of instances; ignored`);
  },
  domains: ({ app, key, raw, problems }) => {
    const a = app();
    const v = json(raw, key, problems);
    if (!Array.isArray(v)) {
      if (v !== undefined) problems.push(`${key} is not a JSON list of domains; ignored`);
      return;
    }
    for (const d of v) {
      try {
        a.domains.push(normalizeDomain(String(d)));
      } catch {
        problems.push(`${key}: ${JSON.stringify(d)} is not a host name; ignored`);
      }
    }
  },
  app: ({ app, key, raw, problems }) => {
    const v = json(raw, key, problems) as Partial<AppRecord> | undefined;
    if (!v) return;
    const a = app();
    if (typeof v.createdAt === 'string') a.createdAt = v.createdAt;
    if (typeof v.updatedAt === 'string') a.updatedAt = v.updatedAt;
    if (typeof v.defaultBranch === 'string') a.defaultBranch = v.defaultBranch;
    if (Array.isArray(v.ports)) a.ports = v.ports;
    if (Array.isArray(v.proxyPorts)) {
      const ok = (n: unknown) => Number.isInteger(n) && (n as number) >= 1 && (n as number) <= 65535;
      a.proxyPorts = v.proxyPorts.filter((m) => m && ok(m.host) && ok(m.container));
    }
    if (typeof v.createdBy === 'string') a.createdBy = v.createdBy;
    if (v.stopped === true) a.stopped = true;
    const checks = v.checks as { disabled?: unknown; skipped?: unknown } | undefined;
    if (checks && typeof checks === 'object') {
      const list = (x: unknown) =>
        Array.isArray(x)
          ? x.filter(
              (t): t is string => typeof t === 'string' && /^([a-z0-9][a-z0-9_-]{0,29}|_all_)$/.test(t),
            )
          : [];
      a.checks = { disabled: list(checks.disabled), skipped: list(checks.skipped) };
    }
    if (v.formation && typeof v.formation === 'object' && !Array.isArray(v.formation)) {
      const counts = Object.entries(v.formation).filter(
        ([t, n]) => /^[a-z0-9][a-z0-9_-]{0,29}$/.test(t) && Number.isInteger(n) && (n as number) >= 0,
      );
      if (counts.length) a.formation = Object.fromEntries(counts) as Record<string, number>;
    }
    const img = v.image as Partial<ImageSource> | undefined;
    if (img && typeof img.ref === 'string') {
      a.image = {
        ref: img.ref,
        digest: typeof img.digest === 'string' ? img.digest : null,
        pulledAt: typeof img.pulledAt === 'string' ? img.pulledAt : null,
        ...(typeof img.pendingSince === 'string' ? { pendingSince: img.pendingSince } : {}),
        ...(typeof img.pendingRef === 'string' ? { pendingRef: img.pendingRef } : {}),
        ...imageExtras(img, key, problems),
      };
    }
  },
  'deployments/': ({ app, key, sub, raw, problems }) => {
    const d = json(raw, key, problems) as DeploymentRecord | undefined;
    if (d && d.name === sub) app().deployments[sub] = d;
  },
  'releases/': ({ app, key, sub, raw, problems }) => {
    if (!/^\d+$/.test(sub)) {
      problems.push(`${key}: not a key goku uses; ignored`);
      return;
    }
    const r = json(raw, key, problems) as ReleaseRecord | undefined;
    if (!r || r.version !== Number(sub)) return;
    const a = app();
    a.releases = [...(a.releases ?? []), r];
  },
};

/** One KV operation of a Consul transaction, before encoding. */
export type KvOp =
  | { verb: 'cas'; key: string; value: string; index: number }
  | { verb: 'delete-cas'; key: string; index: number }
  | { verb: 'delete-tree'; key: string };

/**
 * The check-and-set operations that turn `before` into `after`. Only keys whose meaning
 * changed are written, each guarded by the ModifyIndex goku last saw (0: must not exist yet),
 * so a concurrent write by another goku or by hand fails the transaction instead of being
 * overwritten. A destroyed app goes as one delete of its tree.
 */
export function planOps(before: Snapshot, after: Snapshot, indexOf: (key: string) => number): KvOp[] {
  const b = toPairs(before);
  const a = toPairs(after);
  const ops: KvOp[] = [];
  const gone = Object.keys(before.apps).filter((n) => !after.apps[n]);
  for (const n of gone) ops.push({ verb: 'delete-tree', key: appPrefix(n) });
  const inGone = (key: string) => gone.some((n) => key.startsWith(appPrefix(n)));
  for (const [key, value] of a) {
    if (b.get(key) !== value) ops.push({ verb: 'cas', key, value, index: indexOf(key) });
  }
  for (const key of b.keys()) {
    if (!a.has(key) && !inGone(key)) ops.push({ verb: 'delete-cas', key, index: indexOf(key) });
  }
  return ops;
}

/** The watcher's policy, the schedule and a held update, each kept only when it has its shape. */
function imageExtras(
  img: Partial<ImageSource>,
  key: string,
  problems: { push(msg: string): unknown },
): Pick<ImageSource, 'watch' | 'schedule' | 'held'> {
  const out: Pick<ImageSource, 'watch' | 'schedule' | 'held'> = {};
  const w = img.watch as Partial<WatchPolicy> | undefined;
  if (w !== undefined) {
    if ((w?.mode === 'semver' || w?.mode === 'pinned') && typeof w.auto === 'boolean') {
      out.watch = { mode: w.mode, auto: w.auto };
    } else problems.push(`${key}: image.watch is not a watch policy; ignored`);
  }
  const sc = img.schedule as Partial<Schedule> | undefined;
  if (sc !== undefined) {
    const win = sc?.window;
    const okWindow =
      win === undefined ||
      (Number.isInteger(win.start) &&
        Number.isInteger(win.end) &&
        win.start >= 0 &&
        win.end >= 0 &&
        win.start < 1440 &&
        win.end < 1440 &&
        win.start !== win.end);
    const okAt = sc?.at === undefined || (typeof sc.at === 'string' && Number.isFinite(Date.parse(sc.at)));
    if (sc && okWindow && okAt && (sc.downtime === undefined || typeof sc.downtime === 'boolean')) {
      out.schedule = {
        ...(win ? { window: { start: win.start, end: win.end } } : {}),
        ...(sc.at ? { at: sc.at } : {}),
        ...(sc.downtime ? { downtime: true } : {}),
      };
    } else problems.push(`${key}: image.schedule is not a schedule; ignored`);
  }
  const h = img.held as Partial<HeldUpdate> | undefined;
  if (h !== undefined) {
    if (h && typeof h.ref === 'string' && typeof h.since === 'string' && typeof h.by === 'string') {
      out.held = { ref: h.ref, since: h.since, by: h.by };
    } else problems.push(`${key}: image.held is not a held update; ignored`);
  }
  return out;
}
