import { createHash, timingSafeEqual } from 'node:crypto';
import ssh2 from 'ssh2';
import { GokuError } from '../errors.js';

const { utils } = ssh2;

export interface PublicKeyInfo {
  type: string;
  /** base64 of the SSH wire-format public key blob */
  blob: string;
  fingerprint: string;
}

const ALLOWED = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521)$/;

/** Parses one OpenSSH public key line ("type base64 [comment]"); refuses private keys and junk. */
export function parsePublicKey(text: string): PublicKeyInfo {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const bad = (why: string) =>
    new GokuError(
      'GOKU_ERR_INVALID_KEY',
      `invalid public key: ${why}; pipe one OpenSSH public key line (e.g. ~/.ssh/id_ed25519.pub) on stdin`,
    );
  // Say so before anything else: the whole file arrives, and only the user can fix it.
  if (/PRIVATE KEY-----|^PuTTY-User-Key-File/m.test(text)) {
    throw new GokuError(
      'GOKU_ERR_INVALID_KEY',
      'that is a private key: keep it secret (it is not stored) and pipe the public key instead, e.g. ~/.ssh/id_ed25519.pub',
    );
  }
  if (lines.length === 0) throw bad('nothing on stdin');
  if (lines.length > 1) throw bad('expected exactly one key line');
  const line = lines[0] as string;
  const [type, b64] = line.split(/\s+/);
  if (!type || !b64 || !ALLOWED.test(type)) throw bad(`unsupported key type ${JSON.stringify(type ?? '')}`);
  const parsed = utils.parseKey(line);
  if (parsed instanceof Error || Array.isArray(parsed)) throw bad('it does not parse');
  if (parsed.isPrivateKey() || parsed.type !== type) throw bad('it does not parse');
  const blobBuf = parsed.getPublicSSH();
  return { type, blob: blobBuf.toString('base64'), fingerprint: fingerprint(blobBuf) };
}

export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** Constant-time comparison of two key blobs (lengths leak, contents do not). */
export function sameKey(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
