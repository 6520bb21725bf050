import { acmeNames, dueAt } from '../core/acme.js';
import { covers, parseBundle } from '../core/certs.js';
import { GokuError } from '../errors.js';
import type { RouteTable } from '../pipeline/routing.js';
import type { CertFiles } from '../proxy/certs.js';
import { acmeOn, httpsPortOf, type Settings } from '../settings.js';
import type { CertMeta, Store } from '../store/types.js';
import { baseDeployment, certIds, deploymentDomains, shareBundles } from './acme.js';

/** One deployment's ACME certificate as `certs` shows it. */
export interface AcmeInfo {
  deployment: string;
  /** The names goku asks for (the deployment's domains that a CA can prove). */
  names: string[];
  cert: CertMeta | null;
  lastAttempt: string | null;
  error: string | null;
  /** When goku asks next (issue, renewal or retry); null: nothing to ask for. */
  nextAttempt: string | null;
}

/** What `certs APP` shows. */
export interface CertInfo {
  app: string;
  /** The edge's HTTPS port; 0: HTTPS is off (GOKU_HTTPS_PORT=0 or system nginx). */
  httpsPort: number;
  domains: { domain: string; covered: boolean }[];
  cert: CertMeta | null;
  redirect: boolean;
  hsts: boolean;
  /**
   * ACME: on for the server (GOKU_ACME_EMAIL), on for this app (certs:auto), paused while a
   * certificate of the user's own is installed; per deployment.
   */
  acme: { server: boolean; auto: boolean; paused: boolean; deployments: AcmeInfo[] };
}

/**
 * The certs commands: an app's own certificate (checked, then installed for the edge to read at
 * each handshake), HTTPS redirect and HSTS. Keys never leave the files nginx reads.
 */
export class CertService {
  constructor(
    private readonly d: {
      store: Store;
      routes: RouteTable;
      files: CertFiles;
      settings: Pick<Settings, 'GOKU_DOMAIN' | 'GOKU_HTTPS_PORT' | 'GOKU_NGINX' | 'GOKU_ACME_EMAIL'>;
      clock: () => Date;
      /** Tells the ACME manager to look again (absent: ACME is off). */
      acme?: { kick(): void };
    },
  ) {}

  /** ACME certificates are made for apps: an email is set and the edge serves HTTPS. */
  acmeOn(): boolean {
    return acmeOn(this.d.settings) && this.httpsPort() > 0;
  }

  /** The port HTTPS answers on, or 0 when goku serves no HTTPS. */
  httpsPort(): number {
    return httpsPortOf(this.d.settings);
  }

  info(app: string): CertInfo {
    const rec = this.app(app);
    const certs = [rec.tls?.cert, ...Object.values(rec.tls?.acme ?? {}).map((a) => a.cert)];
    return {
      app,
      httpsPort: this.httpsPort(),
      domains: this.domainsOf(app).map((domain) => ({
        domain,
        covered: certs.some((c) => c?.names.some((n) => covers(n, domain))),
      })),
      cert: rec.tls?.cert ? (structuredClone(rec.tls.cert) as CertMeta) : null,
      redirect: rec.tls?.redirect === true,
      hsts: rec.tls?.hsts === true,
      acme: {
        server: this.acmeOn(),
        auto: this.acmeOn() && rec.tls?.auto !== false,
        paused: !!rec.tls?.cert,
        deployments: this.acmeInfo(app),
      },
    };
  }

  /** Each deployment's ACME names, certificate and last attempt. */
  private acmeInfo(app: string): AcmeInfo[] {
    const rec = this.app(app);
    const domains = new Map<string, string[]>();
    for (const g of deploymentDomains(this.d.routes).values())
      if (g.app === app) domains.set(g.deployment, g.domains);
    const deployments = new Set([...domains.keys(), ...Object.keys(rec.tls?.acme ?? {})]);
    const auto = this.acmeOn() && rec.tls?.auto !== false && !rec.tls?.cert;
    const now = this.d.clock().getTime();
    return [...deployments].sort().map((deployment) => {
      const a = rec.tls?.acme?.[deployment];
      const names = acmeNames(domains.get(deployment) ?? []).names;
      const next = auto ? dueAt(names, a, a?.cert, now) : Number.POSITIVE_INFINITY;
      return {
        deployment,
        names,
        cert: a?.cert ? (structuredClone(a.cert) as CertMeta) : null,
        lastAttempt: a?.lastAttempt ?? null,
        error: a?.error ?? null,
        nextAttempt: Number.isFinite(next) ? new Date(Math.max(next, now)).toISOString() : null,
      };
    });
  }

  /**
   * certs:auto: ACME for the app on or off. On also forgets past failures, so goku asks again
   * at once (the way to retry after fixing DNS).
   */
  async auto(app: string, on: boolean): Promise<CertInfo> {
    this.app(app);
    if (!this.acmeOn()) {
      throw new GokuError(
        'GOKU_ERR_USAGE',
        this.httpsPort()
          ? "ACME is off: set GOKU_ACME_EMAIL (and GOKU_ACME_DIRECTORY for a CA other than Let's Encrypt) and restart goku"
          : 'HTTPS is off (GOKU_HTTPS_PORT=0 or system nginx): ACME certificates need it',
      );
    }
    await this.d.store.update((s) => {
      const a = s.apps[app];
      if (!a) return;
      const acme = { ...a.tls?.acme };
      if (on) for (const [dep, r] of Object.entries(acme)) acme[dep] = { ...r, failures: 0 };
      a.tls = { ...a.tls, auto: on, acme };
    });
    await this.sync();
    this.d.acme?.kick();
    return this.info(app);
  }

