import type { Logger } from 'pino';
import type { Issued } from '../acme/client.js';
import { type AcmeState, acmeNames, dueAt } from '../core/acme.js';
import { parseBundle } from '../core/certs.js';
import { oneLine } from '../errors.js';
import type { RouteTable } from '../pipeline/routing.js';
import type { CertFiles } from '../proxy/certs.js';
import type { AcmeRecord, AppRecord, CertMeta, DeepReadonly, Store, TlsSettings } from '../store/types.js';

/** One certificate goku keeps by ACME: a deployment's (all its domains), or goku's own. */
export interface AcmeTarget {
  /** APP/DEPLOYMENT, or `goku` for the HTTP API's own domain. */
  id: string;
  names: string[];
  state: DeepReadonly<AcmeRecord> | undefined;
  /**
   * The private key (PEM) of its current certificate, which the next one keeps: nginx reads the
   * certificate and the key of a handshake in two opens of one file, and a switch between them
   * must never pair a certificate with another key.
   */
  key(): string | null;
  /** Installs what the CA issued and records the attempt (`issued` null: it failed with `error`). */
  save(issued: { meta: CertMeta; fullchain: string; key: string } | null, state: AcmeState): Promise<void>;
}

/** The deployment a route serves: compose services' routes (DEPLOYMENT/SERVICE) count as theirs. */
export function baseDeployment(routeKey: string): string {
  return routeKey.split('/')[0] as string;
}

/** The domains each app deployment serves over HTTP, keyed APP/DEPLOYMENT (one certificate each). */
export function deploymentDomains(
  routes: RouteTable,
): Map<string, { app: string; deployment: string; domains: string[] }> {
  const groups = new Map<string, { app: string; deployment: string; domains: string[] }>();
  for (const r of routes.all()) {
    if (!r.http) continue;
    const deployment = baseDeployment(r.deployment);
    const key = `${r.app}/${deployment}`;
    const g = groups.get(key) ?? { app: r.app, deployment, domains: [] };
    g.domains.push(...r.domains);
    groups.set(key, g);
  }
  return groups;
}

/** Each app deployment's ACME certificate, as the routes and the store say it should be. */
export function appTargets(d: {
  store: Store;
  routes: RouteTable;
  files: CertFiles;
  sync: () => Promise<void>;
}): AcmeTarget[] {
  const apps = d.store.read().apps;
  const groups = deploymentDomains(d.routes);
  const targets: AcmeTarget[] = [];
  for (const [key, g] of groups) {
    const tls = apps[g.app]?.tls;
    // certs:auto off, or a certificate of the user's own: goku asks no CA for this app.
    if (!apps[g.app] || tls?.auto === false || tls?.cert) continue;
    const state = tls?.acme?.[g.deployment];
    targets.push({
      id: key,
      names: acmeNames(g.domains).names,
      state,
      key: () => (state?.cert ? d.files.keyOf(g.app, state.cert.id) : null),
      save: (issued, next) => saveAppCert(d, g.app, g.deployment, issued, next),
    });
  }
  return targets;
}

async function saveAppCert(
  d: { store: Store; files: CertFiles; sync: () => Promise<void> },
  app: string,
  deployment: string,
  issued: { meta: CertMeta; fullchain: string; key: string } | null,
  state: AcmeState,
): Promise<void> {
  const before = d.store.read().apps[app]?.tls?.acme?.[deployment]?.cert;
  const meta: CertMeta | undefined = issued
    ? { ...issued.meta, id: await d.files.install(app, issued.fullchain, issued.key) }
    : before && (structuredClone(before) as CertMeta);
  await d.store.update((s) => {
    const a = s.apps[app];
    if (!a) return;
    const acme = { ...a.tls?.acme };
    acme[deployment] = { ...state, ...(meta ? { cert: meta } : {}) };
    a.tls = { ...a.tls, acme };
    shareBundles(d.store, d.files, a);
  });
  if (!issued) return;
  await d.sync();
  await d.files.prune(app, [...certIds(d.store, app), before?.id]);
}

/** The certificate versions an app's links may point at. */
export function certIds(store: Store, app: string): string[] {
  return tlsCertIds(store.read().apps[app]?.tls);
}

function tlsCertIds(tls: DeepReadonly<TlsSettings> | undefined): string[] {
  return [tls?.cert?.id, ...Object.values(tls?.acme ?? {}).map((a) => a.cert?.id)].filter(
    (x): x is string => !!x,
  );
}

/**
 * In a shared store (Consul), the bundles of the versions the app's links may point at go with
 * it, for the other gokus of the cluster (each writes the files it lacks, see CertService.sync);
 * called in the update that changes which versions those are.
 */
export function shareBundles(store: Store, files: CertFiles, a: AppRecord): void {
  if (!store.shared) return;
  const next: Record<string, string> = {};
  for (const id of tlsCertIds(a.tls)) {
    const b = a.certBundles?.[id] ?? files.bundleOf(a.name, id);
    if (b) next[id] = b;
  }
  if (Object.keys(next).length) a.certBundles = next;
  else delete a.certBundles;
}

const DEBOUNCE_MS = 500;
/**
 * Issuances one goku asks for in an hour, at most: pushes may create branch deployments and
 * domains without end, and a CA limits orders per account (Let's Encrypt: 300 in 3 hours).
 */
