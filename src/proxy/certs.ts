import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, readdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { covers } from '../core/certs.js';
import { GokuError } from '../errors.js';
import { workerUser } from './modes.js';

const run = promisify(execFile);

/**
 * Certificate files the edge nginx reads at each TLS handshake (its ssl_certificate names a
 * variable, so no reload is needed when one changes):
 *
 *   GOKU_HOME/certs/apps/APP/{fullchain.pem,key.pem}  one app's certificate (the key 0600, owned
 *                                                   by the nginx workers' user, who read it)
 *   GOKU_HOME/certs/default/{fullchain.pem,key.pem}   self-signed, for names without one
 *   GOKU_HOME/certs/sni/DOMAIN.{crt,key}              links: each served domain to its app's
 *                                                   certificate when it covers it, else the default
 */
export class CertFiles {
  readonly dir: string;

  constructor(home: string) {
    this.dir = join(home, 'certs');
  }

  private get sni(): string {
    return join(this.dir, 'sni');
  }

  /** The directories, and the default self-signed certificate (openssl) when there is none. */
  async init(): Promise<void> {
    for (const d of [this.dir, join(this.dir, 'apps'), this.sni]) {
      await mkdir(d, { recursive: true, mode: 0o711 });
      await chmod(d, 0o711);
    }
    const def = join(this.dir, 'default');
    if (existsSync(join(def, 'key.pem'))) return;
    await mkdir(def, { recursive: true, mode: 0o711 });
    try {
      await run('openssl', [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '3650',
        '-subj',
        '/CN=goku default certificate',
        '-keyout',
        join(def, 'key.pem'),
        '-out',
        join(def, 'fullchain.pem'),
      ]);
    } catch (err) {
      throw new GokuError(
        'GOKU_ERR_INTERNAL',
        `openssl could not make the default certificate (apt-get install openssl): ${(err as Error).message}`,
      );
    }
    await this.ownKey(join(def, 'key.pem'));
  }

  /** Writes an app's certificate and key (replacing the one before in one rename). */
  async install(app: string, fullchain: string, key: string): Promise<void> {
    const final = join(this.dir, 'apps', app);
    const tmp = `${final}.new-${process.pid}`;
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { mode: 0o711 });
    await writeFile(join(tmp, 'fullchain.pem'), fullchain, { mode: 0o644 });
    await writeFile(join(tmp, 'key.pem'), key, { mode: 0o600 });
    await this.ownKey(join(tmp, 'key.pem'));
    const old = `${final}.old-${process.pid}`;
    if (existsSync(final)) await rename(final, old);
    await rename(tmp, final);
    await rm(old, { recursive: true, force: true });
  }

  async remove(app: string): Promise<void> {
    await rm(join(this.dir, 'apps', app), { recursive: true, force: true });
  }

  /**
   * Points each served domain at the certificate nginx must present for it: its app's when the
   * app has one covering it, else the default; links of domains no longer served go.
   */
  async syncSni(
    domains: { app: string; domain: string }[],
    names: (app: string) => string[] | null,
  ): Promise<void> {
    const want = new Map<string, string>();
    for (const { app, domain } of domains) {
      const own = names(app)?.some((n) => covers(n, domain)) ? `../apps/${app}` : '../default';
      want.set(domain, own);
    }
    const have = new Map<string, string>();
    for (const f of await readdir(this.sni).catch(() => [] as string[])) {
      if (!f.endsWith('.crt')) continue;
      const target = await readlink(join(this.sni, f)).catch(() => '');
      have.set(f.slice(0, -4), target.replace(/\/fullchain\.pem$/, ''));
    }
    for (const [domain, target] of want) {
      if (have.get(domain) === target) continue;
      await this.link(domain, target);
    }
    for (const domain of have.keys()) {
      if (!want.has(domain)) {
        await rm(join(this.sni, `${domain}.crt`), { force: true });
        await rm(join(this.sni, `${domain}.key`), { force: true });
      }
    }
  }

  /** Replaces a domain's two links, each in one rename: a handshake never finds one missing. */
  private async link(domain: string, target: string): Promise<void> {
    for (const [ext, file] of [
      ['key', 'key.pem'],
      ['crt', 'fullchain.pem'],
    ] as const) {
      const at = join(this.sni, `${domain}.${ext}`);
      const tmp = `${at}.tmp-${process.pid}`;
      await rm(tmp, { force: true });
      await symlink(`${target}/${file}`, tmp);
      await rename(tmp, at);
    }
  }

  /** The workers (not root) read keys at each handshake: theirs, and no one else's. */
  private async ownKey(path: string): Promise<void> {
    await chmod(path, 0o600);
    if (process.getuid?.() === 0) {
      const w = workerUser();
      await chown(path, w.uid, w.gid);
    }
  }
}
