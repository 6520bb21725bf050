import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Equal secrets, in time that does not depend on where they differ or on their lengths: the
 * sha256 of each is compared.
 */
export function sameSecret(a: string, b: string): boolean {
  const h = (v: string) => createHash('sha256').update(v).digest();
  return timingSafeEqual(h(a), h(b));
}
