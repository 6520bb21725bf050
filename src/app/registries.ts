import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { GokuError } from '../errors.js';
import type { RegistryCredentials } from '../registry/client.js';
import { parseImageRef } from '../registry/reference.js';
import type { Store } from '../store/types.js';

/** A stored login as commands show it: never the secret. */
export interface RegistryLoginInfo {
  host: string;
  username: string;
  addedAt: string;
}

const MAX_SECRET = 8 * 1024;
const USERNAME = /^[\x21-\x7e]{1,256}$/;

/**
 * Registry credentials (registries:login), the service key commands and the registry client
 * call. Secrets are encrypted at rest with AES-256-GCM under a key that lives in a 0600 file
 * of GOKU_HOME: the store (a file, or Consul) never holds one in the clear.
 */
export class RegistryLogins {
  constructor(
    private readonly store: Store,
    private readonly key: Buffer,
    private readonly verify: (host: string, creds: RegistryCredentials) => Promise<void>,
  ) {}

  list(): RegistryLoginInfo[] {
    return (this.store.read().registries ?? [])
      .map((r) => ({ host: r.host, username: r.username, addedAt: r.addedAt }))
      .sort((a, b) => (a.host < b.host ? -1 : 1));
  }

  /** Checks the credentials against the registry (as `docker login` does), then stores them. */
  async login(rawHost: string, username: string, rawSecret: string): Promise<RegistryLoginInfo> {
    const host = registryHost(rawHost);
    if (!USERNAME.test(username)) {
      throw new GokuError(
        'GOKU_ERR_USAGE',
        'a registry user name is 1 to 256 printable characters, no spaces',
      );
    }
    // One trailing newline is the echo or the file it came from, not the secret.
    const secret = rawSecret.replace(/\r?\n$/, '');
    if (!secret) throw new GokuError('GOKU_ERR_USAGE', 'pipe the password or token on stdin');
    if (secret.length > MAX_SECRET || secret.includes('\n')) {
      throw new GokuError(
        'GOKU_ERR_USAGE',
        `the password or token is one line of at most ${MAX_SECRET} characters`,
      );
    }
    await this.verify(host, { username, password: secret });
    const rec = { host, username, secret: this.seal(secret), addedAt: new Date().toISOString() };
    await this.store.update((s) => {
      s.registries = [...(s.registries ?? []).filter((r) => r.host !== host), rec];
    });
    return { host, username, addedAt: rec.addedAt };
  }

  async logout(rawHost: string): Promise<void> {
    const host = registryHost(rawHost);
    await this.store.update((s) => {
      const before = s.registries ?? [];
      if (!before.some((r) => r.host === host)) {
        throw new GokuError(
          'GOKU_ERR_NO_LOGIN',
          `no credentials are stored for ${host}; see goku registries`,
        );
      }
      s.registries = before.filter((r) => r.host !== host);
    });
  }

  /** The stored credentials of a registry host, decrypted; null when none (or unreadable). */
  credentials(host: string): RegistryCredentials | null {
    const rec = (this.store.read().registries ?? []).find((r) => r.host === host);
    if (!rec) return null;
    const password = this.open(rec.secret);
    return password === null ? null : { username: rec.username, password };
  }

  private seal(text: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([c.update(text, 'utf8'), c.final()]);
    return Buffer.concat([iv, c.getAuthTag(), body]).toString('base64');
  }

  /** Null when the secret was sealed under another key or altered (GCM refuses it). */
  private open(sealed: string): string | null {
    try {
      const raw = Buffer.from(sealed, 'base64');
      const d = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
      d.setAuthTag(raw.subarray(12, 28));
      return Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString('utf8');
    } catch {
      return null;
    }
  }
}

/** A registry host as image references name it: `docker.io` for Docker Hub and its aliases. */
export function registryHost(raw: string): string {
  const host = raw.trim();
  const named = host.includes('.') || host.includes(':') || host === 'localhost';
  if (!named || host.includes('/')) {
    throw new GokuError(
      'GOKU_ERR_INVALID_IMAGE',
      `invalid registry host ${JSON.stringify(raw.slice(0, 100))}: a host name with a '.', or HOST:PORT, or localhost (docker.io for Docker Hub)`,
    );
  }
  return parseImageRef(`${host}/goku-probe/x`).registry;
}
