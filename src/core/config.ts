import { GokuError } from '../errors.js';

/** POSIX environment variable names. */
const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** A value larger than this is refused (Docker passes env through the container config). */
export const MAX_VALUE_BYTES = 32 * 1024;

export function assertConfigKey(key: string): string {
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
export function parseAssignments(pairs: string[]): Record<string, string> {
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
    const value = pair.slice(i + 1);
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