export const MAX_ATTEMPTS_PER_HOUR = 60;
const HOUR_MS = 60 * 60 * 1000;
/** Wake up at least this often: a clock jump or a lost event is seen within the hour. */
const MAX_SLEEP_MS = 60 * 60 * 1000;

/**
 * Keeps every ACME certificate current: asks when names are new (a route or domain change
 * kicks it at once), renews before expiry, retries failures with backoff, one issuance at a
 * time. A failure keeps the current certificate serving and is recorded for `certs`.
 */
export class AcmeManager {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  /** When the attempts of the last hour started (the hourly bound). */
  private attempts: number[] = [];

  constructor(
    private readonly d: {
      issue: (names: string[], key: string | null) => Promise<Issued>;
      targets: () => AcmeTarget[];
      /** Forgets what belongs to deployments that are gone (before each pass). */
      tidy?: () => Promise<void>;
      clock: () => Date;
      log: Logger;
      maxPerHour?: number;
    },
  ) {}

  start(): void {
    this.kick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** Something changed (routes, domains, certs:auto): look again soon. */
  kick(): void {
    this.wake(DEBOUNCE_MS);
  }

  /** Resolves when the pass under way (if any) has finished: for tests and shutdown. */
  idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  private wake(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.run(), ms);
    this.timer.unref();
  }

  private run(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.pass()
      .catch((err) => this.d.log.error({ err: oneLine(err) }, 'ACME: a pass failed'))
      .then((next) => {
        this.running = null;
        const now = this.d.clock().getTime();
        if (this.again) {
          this.again = false;
          this.wake(0);
        } else {
          // After a failed pass (the store unreachable, say), look again in a minute.
          this.wake(Math.max(1000, Math.min(MAX_SLEEP_MS, (next ?? now + 60_000) - now)));
        }
      });
  }

  /** Attempts every due certificate; returns when the next one is due. */
  private async pass(): Promise<number> {
    await this.d.tidy?.();
    const now = this.d.clock().getTime();
    const max = this.d.maxPerHour ?? MAX_ATTEMPTS_PER_HOUR;
    let capped = false;
    for (const t of this.d.targets()) {
      if (this.stopped) break;
      if (dueAt(t.names, t.state, t.state?.cert, now) > now) continue;
      const at = this.d.clock().getTime();
      this.attempts = this.attempts.filter((a) => a > at - HOUR_MS);
      if (this.attempts.length >= max) {
        capped = true;
        break;
      }
      this.attempts.push(at);
      await this.attempt(t);
    }
    const later = this.d.clock().getTime();
    const next = Math.min(...this.d.targets().map((t) => dueAt(t.names, t.state, t.state?.cert, later)));
    if (!capped) return next;
    const free = (this.attempts[0] ?? later) + HOUR_MS;
    this.d.log.warn(
      { max, until: new Date(free).toISOString() },
      'ACME: the hourly bound of attempts is reached; the rest waits',
    );
    return Math.max(next, free);
  }

  private async attempt(t: AcmeTarget): Promise<void> {
    const failures = t.state?.failures ?? 0;
    try {
      const issued = await this.d.issue(t.names, t.key());
      const bundle = parseBundle(`${issued.key}${issued.fullchain}`, this.d.clock());
      const now = this.d.clock().toISOString();
      const error = issued.refused.length
        ? `no certificate for ${issued.refused.map((r) => `${r.name} (${r.reason})`).join('; ')}`
        : undefined;
      const meta: CertMeta = {
        source: 'acme',
        id: '',
        names: bundle.names,
        issuer: bundle.issuer,
        notBefore: bundle.notBefore,
        notAfter: bundle.notAfter,
        fingerprint: bundle.fingerprint,
        installedAt: now,
      };
      await t.save(
        { meta, fullchain: bundle.fullchain, key: bundle.key },
        { names: t.names, lastAttempt: now, failures: error ? failures + 1 : 0, ...(error ? { error } : {}) },
      );
      this.d.log.info(
        { target: t.id, names: bundle.names, notAfter: bundle.notAfter },
        'ACME: certificate installed',
      );
      if (error) this.d.log.warn({ target: t.id, error }, 'ACME: some names got no certificate');
    } catch (err) {
      const error = oneLine(err);
      await t.save(null, {
        names: t.names,
        lastAttempt: this.d.clock().toISOString(),
        failures: failures + 1,
        error,
      });
      this.d.log.warn(
        { target: t.id, names: t.names, error },
        'ACME: no certificate; the current one keeps serving',
      );
    }
  }
}

/** Drops the ACME records (and their files) of deployments an app no longer has. */
export async function forgetGoneDeployments(d: { store: Store; files: CertFiles }): Promise<void> {
  const gone: [string, string][] = [];
  for (const [app, rec] of Object.entries(d.store.read().apps)) {
    for (const dep of Object.keys(rec.tls?.acme ?? {})) if (!rec.deployments[dep]) gone.push([app, dep]);
  }
  if (!gone.length) return;
  await d.store.update((s) => {
    for (const [app, dep] of gone) delete s.apps[app]?.tls?.acme?.[dep];
  });
  for (const app of new Set(gone.map(([a]) => a))) await d.files.prune(app, certIds(d.store, app));
}
