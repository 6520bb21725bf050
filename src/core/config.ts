import { GokuError } from '../errors.js';

/** POSIX environment variable names. */
const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** A value larger than this is refused (Docker passes env through the container config). */
export const MAX_VALUE_BYTES = 32 * 1024;

export function assertConfigKey(key: string): string {
  // __proto__ is a valid name, but assigning it to a plain object sets no key: it would be
  // dropped without a word (JSON bodies of the API can carry it).
  if (key === '__proto__') {
    throw new GokuError('GOKU_ERR_INVALID_CONFIG', 'config key __proto__ is reserved; choose another name');
  }
  if (!KEY.test(key) || key.length > 256) {
    throw new GokuError(
      'GOKU_ERR_INVALID_CONFIG',
      `invalid config key ${JSON.stringify(key.slice(0, 80))}: use letters, digits and _, not starting with a digit`,
    );
  }
  return key;
}

/**
 * KEY=VALUE pairs as given on the command line: the value is everything after the first '=',
 * kept exactly (spaces, '=', quotes, newlines, UTF-8).
 */
/** config:set --encoded (Dokku's): each value is base64; one that is not is refused by key. */
function decodeBase64(key: string, text: string): string {
  const clean = text.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean) || clean.length % 4 === 1) {
    throw new GokuError('GOKU_ERR_INVALID_CONFIG', `the value of ${key} is not base64 (--encoded)`);
  }
  const bytes = Buffer.from(clean, 'base64');
  const value = bytes.toString('utf8');
  if (!Buffer.from(value, 'utf8').equals(bytes)) {
    throw new GokuError('GOKU_ERR_INVALID_CONFIG', `the value of ${key} decodes to bytes that are not UTF-8`);
  }
  return value;
}

export function parseAssignments(pairs: string[], encoded = false): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const i = pair.indexOf('=');
    if (i < 0) {
      throw new GokuError(
        'GOKU_ERR_INVALID_CONFIG',
        `${JSON.stringify(pair.slice(0, 80))} has no '=': use KEY=VALUE (quote values with spaces)`,
      );
    }
    const key = assertConfigKey(pair.slice(0, i));
    const value = encoded ? decodeBase64(key, pair.slice(i + 1)) : pair.slice(i + 1);
    if (Buffer.byteLength(value) > MAX_VALUE_BYTES) {
      throw new GokuError(
        'GOKU_ERR_INVALID_CONFIG',
        `the value of ${key} is over ${MAX_VALUE_BYTES / 1024} KiB`,
      );
    }
    if (value.includes('\0'))
      throw new GokuError('GOKU_ERR_INVALID_CONFIG', `the value of ${key} contains a NUL byte`);
    out[key] = value;
  }
  return out;
}

/**
 * The whole env an app may have: every KEY=VALUE with its separator. Docker refuses a container
 * config far smaller than goku could otherwise store (a raw "HTTP code 431"); Heroku's limit
 * is 32 kB, goku's is twice that.
 */
export const MAX_CONFIG_BYTES = 64 * 1024;

export function configBytes(env: Record<string, string>): number {
  let n = 0;
  for (const [k, v] of Object.entries(env)) n += Buffer.byteLength(k) + Buffer.byteLength(v) + 2;
  return n;
}

export function assertConfigSize(env: Record<string, string>): void {
  const n = configBytes(env);
  if (n > MAX_CONFIG_BYTES) {
    throw new GokuError(
      'GOKU_ERR_INVALID_CONFIG',
      `the config would be ${(n / 1024).toFixed(1)} KiB, over the ${MAX_CONFIG_BYTES / 1024} KiB an app may have; unset some values or keep large data in files`,
    );
  }
}

/** A config:set or config:unset: keys to set, then keys to remove. */
export interface ConfigChange {
  set?: Record<string, string>;
  unset?: string[];
}

/** The env after a change; the input is left alone. */
export function applyConfigChange(
  env: Readonly<Record<string, string>>,
  change: ConfigChange,
): Record<string, string> {
  const next = { ...env, ...(change.set ?? {}) };
  for (const k of change.unset ?? []) delete next[k];
  return next;
}

/**
 * The port the web process listens on and is routed to: a config PORT wins over the image's
 * EXPOSE, as Dokku does. A PORT that is not a port is refused with the value named.
 */
export function webPort(env: Readonly<Record<string, string>>, exposed: number | null): number | null {
  const raw = env.PORT;
  if (raw === undefined) return exposed;
  const n = Number(raw);
  if (!/^\d{1,5}$/.test(raw) || n < 1 || n > 65535) {
    throw new GokuError(
      'GOKU_ERR_INVALID_CONFIG',
      `config PORT=${JSON.stringify(raw.slice(0, 20))} is not a port: the web process listens on PORT, a number from 1 to 65535`,
    );
  }
  return n;
}
