import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
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
    const id = createHash('sha256').update(key).update(fullchain).digest('hex').slice(0, 16);
    const dir = join(this.dir, 'apps', app, id);
    if (existsSync(join(dir, 'bundle.pem'))) return id;
    await mkdir(join(this.dir, 'apps', app), { recursive: true, mode: 0o711 });
    const tmp = `${dir}.tmp-${process.pid}`;
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { mode: 0o711 });
    await this.writeBundle(join(tmp, 'bundle.pem'), `${key}${fullchain}`);
    await rename(tmp, dir);
    return id;
  }

  /** Removes the app's versions but `keep` and the one linked before it (handshakes may be reading it). */
  async prune(app: string, keep: string | null, previous: string | null): Promise<void> {
    const base = join(this.dir, 'apps', app);
    for (const v of await readdir(base).catch(() => [] as string[])) {
      if (v !== keep && v !== previous) await rm(join(base, v), { recursive: true, force: true });
    }
  }

  async removeAll(app: string): Promise<void> {
    await rm(join(this.dir, 'apps', app), { recursive: true, force: true });
  }

  /**
   * Points each served domain at the bundle nginx must present for it (`target` gives
   * `apps/APP/ID`, or null for the default); links of domains no longer served go.
   */
  async syncSni(
    domains: { app: string; domain: string }[],
    target: (app: string, domain: string) => string | null,
  ): Promise<void> {
    // A client that sends no name, or one that is not a plain host name, gets the default.
    const want = new Map<string, string>([['_default', '../default/bundle.pem']]);
    for (const { app, domain } of domains)
      want.set(domain, `../${target(app, domain) ?? 'default'}/bundle.pem`);
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
