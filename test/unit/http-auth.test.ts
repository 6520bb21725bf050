import { describe, expect, it } from 'vitest';
import { instanceStats } from '../../src/core/stats.js';
import { bearerToken, callerOf, Sessions } from '../../src/http/auth.js';
import { sameSecret } from '../../src/util/secret.js';

describe('dashboard sessions and the bearer token', () => {
  it('reads only a well-formed bearer header', () => {
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('bearer  abc ')).toBe('abc');
    expect(bearerToken('Basic abc')).toBeNull();
    expect(bearerToken('Bearer a b')).toBeNull();
    expect(bearerToken(undefined)).toBeNull();
  });

  it('compares secrets of any length without throwing', () => {
    expect(sameSecret('a', 'a')).toBe(true);
    expect(sameSecret('a', 'ab')).toBe(false);
    expect(sameSecret('', 'x'.repeat(10_000))).toBe(false);
  });

  it('gives a session only for the token; sessions expire and log out', () => {
    let now = 1_000;
    const s = new Sessions('tok', () => now);
    expect(s.login('nope')).toBeNull();
    const a = s.login('tok');
    expect(a?.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a?.csrf).not.toBe(a?.id);
    expect(s.get(a?.id)?.csrf).toBe(a?.csrf);
    now += 12 * 60 * 60 * 1000;
    expect(s.get(a?.id)).toBeNull();
    const b = s.login('tok');
    s.logout(b?.id);
    expect(s.get(b?.id)).toBeNull();
  });

  it('tells the bearer caller (no CSRF) from a session caller (with its CSRF token)', () => {
    const sessions = new Sessions('tok');
    const d = { adminToken: 'tok', sessions };
    expect(callerOf(d, 'Bearer tok', undefined)).toEqual({
      caller: { via: 'http', keyName: 'api', admin: true },
      csrf: null,
    });
    // A wrong bearer token is refused even with a good cookie.
    const s = sessions.login('tok');
    expect(callerOf(d, 'Bearer wrong', s?.id)).toBeNull();
    expect(callerOf(d, undefined, s?.id)?.csrf).toBe(s?.csrf);
    expect(callerOf(d, undefined, 'forged')).toBeNull();
  });
});

describe('instance stats', () => {
  const sample = (cpu: number, system: number, rx: number) => ({
    cpu,
    system,
    cpus: 2,
    memory: 1000,
    memoryLimit: 4000,
    rx,
    tx: 0,
  });
  const who = { name: 'web', process: 'web', release: 'v1' };

  it('has no CPU or rates on the first sample', () => {
    expect(instanceStats(who, sample(10, 100, 0), undefined, 0)).toMatchObject({ cpu: null, rxRate: null });
  });

  it('computes CPU as docker stats does, and byte rates', () => {
    // 50 ns of the container's over 1000 ns of the host's, 2 CPUs: 10 %.
    const s = instanceStats(who, sample(150, 2000, 4096), sample(100, 1000, 0), 2);
    expect(s).toMatchObject({ cpu: 10, rxRate: 2048, state: 'running', memory: 1000 });
  });

  it('never goes negative when counters restart', () => {
    const s = instanceStats(who, sample(5, 2000, 0), sample(100, 1000, 500), 1);
    expect(s.cpu).toBe(0);
    expect(s.rxRate).toBe(0);
  });
});
