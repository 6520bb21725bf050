import { GokuError } from '../errors.js';

/** "v3" or "3" → 3. */
export function parseVersion(raw: string): number {
  const m = /^v?(\d{1,9})$/.exec(raw);
  if (!m || Number(m[1]) < 1) {
    throw new GokuError(
      'GOKU_ERR_USAGE',
      `invalid release ${JSON.stringify(raw.slice(0, 20))}: use vN, e.g. v3`,
    );
  }
  return Number(m[1]);
}
