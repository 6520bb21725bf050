import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { covers, parseBundle } from '../../src/core/certs.js';
import { TestCa } from '../helpers/certs.mjs';

describe('certificate bundles', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'goku-certs-'));
  const ca = new TestCa(tmp);
  const now = new Date();
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('takes the parts in any order, puts the leaf first, and reads its names, issuer and dates', () => {
    const leaf = ca.leaf(['a.example.test', '*.b.example.test']);
    const b = parseBundle(leaf.key + ca.cert + leaf.cert, now);
    expect(b.names).toEqual(['a.example.test', '*.b.example.test']);
    expect(b.issuer).toContain('goku test CA');
    // The leaf first (its first two PEM lines open the chain), then the CA.
    expect(b.fullchain.startsWith(leaf.cert.trim().split('\n').slice(0, 2).join('\n'))).toBe(true);
    expect(b.fullchain.trim().endsWith(ca.cert.trim())).toBe(true);
    expect(b.key).toContain('BEGIN PRIVATE KEY');
    expect(new Date(b.notAfter) > now).toBe(true);
  });

  it('refuses what is not a usable bundle, each with one line', () => {
    const leaf = ca.leaf(['a.example.test']);
    const other = ca.leaf(['a.example.test']);
    const old = ca.leaf(['a.example.test'], -1);
    const refused = (text: string) => {
      try {
        parseBundle(text, now);
      } catch (err) {
        expect((err as { code: string }).code).toBe('GOKU_ERR_CERT');
        expect((err as Error).message).not.toContain('\n');
        return (err as Error).message;
      }
      return 'accepted';
    };
    expect(refused('')).toMatch(/no PEM certificate or key/);
    expect(refused(leaf.key)).toMatch(/a private key but no certificate/);
    expect(refused(leaf.cert)).toMatch(/no private key/);
    expect(refused(leaf.cert + leaf.key + other.key)).toMatch(/2 private keys/);
    expect(refused(leaf.cert + other.key)).toMatch(/belongs to none/);
    expect(refused(old.cert + old.key)).toMatch(/expired at/);
    expect(refused(leaf.cert + new TestCa(tmp, 'stranger').cert + leaf.key)).toMatch(
      /not signed by the one after it/,
    );
    expect(refused(`-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n${leaf.key}`)).toMatch(
      /certificate 1 of the bundle does not parse/,
    );
    expect(refused('x'.repeat(70_000))).toMatch(/over 64 KiB/);
  });

  it('matches names as TLS clients do: exact, or one label under a wildcard', () => {
    expect(covers('a.example.test', 'A.example.test')).toBe(true);
    expect(covers('*.example.test', 'shop.example.test')).toBe(true);
    expect(covers('*.example.test', 'a.shop.example.test')).toBe(false);
    expect(covers('*.example.test', 'example.test')).toBe(false);
    expect(covers('a.example.test', 'b.example.test')).toBe(false);
  });
});
