import { GokuError } from '../errors.js';
import { KEY_NAME, parsePublicKey } from '../ssh/keys.js';
import type { Store } from '../store/types.js';

/** A stored key as commands show it (never its blob). */
export interface KeyInfo {
  name: string;
  type: string;
  fingerprint: string;
  role: 'admin' | 'deploy';
  addedAt: string;
}

/** The ssh keys that may push (deploy) or also run commands (admin): the service key commands call. */
export class KeyService {
  constructor(private readonly store: Store) {}

  list(): KeyInfo[] {
    return this.store.read().keys.map((k) => ({
      name: k.name,
      type: k.type,
      fingerprint: k.fingerprint,
      role: k.admin ? 'admin' : 'deploy',
      addedAt: k.addedAt,
    }));
  }

  /** Stores an OpenSSH public key under a new name; the name and the key must both be new. */
  async add(name: string, publicKey: string, admin: boolean): Promise<KeyInfo> {
    if (!KEY_NAME.test(name)) {
      throw new GokuError(
        'GOKU_ERR_INVALID_KEY_NAME',
        `invalid key name ${JSON.stringify(name.slice(0, 80))}: use letters, digits, '.', '_', '@', '-' (at most 64)`,
      );
    }
    const key = parsePublicKey(publicKey);
    const addedAt = new Date().toISOString();
    await this.store.update((s) => {
      if (s.keys.some((k) => k.name === name)) {
        throw new GokuError(
          'GOKU_ERR_KEY_EXISTS',
          `a key named ${name} already exists; remove it first with keys:remove ${name}`,
        );
      }
      const same = s.keys.find((k) => k.blob === key.blob);
      if (same) throw new GokuError('GOKU_ERR_KEY_EXISTS', `this key is already stored as ${same.name}`);
      s.keys.push({ name, ...key, admin, addedAt });
    });
    return { name, type: key.type, fingerprint: key.fingerprint, role: admin ? 'admin' : 'deploy', addedAt };
  }

  /** Removes a key; the ssh server closes its open connections within a second. */
  async remove(name: string): Promise<void> {
    await this.store.update((s) => {
      const i = s.keys.findIndex((k) => k.name === name);
      if (i < 0) {
        throw new GokuError(
          'GOKU_ERR_KEY_NOT_FOUND',
          `no key named ${JSON.stringify(name.slice(0, 80))}; see keys:list`,
        );
      }
      s.keys.splice(i, 1);
    });
  }
}
