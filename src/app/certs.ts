import { covers, parseBundle } from '../core/certs.js';
import { GokuError } from '../errors.js';
import type { RouteTable } from '../pipeline/routing.js';
import type { CertFiles } from '../proxy/certs.js';
import { httpsPortOf, type Settings } from '../settings.js';
import type { CertMeta, Store } from '../store/types.js';

/** What `certs APP` shows. */
export interface CertInfo {
  app: string;
  /** The edge's HTTPS port; 0: HTTPS is off (GOKU_HTTPS_PORT=0 or system nginx). */
  httpsPort: number;
  domains: { domain: string; covered: boolean }[];
  cert: CertMeta | null;
  redirect: boolean;
  hsts: boolean;
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
      settings: Pick<Settings, 'GOKU_DOMAIN' | 'GOKU_HTTPS_PORT' | 'GOKU_NGINX'>;
      clock: () => Date;
    },
  ) {}

  /** The port HTTPS answers on, or 0 when goku serves no HTTPS. */
  httpsPort(): number {
    return httpsPortOf(this.d.settings);
  }

  info(app: string): CertInfo {
    const rec = this.app(app);
    const names = rec.tls?.cert?.names ?? [];
    return {
      app,
      httpsPort: this.httpsPort(),
      domains: this.domainsOf(app).map((domain) => ({
        domain,
        covered: names.some((n) => covers(n, domain)),
      })),
      cert: rec.tls?.cert ? (structuredClone(rec.tls.cert) as CertMeta) : null,
      redirect: rec.tls?.redirect === true,
      hsts: rec.tls?.hsts === true,
    };
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
    const previous = this.app(app).tls?.cert?.id ?? null;
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
    });
    await this.sync();
    await this.d.files.prune(app, id, previous);
    return this.info(app);
  }

  async remove(app: string): Promise<void> {
    const rec = this.app(app);
    if (!rec.tls?.cert)
      throw new GokuError('GOKU_ERR_USAGE', `${app} has no certificate of its own to remove`);
    await this.d.store.update((s) => {
      const a = s.apps[app];
      if (a?.tls) delete a.tls.cert;
    });
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
  sync(): Promise<void> {
    if (!this.httpsPort()) return Promise.resolve();
    const apps = this.d.store.read().apps;
    const domains = this.d.routes.all().flatMap((r) => r.domains.map((domain) => ({ app: r.app, domain })));
    return this.d.files.syncSni(domains, (app, domain) => {
      const cert = apps[app]?.tls?.cert;
      return cert?.names.some((n) => covers(n, domain)) ? `apps/${app}/${cert.id}` : null;
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
