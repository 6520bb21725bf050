import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCa } from '../helpers/certs.mjs';
import { AppRepo, GokuServer, httpdApp, httpsGet, type SshKey, uniquePrefix } from '../helpers/goku.js';

// HTTPS at the edge with certificates of the user's own (certs:add), chosen per handshake by
// SNI; certs:redirect; refusals that change nothing. A real nginx and real TLS clients.
describe('HTTPS with certificates of your own', () => {
  const server = new GokuServer();
  const p = uniquePrefix();
  const app = `${p}-tls`;
  let key: SshKey;
  let ca: TestCa;
  const host = () => `${app}.${server.domain}`;

  /** A GET over HTTPS to the edge, asking for `name` by SNI; trusts the test CA (or nothing). */
  const get = (name: string, path = '/', trust: string | null = null) =>
    httpsGet(server.httpsPort, name, path, trust);

  beforeAll(async () => {
    key = await server.startWithKey();
    ca = new TestCa(server.tmp);
    const repo = new AppRepo(server.tmp, app, server, key);
    await repo.deploy(httpdApp('over tls'), 'v1');
  });
  afterAll(() => server.cleanup());

  it("answers every served domain over HTTPS, with goku's self-signed default until a certificate is added", async () => {
    const r = await get(host());
    expect([r.status, r.body, r.peer.cn, r.authorized]).toEqual([
      200,
      'over tls\n',
      'goku default certificate',
      false,
    ]);
    const info = JSON.parse((await server.ok(['certs', app, '--json'])).stdout);
    expect(info).toMatchObject({ app, httpsPort: server.httpsPort, cert: null, redirect: false });
    expect(info.domains).toContainEqual({ domain: host(), covered: false });
  });

  it('serves an added certificate from the next handshake, verified against its CA, and says what it covers', async () => {
    const leaf = ca.leaf([host(), 'www.example.test']);
    const r = await server.ok(['certs:add', app], leaf.cert + ca.cert + leaf.key);
    expect(r.stdout).toContain(`Covers: ${host()}`);
    const got = await get(host(), '/', ca.cert);
    expect([got.status, got.body, got.authorized, got.peer.cn]).toEqual([200, 'over tls\n', true, host()]);
    const info = JSON.parse((await server.ok(['certs', app, '--json'])).stdout);
    expect(info.cert).toMatchObject({ source: 'manual', names: [host(), 'www.example.test'] });
    expect(info.domains).toContainEqual({ domain: host(), covered: true });
    expect(JSON.stringify(info)).not.toContain('PRIVATE KEY');
  });

  it.each([
    ['garbage', () => 'not a certificate at all\n', /no PEM certificate or key/],
    ['a key without its certificate', () => ca.leaf([host()]).key, /a private key but no certificate/],
    [
      'a certificate with the wrong key',
      () => ca.leaf([host()]).cert + ca.leaf([host()]).key,
      /belongs to none of the certificates/,
    ],
    [
      'an expired certificate',
      () => {
        const l = ca.leaf([host()], -1);
        return l.cert + l.key;
      },
      /expired at/,
    ],
    [
      'a chain that does not sign the leaf',
      () => {
        const l = ca.leaf([host()]);
        return l.cert + new TestCa(server.tmp, 'another CA').cert + l.key;
      },
      /not signed by the one after it/,
    ],
    [
      "a certificate for none of the app's domains",
      () => {
        const l = ca.leaf(['elsewhere.example.test']);
        return l.cert + l.key;
      },
      /covers none of/,
    ],
  ])('refuses %s with one line, the installed certificate serving', async (_what, bundle, message) => {
    const before = (await get(host(), '/', ca.cert)).peer.fingerprint;
    const r = await server.cli(['certs:add', app], bundle());
    expect(r.code).not.toBe(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^error: /);
    expect(lines[0]).toMatch(message);
    const after = await get(host(), '/', ca.cert);
    expect([after.authorized, after.peer.fingerprint]).toEqual([true, before]);
  });

  // A renewal that keeps its key (certbot --reuse-key, and goku's ACME): nginx reads a
  // handshake's certificate and key in two opens of the linked file, so only a switch that
  // keeps the key is safe for a handshake under way at that very moment (README, HTTPS).
  it('replaces the certificate, keeping its key, under load over HTTPS without a failed request, then serves the new one', async () => {
    const failures: string[] = [];
    let ok = 0;
    let running = true;
    const load = (async () => {
      while (running) {
        await get(host(), '/', ca.cert).then(
          (r) => (r.status === 200 && r.authorized ? ok++ : failures.push(String(r.status))),
          (err: Error) => failures.push(err.message),
        );
      }
    })();
    const key = ca.leaf([host()]).key;
    await server.ok(['certs:add', app], ca.leaf([host()], 30, key).cert + ca.cert + key);
    for (let i = 0; i < 3; i++) {
      const next = ca.leaf([host()], 30, key);
      await server.ok(['certs:add', app], next.cert + ca.cert + next.key);
    }
    running = false;
    await load;
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(20);
    const info = JSON.parse((await server.ok(['certs', app, '--json'])).stdout);
    expect((await get(host(), '/', ca.cert)).peer.fingerprint).toBe(info.cert.fingerprint);
  });

  it('redirects plain HTTP with 308 and adds HSTS to HTTPS answers when asked; off stops both', async () => {
    await server.ok(['certs:redirect', app, 'on', '--hsts']);
    const plain = await server.get(host(), '/some/path?q=1');
    expect(plain.status).toBe(308);
    expect(plain.headers.location).toBe(`https://${host()}:${server.httpsPort}/some/path?q=1`);
    expect(plain.headers['strict-transport-security']).toBeUndefined();
    const secure = await get(host(), '/', ca.cert);
    expect([secure.status, secure.headers['strict-transport-security']]).toEqual([200, 'max-age=31536000']);
    await server.ok(['certs:redirect', app, 'off']);
    expect((await server.get(host())).status).toBe(200);
    expect((await get(host(), '/', ca.cert)).headers['strict-transport-security']).toBeUndefined();
  });

  it('removes the certificate: the default answers again', async () => {
    await server.ok(['certs:remove', app]);
    const r = await get(host());
    expect([r.status, r.peer.cn]).toEqual([200, 'goku default certificate']);
    const again = await server.cli(['certs:remove', app]);
    expect(again.stderr).toContain('has no certificate of its own');
  });
});

describe('HTTPS turned off (GOKU_HTTPS_PORT=0)', () => {
  const server = new GokuServer();
  const app = `${uniquePrefix()}-plain`;
  beforeAll(async () => {
    await server.allocatePorts();
    server.httpsPort = 0;
    await server.start();
    await server.ok(['apps:create', app]);
  });
  afterAll(() => server.cleanup());

  it('says HTTPS is off and refuses certificates and the redirect, changing nothing', async () => {
    const info = JSON.parse((await server.ok(['certs', app, '--json'])).stdout);
    expect(info).toMatchObject({ httpsPort: 0, cert: null, redirect: false });
    for (const args of [
      ['certs:add', app],
      ['certs:redirect', app, 'on'],
    ]) {
      const r = await server.cli(args, 'not read');
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('HTTPS is off (GOKU_HTTPS_PORT=0)');
    }
    expect(JSON.parse((await server.ok(['certs', app, '--json'])).stdout).redirect).toBe(false);
  });
});
