import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminToken } from '../helpers/api.js';
import { gotoSettled } from '../helpers/browser.js';
import { TestCa } from '../helpers/certs.mjs';
import { eventually, GokuServer, run } from '../helpers/goku.js';
import { Pebble } from '../helpers/pebble.mjs';

const CHROMIUM = '/usr/bin/chromium';

/** GET over TLS to goku's HTTP port, asking for `name`; trusts `ca`. */
function get(
  server: GokuServer,
  name: string,
  path: string,
  ca: string,
  agent: https.Agent | false = false,
): Promise<{ status: number; body: string; fingerprint: string; authorized: boolean }> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      { host: '127.0.0.1', port: server.httpPort, path, servername: name, ca, agent },
      (res) => {
        const sock = res.socket as TLSSocket;
        const fingerprint = sock.getPeerCertificate().fingerprint256;
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body, fingerprint, authorized: sock.authorized }),
        );
      },
    );
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

// The HTTP API and dashboard over TLS: with certificate files of the user's own (renewed
// elsewhere and taken without a restart), and with an ACME certificate for goku's own domain.
describe('HTTP API over TLS with GOKU_HTTP_TLS_CERT/_KEY', () => {
  const server = new GokuServer();
  const name = 'api.goku.test';
  let ca: TestCa;
  const files = () => ({ cert: join(server.tmp, 'api-cert.pem'), key: join(server.tmp, 'api-key.pem') });
  const write = (leaf: { cert: string; key: string }) => {
    writeFileSync(files().cert, leaf.cert + ca.cert);
    writeFileSync(files().key, leaf.key);
  };

  beforeAll(async () => {
    ca = new TestCa(server.tmp);
    write(ca.leaf([name]));
    server.extraEnv = {
      ...server.extraEnv,
      GOKU_HTTP_TLS_CERT: files().cert,
      GOKU_HTTP_TLS_KEY: files().key,
    };
    await server.startWithKey();
  });
  afterAll(() => server.cleanup());

  it('answers over TLS with the certificate, and not over plain HTTP', async () => {
    const r = await get(server, name, '/ping', ca.cert);
    expect([r.status, JSON.parse(r.body), r.authorized]).toEqual([200, { message: 'pong' }, true]);
    const plain = await new Promise<string>((resolve) => {
      const req = http.get(
        { host: '127.0.0.1', port: server.httpPort, path: '/ping', timeout: 3000 },
        (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve(`${res.statusCode} ${body}`));
        },
      );
      req.on('error', (err) => resolve(err.message));
      req.on('timeout', () => req.destroy(new Error('timeout')));
    });
    expect(plain).not.toContain('pong');
    expect((await server.ok(['webhooks', '--json'])).stdout).toContain(`"https://`);
  });

  it('takes renewed files without a restart; a kept-alive connection survives; bad files change nothing', async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    const before = await get(server, name, '/ping', ca.cert, agent);
    write(ca.leaf([name]));
    const after = await eventually(
      () => get(server, name, '/ping', ca.cert),
      (r) => r.fingerprint !== before.fingerprint,
      20_000,
    );
    expect([after.status, after.authorized]).toEqual([200, true]);
    // The connection opened before the renewal still carries requests.
    const again = await get(server, name, '/ping', ca.cert, agent);
    expect([again.status, again.fingerprint]).toEqual([200, before.fingerprint]);
    agent.destroy();
    // A key that is not the certificate's: logged, and the current pair keeps serving.
    writeFileSync(files().key, ca.leaf([name]).key);
    await eventually(
      async () => server.log,
      (log) => log.includes('the new TLS files are not usable'),
      20_000,
    );
    const still = await get(server, name, '/ping', ca.cert);
    expect([still.status, still.fingerprint]).toEqual([200, after.fingerprint]);
  });

  it('serves the dashboard to a real browser over TLS, with a Secure session cookie', async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(`${CHROMIUM} is missing: ./install.sh --deps-only installs chromium`);
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        `--host-resolver-rules=MAP ${name} 127.0.0.1`,
      ],
    });
    try {
      // The certificate was checked above against its CA; chromium has no way to trust a test CA.
      const context = await browser.newContext({ ignoreHTTPSErrors: true });
      const page = await context.newPage();
      const base = `https://${name}:${server.httpPort}`;
      await gotoSettled(page, `${base}/`);
      await page.fill('#token', adminToken(server));
      await Promise.all([page.waitForURL(`${base}/`), page.click('button[type=submit]')]);
      expect(await page.textContent('h1')).toMatch(/\S/);
      const cookies = await context.cookies();
      expect(cookies.length).toBeGreaterThan(0);
      expect(cookies.every((c) => c.secure)).toBe(true);
    } finally {
      await browser.close();
    }
  });
});

