import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import {
  chmod,
  chown,
  mkdir,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { bundleId } from '../core/certs.js';
import { GokuError } from '../errors.js';
import { workerUser } from './modes.js';

const run = promisify(execFile);

/**
 * Certificate files the edge nginx reads at each TLS handshake (its ssl_certificate names a
 * variable, so no reload is needed when one changes):
 *
 *   GOKU_HOME/certs/apps/APP/ID/bundle.pem   one version of an app's certificate: its key and
 *                                          chain in one file (0600, owned by the nginx workers'
 *                                          user, who read it); ID names the content
 *   GOKU_HOME/certs/default/bundle.pem       self-signed, for names without one
 *   GOKU_HOME/certs/sni/DOMAIN.pem           a link per served domain to the bundle nginx presents
 *
 * A change writes a new version beside the old one and then renames one link per domain: a
 * handshake reads either the old bundle or the new one, whole, never a key of one with the
 * certificate of the other, and never finds nothing. The version before stays until the next
 * change, for handshakes that resolved its link just before.
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
    if (existsSync(join(def, 'bundle.pem'))) return;
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
        join(def, 'cert.pem'),
      ]);
    } catch (err) {
      throw new GokuError(
        'GOKU_ERR_INTERNAL',
        `openssl could not make the default certificate (apt-get install openssl): ${(err as Error).message}`,
      );
    }
    const [key, cert] = await Promise.all(['key.pem', 'cert.pem'].map((f) => readFile(join(def, f), 'utf8')));
    await this.writeBundle(join(def, 'bundle.pem'), `${key}${cert}`);
    await rm(join(def, 'key.pem'), { force: true });
  }

  /** Writes a version of an app's certificate; returns its ID (the links follow at the next sync). */
  async install(app: string, fullchain: string, key: string): Promise<string> {
    return this.installBundle(app, `${key}${fullchain}`);
  }

  /** Writes a bundle (key, then chain) as the version its content names; returns that id. */
  async installBundle(app: string, bundle: string): Promise<string> {
    const id = bundleId(bundle);
    const dir = join(this.dir, 'apps', app, id);
    if (existsSync(join(dir, 'bundle.pem'))) return id;
    await mkdir(join(this.dir, 'apps', app), { recursive: true, mode: 0o711 });
    const tmp = `${dir}.tmp-${process.pid}`;
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { mode: 0o711 });
    await this.writeBundle(join(tmp, 'bundle.pem'), bundle);
    await rename(tmp, dir);
    return id;
  }

  /** Whether a version of an app's certificate is here. */
  has(app: string, id: string): boolean {
    return existsSync(join(this.dir, 'apps', app, id, 'bundle.pem'));
  }

  /** A version's bundle (key and chain), to share it through the store (null: not here). */
  bundleOf(app: string, id: string): string | null {
    try {
      return readFileSync(join(this.dir, 'apps', app, id, 'bundle.pem'), 'utf8');
    } catch {
      return null;
    }
  }

  /**
   * Removes the app's versions but those in `keep`: the ones in use and the ones linked just
   * before a change (handshakes may be reading them).
   */
  async prune(app: string, keep: Iterable<string | null | undefined>): Promise<void> {
    const kept = new Set(keep);
    const base = join(this.dir, 'apps', app);
    for (const v of await readdir(base).catch(() => [] as string[])) {
      if (!kept.has(v)) await rm(join(base, v), { recursive: true, force: true });
    }
  }

  async removeAll(app: string): Promise<void> {
    await rm(join(this.dir, 'apps', app), { recursive: true, force: true });
  }

  /**
   * apps:rename: the versions follow the app (the links follow at the next sync). Merged into
   * what the new name already holds: ACME may have issued for the new name while the rename
   * ran, and its version is in use (a CI run lost it when this replaced the directory).
   */
  async rename(from: string, to: string): Promise<void> {
    const src = join(this.dir, 'apps', from);
    if (!existsSync(src)) return;
    const dst = join(this.dir, 'apps', to);
    await mkdir(dst, { recursive: true, mode: 0o711 });
    // Versions are named by their content: one already there is the same.
    for (const v of await readdir(src))
      if (!existsSync(join(dst, v))) await rename(join(src, v), join(dst, v));
    await rm(src, { recursive: true, force: true });
  }

  /** Where goku's own certificate for its HTTP API lives (GOKU_HTTP_TLS_DOMAIN): read by goku, not nginx. */
  get ownDir(): string {
    return join(this.dir, 'own');
  }

  /** The private key of an installed version of an app's certificate (null: none readable). */
  keyOf(app: string, id: string): string | null {
    return keyOf(join(this.dir, 'apps', app, id, 'bundle.pem'));
  }

  /** Writes goku's own certificate (0600, root's) in one rename. */
  async installOwn(fullchain: string, key: string): Promise<string> {
    await mkdir(this.ownDir, { recursive: true, mode: 0o700 });
    const at = join(this.ownDir, 'bundle.pem');
    const tmp = `${at}.tmp-${process.pid}`;
    await writeFile(tmp, `${key}${fullchain}`, { mode: 0o600 });
    await rename(tmp, at);
    return at;
  }

  /**
   * Points each served domain at the bundle nginx must present for it (`target` gives
   * `apps/APP/ID`, or null for the default); links of domains no longer served go.
   */
  async syncSni<T extends { domain: string }>(
    domains: T[],
    target: (served: T) => string | null,
  ): Promise<void> {
    // A client that sends no name, or one that is not a plain host name, gets the default.
    const want = new Map<string, string>([['_default', '../default/bundle.pem']]);
    for (const d of domains) want.set(d.domain, `../${target(d) ?? 'default'}/bundle.pem`);
    const have = new Map<string, string>();
    for (const f of await readdir(this.sni).catch(() => [] as string[])) {
      if (!f.endsWith('.pem')) continue;
      have.set(f.slice(0, -4), await readlink(join(this.sni, f)).catch(() => ''));
    }
    for (const [domain, to] of want) {
      if (have.get(domain) === to) continue;
      const at = join(this.sni, `${domain}.pem`);
      const tmp = `${at}.tmp-${process.pid}`;
      await rm(tmp, { force: true });
      await symlink(to, tmp);
      await rename(tmp, at);
    }
    for (const domain of have.keys())
      if (!want.has(domain)) await rm(join(this.sni, `${domain}.pem`), { force: true });
  }

  /** The workers (not root) read the bundle at each handshake: theirs, and no one else's. */
  private async writeBundle(path: string, text: string): Promise<void> {
    await writeFile(path, text, { mode: 0o600 });
    await chmod(path, 0o600);
    if (process.getuid?.() === 0) {
      const w = workerUser();
      await chown(path, w.uid, w.gid);
    }
  }
}

/** The private key block of a bundle file (null: no file, or no key in it). */
export function keyOf(file: string): string | null {
  try {
    const m = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n?/.exec(
      readFileSync(file, 'utf8'),
    );
    return m ? m[0] : null;
  } catch {
    return null;
  }
}
