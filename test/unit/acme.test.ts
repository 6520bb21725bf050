import { describe, expect, it } from 'vitest';
import {
  acmeNames,
  dueAt,
  RENEW_BEFORE_MS,
  RETRY_FIRST_MS,
  RETRY_MAX_MS,
  refusedNames,
  renewAt,
  retryDelay,
} from '../../src/core/acme.js';

const DAY = 86_400_000;
const t0 = Date.parse('2026-12-01T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();
const cert = (names: string[], days = 90, from = t0) => ({
  names,
  notBefore: iso(from),
  notAfter: iso(from + days * DAY),
});

describe('acmeNames', () => {
  it('keeps provable host names, sorted and unique, and sets the others apart', () => {
    expect(
      acmeNames(['b.example.com', 'A.example.com', 'b.example.com', '10.0.0.1', 'localhost', '*.x.com']),
    ).toEqual({
      names: ['a.example.com', 'b.example.com'],
      skipped: ['*.x.com', '10.0.0.1', 'localhost'],
    });
  });
  it('asks for at most 100 names', () => {
    const r = acmeNames(Array.from({ length: 105 }, (_, i) => `n${String(i).padStart(3, '0')}.example.com`));
    expect([r.names.length, r.skipped.length]).toEqual([100, 5]);
  });
  it('refuses over-long labels and names', () => {
    expect(acmeNames([`${'a'.repeat(64)}.com`, `${'a.'.repeat(127)}com`]).names).toEqual([]);
  });
});

describe('renewAt', () => {
  it('is 30 days before expiry for a 90-day certificate', () => {
    expect(renewAt(cert(['a.com']))).toBe(t0 + 90 * DAY - RENEW_BEFORE_MS);
  });
  it('leaves a third of a short life', () => {
    expect(renewAt(cert(['a.com'], 3))).toBe(t0 + 2 * DAY);
  });
});

describe('retryDelay', () => {
  it('doubles from 5 minutes up to a day', () => {
    expect([1, 2, 3].map(retryDelay)).toEqual([RETRY_FIRST_MS, 2 * RETRY_FIRST_MS, 4 * RETRY_FIRST_MS]);
    expect(retryDelay(30)).toBe(RETRY_MAX_MS);
  });
});

describe('dueAt', () => {
  const now = t0 + DAY;
  it('is never for no names, now for names with no certificate', () => {
    expect(dueAt([], undefined, undefined, now)).toBe(Number.POSITIVE_INFINITY);
    expect(dueAt(['a.com'], undefined, undefined, now)).toBe(now);
  });
  it('is the renewal time while the certificate covers every name', () => {
    const c = cert(['a.com', 'b.com']);
    expect(dueAt(['a.com'], { names: ['a.com'] }, c, now)).toBe(renewAt(c));
  });
  it('is now when a name is new, even after failures for other names', () => {
    const c = cert(['a.com']);
    const failed = { names: ['a.com', 'x.com'], failures: 3, lastAttempt: iso(now - 1000) };
    expect(dueAt(['a.com', 'b.com'], failed, c, now)).toBe(now);
  });
  it('waits out the backoff for the names that failed', () => {
    const failed = { names: ['a.com'], failures: 2, lastAttempt: iso(now) };
    expect(dueAt(['a.com'], failed, undefined, now)).toBe(now + 2 * RETRY_FIRST_MS);
  });
  it('retries a failed renewal with backoff, and an expired certificate at once', () => {
    const c = cert(['a.com'], 90, now - 80 * DAY);
    const failed = { names: ['a.com'], failures: 1, lastAttempt: iso(now) };
    expect(dueAt(['a.com'], failed, c, now)).toBe(now + RETRY_FIRST_MS);
    const expired = cert(['a.com'], 90, now - 91 * DAY);
    expect(dueAt(['a.com'], { names: ['a.com'] }, expired, now)).toBe(now);
  });
});

describe('refusedNames', () => {
  it("finds the names a CA's refusal quotes", () => {
    const names = ['a.example.com', 'blocked.example', 'c.example.com'];
    expect(
      refusedNames(
        'Order included an identifier for which issuance is forbidden by policy: "blocked.example"',
        names,
      ),
    ).toEqual(['blocked.example']);
    expect(
      refusedNames(
        'Error creating new order :: Cannot issue for "a.example.com": Domain name is blocked',
        names,
      ),
    ).toEqual(['a.example.com']);
    expect(refusedNames('rate limited', names)).toEqual([]);
  });
});