describe('HTTP API TLS files that do not check out', () => {
  it('stop the start with one line naming what is wrong', async () => {
    const ca = new TestCa(tmpdir());
    const leaf = ca.leaf(['api.goku.test']);
    const other = ca.leaf(['api.goku.test']);
    for (const [cert, key, message] of [
      ['/nonexistent/cert.pem', leaf.key, /GOKU_HTTP_TLS_CERT: cannot read \/nonexistent\/cert.pem/],
      [leaf.cert, other.key, /GOKU_HTTP_TLS_CERT\/_KEY: .*belongs to none of the certificates/],
      ['garbage', 'garbage', /GOKU_HTTP_TLS_CERT\/_KEY: /],
    ] as const) {
      const server = new GokuServer();
      try {
        const files = [join(server.tmp, 'c.pem'), join(server.tmp, 'k.pem')] as const;
        writeFileSync(files[1], key);
        if (!cert.startsWith('/')) writeFileSync(files[0], cert);
        server.extraEnv = {
          ...server.extraEnv,
          GOKU_HTTP_TLS_CERT: cert.startsWith('/') ? cert : files[0],
          GOKU_HTTP_TLS_KEY: files[1],
        };
        const err = await server.start().then(
          () => null,
          (e: Error) => e.message,
        );
        expect(err).toMatch(/exited with 1/);
        const lines = server.log
          .trim()
          .split('\n')
          .filter((l) => l.startsWith('error:'));
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatch(message);
      } finally {
        await server.cleanup();
      }
    }
  });
});

describe('HTTP API over TLS for a domain of its own (ACME, pebble)', () => {
  const server = new GokuServer();
  const domain = 'goku-api.goku.test';
  let pebble: Pebble;

  beforeAll(async () => {
    await server.allocatePorts();
    pebble = await new Pebble({ parent: server.tmp, httpPort: server.proxyPort }).start();
    server.extraEnv = { ...server.extraEnv, ...pebble.env(), GOKU_HTTP_TLS_DOMAIN: domain };
    await server.start();
  });
  afterAll(async () => {
    await server.cleanup();
    await pebble?.stop();
  });

  it("answers with the certificate the CA issued for its domain (curl trusting pebble's root)", async () => {
    const root = join(server.tmp, 'pebble-root.pem');
    writeFileSync(root, pebble.root);
    const r = await eventually(
      () =>
        run('curl', [
          '-sS',
          '--max-time',
          '5',
          '--cacert',
          root,
          '--resolve',
          `${domain}:${server.httpPort}:127.0.0.1`,
          `https://${domain}:${server.httpPort}/ping`,
        ]),
      (x) => x.code === 0,
      60_000,
    );
    expect(JSON.parse(r.stdout)).toEqual({ message: 'pong' });
    expect(server.log).toMatch(
      /ACME: certificate installed.*"target":"goku"|"target":"goku".*ACME: certificate installed/,
    );
  });
});

describe('HTTP API over TLS for a domain the CA refuses', () => {
  const server = new GokuServer();
  const domain = 'refused-api.goku.test';
  let pebble: Pebble;

  beforeAll(async () => {
    await server.allocatePorts();
    pebble = await new Pebble({
      parent: server.tmp,
      httpPort: server.proxyPort,
      blocklist: [domain],
    }).start();
    server.extraEnv = { ...server.extraEnv, ...pebble.env(), GOKU_HTTP_TLS_DOMAIN: domain };
    await server.start();
  });
  afterAll(async () => {
    await server.cleanup();
    await pebble?.stop();
  });

  it('keeps answering with its default certificate, and logs and records why', async () => {
    const state = join(server.home, 'certs', 'own', 'state.json');
    const s = await eventually(
      async () => JSON.parse(readFileSync(state, 'utf8')),
      (x) => typeof x.error === 'string',
      30_000,
    );
    expect(s).toMatchObject({ names: [domain], failures: 1 });
    expect(s.error).toContain('forbidden by policy');
    expect(server.log).toMatch(/ACME: no certificate; the current one keeps serving/);
    const r = await new Promise<{ status: number; cn: string }>((resolve, reject) => {
      const req = https.get(
        {
          host: '127.0.0.1',
          port: server.httpPort,
          path: '/ping',
          servername: domain,
          rejectUnauthorized: false,
          agent: false,
        },
        (res) => {
          const cn = String((res.socket as TLSSocket).getPeerCertificate().subject?.CN ?? '');
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, cn }));
        },
      );
      req.on('error', reject);
    });
    expect(r).toEqual({ status: 200, cn: 'goku default certificate' });
  });
});