  /**
   * certs:add: the bundle is checked (it parses, the key is the leaf's, the chain is in order,
   * it is valid now, it covers at least one of the app's domains) before anything changes;
   * then it replaces the app's certificate, for the next handshake.
   */
  async add(app: string, text: string): Promise<CertInfo> {
    this.app(app);
    this.assertHttps();
    const bundle = parseBundle(text, this.d.clock());
    const domains = this.domainsOf(app);
    if (!domains.some((dom) => bundle.names.some((n) => covers(n, dom)))) {
      throw new GokuError(
        'GOKU_ERR_CERT',
        `the certificate (for ${bundle.names.join(', ') || 'no name'}) covers none of ${app}'s domains (${domains.join(', ')}); add the domain first (goku domains:add) or send its certificate`,
      );
    }
    const previous = certIds(this.d.store, app);
    const id = await this.d.files.install(app, bundle.fullchain, bundle.key);
    const meta: CertMeta = {
      source: 'manual',
      id,
      names: bundle.names,
      issuer: bundle.issuer,
      notBefore: bundle.notBefore,
      notAfter: bundle.notAfter,
      fingerprint: bundle.fingerprint,
      installedAt: this.d.clock().toISOString(),
    };
    await this.d.store.update((s) => {
      const a = s.apps[app];
      if (a) a.tls = { ...a.tls, cert: meta };
      if (a) shareBundles(this.d.store, this.d.files, a);
    });
    await this.sync();
    await this.d.files.prune(app, [...certIds(this.d.store, app), ...previous]);
    return this.info(app);
  }

  async remove(app: string): Promise<void> {
    const rec = this.app(app);
    if (!rec.tls?.cert)
      throw new GokuError('GOKU_ERR_USAGE', `${app} has no certificate of its own to remove`);
    const previous = certIds(this.d.store, app);
    await this.d.store.update((s) => {
      const a = s.apps[app];
      if (a?.tls) delete a.tls.cert;
      if (a) shareBundles(this.d.store, this.d.files, a);
    });
    await this.sync();
    await this.d.files.prune(app, [...certIds(this.d.store, app), ...previous]);
    // ACME (when on for the app) takes over its domains.
    this.d.acme?.kick();
  }

  /** apps:rename: the certificate files follow the app. */
  async renamed(from: string, to: string): Promise<void> {
    await this.d.files.rename(from, to);
    await this.sync();
  }

  /** apps:destroy: its certificates go. */
  async destroyed(app: string): Promise<void> {
    await this.sync();
    await this.d.files.removeAll(app);
  }

  /** certs:redirect: nginx answers plain HTTP with 308 to HTTPS (and HTTPS with HSTS, if asked). */
  async redirect(app: string, on: boolean, hsts: boolean): Promise<void> {
    this.app(app);
    if (on) this.assertHttps();
    await this.d.store.update((s) => {
      const a = s.apps[app];
      if (a) a.tls = { ...a.tls, redirect: on, hsts: on && hsts };
    });
    // The routes render the app's choice: the same routes again.
    await this.d.routes.change([], []);
  }

  /** Points every served domain at its certificate (after a route or certificate change). */
  async sync(): Promise<void> {
    if (!this.httpsPort()) return;
    const apps = this.d.store.read().apps;
    // A shared store's certificates another goku of the cluster installed: their files, here too.
    for (const a of Object.values(apps))
      for (const [id, bundle] of Object.entries(a.certBundles ?? {}))
        if (!this.d.files.has(a.name, id)) await this.d.files.installBundle(a.name, bundle);
    const domains = this.d.routes
      .all()
      .flatMap((r) =>
        r.domains.map((domain) => ({ app: r.app, deployment: baseDeployment(r.deployment), domain })),
      );
    return this.d.files.syncSni(domains, ({ app, deployment, domain }) => {
      const tls = apps[app]?.tls;
      // The user's own certificate first, then the deployment's ACME one, then any of the app's.
      const acme = Object.entries(tls?.acme ?? {}).sort(
        ([a], [b]) => Number(b === deployment) - Number(a === deployment),
      );
      const cert = [tls?.cert, ...acme.map(([, a]) => a.cert)].find((c) =>
        c?.names.some((n) => covers(n, domain)),
      );
      return cert ? `apps/${app}/${cert.id}` : null;
    });
  }

  /** The app's domains: what its routes serve, its own GOKU_DOMAIN name and domains:add's. */
  private domainsOf(app: string): string[] {
    const rec = this.app(app);
    const own = this.d.settings.GOKU_DOMAIN ? [`${app}.${this.d.settings.GOKU_DOMAIN}`] : [];
    const routed = this.d.routes
      .all()
      .filter((r) => r.app === app)
      .flatMap((r) => r.domains);
    return [...new Set([...own, ...rec.domains, ...routed])];
  }

  private app(app: string) {
    const rec = this.d.store.read().apps[app];
    if (!rec) throw new GokuError('GOKU_ERR_APP_NOT_FOUND', `app ${app} does not exist`);
    return rec;
  }

  private assertHttps(): void {
    if (!this.httpsPort()) {
      throw new GokuError(
        'GOKU_ERR_USAGE',
        this.d.settings.GOKU_NGINX === 'managed'
          ? 'HTTPS is off (GOKU_HTTPS_PORT=0); set GOKU_HTTPS_PORT and restart goku'
          : "HTTPS is served by goku's own edge nginx only (GOKU_NGINX=managed)",
      );
    }
  }
}
