import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE_IMAGE } from '../helpers/global-setup.js';
import {
  AppRepo,
  eventually,
  GokuServer,
  httpdApp,
  run,
  type SshKey,
  uniquePrefix,
} from '../helpers/goku.js';
import { Pebble } from '../helpers/pebble.mjs';

const exec = promisify(execFile);

interface AcmeJson {
  deployment: string;
  names: string[];
  cert: { names: string[]; issuer: string; notAfter: string; fingerprint: string; id: string } | null;
  lastAttempt: string | null;
  error: string | null;
  nextAttempt: string | null;
}

/** The app's ACME state for a deployment (`certs APP --json`). */
async function acmeOf(server: GokuServer, app: string, deployment = app): Promise<AcmeJson | undefined> {
  const info = JSON.parse((await server.ok(['certs', app, '--json'])).stdout);
  return (info.acme.deployments as AcmeJson[]).find((d) => d.deployment === deployment);
}

/** `curl https://NAME:PORT/`, NAME resolved to 127.0.0.1, trusting only `caFile`: what a user's client does. */
function curl(server: GokuServer, name: string, caFile: string) {
  return run('curl', [
    '-sS',
    '--max-time',
    '5',
    '--cacert',
    caFile,
    '--resolve',
    `${name}:${server.httpsPort}:127.0.0.1`,
    `https://${name}:${server.httpsPort}/`,
  ]);
}

/** The certificate the edge presents for `name`, checked against `ca`. */
function peer(
  server: GokuServer,
  name: string,
  ca: string,
): Promise<{ fingerprint: string; pubkey: string; authorized: boolean; status: number }> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      {
        host: '127.0.0.1',
        port: server.httpsPort,
        servername: name,
        headers: { host: name },
        ca,
        agent: false,
      },
      (res) => {
        const sock = res.socket as TLSSocket;
        const cert = sock.getPeerCertificate();
        const fingerprint = cert.fingerprint256;
        const pubkey = cert.pubkey?.toString('base64') ?? '';
        res.resume();
        res.on('end', () =>
          resolve({ fingerprint, pubkey, authorized: sock.authorized, status: res.statusCode ?? 0 }),
        );
      },
    );
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

// ACME against a real CA: Debian's pebble, which validates HTTP-01 at goku's edge (its DNS,
// pebble-challtestsrv, answers 127.0.0.1 for every name).
describe('ACME certificates (pebble)', () => {
  const server = new GokuServer();
  const p = uniquePrefix();
  const app = `${p}-acme`;
  const host = () => `${app}.${server.domain}`;
  const refused = `refused-${p}.example.test`;
  let key: SshKey;
  let pebble: Pebble;
  let rootFile: string;

  beforeAll(async () => {
    await server.allocatePorts();
    pebble = await new Pebble({
      parent: server.tmp,
      httpPort: server.proxyPort,
      blocklist: [refused],
    }).start();
    rootFile = join(pebble.dir, 'root.pem');
    writeFileSync(rootFile, pebble.root);
    server.extraEnv = { ...server.extraEnv, ...pebble.env() };
    key = await server.startWithKey();
    await new AppRepo(server.tmp, app, server, key).deploy(httpdApp('acme app'), 'v1');
  });
  afterAll(async () => {
    await server.cleanup();
    await pebble?.stop();
  });

  it("gets a certificate for a pushed app's domain and answers HTTPS with it (curl trusting pebble's root)", async () => {
    const a = await eventually(
      () => acmeOf(server, app),
      (x) => !!x?.cert,
      60_000,
    );
    // Every name the deployment answers at: its default domain and its branch's alias.
    expect(a?.names).toEqual([`${app}-master.${server.domain}`, host()]);
    expect(a?.error).toBeNull();
    expect(a?.cert?.names).toEqual(a?.names);
    expect(a?.cert?.issuer).toMatch(/Pebble/);
    const r = await curl(server, host(), rootFile);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('acme app\n');
    // The key is the nginx workers' only, and never in what goku prints.
    const bundle = join(server.home, 'certs', 'apps', app, a?.cert?.id as string, 'bundle.pem');
    expect(statSync(bundle).mode & 0o777).toBe(0o600);
    expect((await server.ok(['certs', app, '--json'])).stdout).not.toContain('PRIVATE KEY');
    const text = (await server.ok(['certs', app])).stdout;
    expect(text).toContain('ACME:         on');
    expect(text).toMatch(/last try .*: ok/);
  });

  it('gets a domain added later into the certificate within a minute', async () => {
    const extra = `www-${p}.example.test`;
    const t0 = Date.now();
    await server.ok(['domains:add', app, extra]);
    const a = await eventually(
      () => acmeOf(server, app),
      (x) => !!x?.cert?.names.includes(extra),
      60_000,
    );
    expect(Date.now() - t0).toBeLessThan(60_000);
    expect(a?.cert?.names).toEqual(expect.arrayContaining([host(), extra]));
    expect((await curl(server, extra, rootFile)).stdout).toBe('acme app\n');
    expect((await curl(server, host(), rootFile)).stdout).toBe('acme app\n');
  });

  it('keeps HTTP and the current certificate serving when the CA refuses a domain, and says why in certs', async () => {
    const before = await peer(server, host(), pebble.root);
    await server.ok(['domains:add', app, refused]);
    const a = await eventually(
      () => acmeOf(server, app),
      (x) => !!x?.error?.includes(refused),
      60_000,
    );
    expect(a?.error).toMatch(/forbidden by policy/);
    // The other names still have a certificate; the refused one gets goku's default.
    expect(a?.cert?.names).not.toContain(refused);
    expect(a?.cert?.names).toContain(host());
    const now = await peer(server, host(), pebble.root);
    expect([now.authorized, now.status]).toEqual([true, 200]);
    expect(before.authorized).toBe(true);
    expect((await server.get(refused)).body).toBe('acme app\n');
    expect((await server.get(host())).body).toBe('acme app\n');
    const text = (await server.ok(['certs', app])).stdout;
    expect(text).toContain(`no certificate for ${refused}`);
    expect(text).toMatch(/next try +\d{4}-/);
    expect(server.log).toMatch(/some names got no certificate/);
  });

  it('leaves out a name whose validation fails (its DNS points elsewhere); the others keep theirs', async () => {
    const away = `away-${p}.example.test`;
    // Nothing listens on 127.0.0.2 at goku's proxy port: pebble's HTTP-01 request fails.
    await pebble.pointAt(away, '127.0.0.2');
    await server.ok(['domains:add', app, away]);
    const a = await eventually(
      () => acmeOf(server, app),
      (x) => !!x?.error?.includes(away),
      60_000,
    );
    expect(a?.error).toMatch(new RegExp(`no certificate for .*${away.replace(/\./g, '\\.')} \\(`));
    expect(a?.cert?.names).toContain(host());
    expect(a?.cert?.names).not.toContain(away);
    expect((await curl(server, host(), rootFile)).stdout).toBe('acme app\n');
    await server.ok(['domains:remove', app, away]);
  });

  it('answers the challenge path itself only for its own tokens; the redirect to HTTPS spares that path', async () => {
    await server.ok(['certs:redirect', app, 'on']);
    const r = await server.get(host(), '/.well-known/acme-challenge/not-a-goku-token');
    // Not goku's token: the app answers it (busybox httpd: 404), not a 308.
    expect(r.status).toBe(404);
    expect((await server.get(host(), '/')).status).toBe(308);
    await server.ok(['certs:redirect', app, 'off']);
  });

  it('certs:auto off stops asking; on asks again at once', async () => {
    expect((await server.ok(['certs:auto', app, 'off'])).stdout).toContain('ACME off');
    expect((await server.ok(['certs:auto', app])).stdout).toBe(`${app}: ACME off\n`);
    expect((await acmeOf(server, app))?.nextAttempt).toBeNull();
    expect((await server.ok(['certs:auto', app, 'on'])).stdout).toContain('ACME on');
    const a = await acmeOf(server, app);
    expect(a?.nextAttempt).not.toBeNull();
    const bad = await server.cli(['certs:auto', app, 'maybe']);
    expect([bad.code, bad.stderr.trim()]).toEqual([2, 'error: certs:auto takes on or off, not "maybe"']);
  });

  it('follows apps:rename with a certificate for the new name, and apps:destroy removes its files', async () => {
    const renamed = `${p}-acme2`;
    await server.ok(['apps:rename', app, renamed]);
    const newHost = `${renamed}.${server.domain}`;
    await eventually(
      () => acmeOf(server, renamed, renamed),
      (x) => !!x?.cert?.names.includes(newHost),
      60_000,
    );
    expect((await curl(server, newHost, rootFile)).stdout).toBe('acme app\n');
    // The domain added before the rename kept its certificate across it.
    expect((await curl(server, `www-${p}.example.test`, rootFile)).stdout).toBe('acme app\n');
    await server.ok(['apps:destroy', renamed, '--force']);
    expect(existsSync(join(server.home, 'certs', 'apps', renamed))).toBe(false);
    expect(existsSync(join(server.home, 'certs', 'apps', app))).toBe(false);
  });
});

describe('ACME renewal (pebble, 20-second certificates)', () => {
  const server = new GokuServer();
  const p = uniquePrefix();
  const app = `${p}-renew`;
  const host = () => `${app}.${server.domain}`;
  let pebble: Pebble;

  beforeAll(async () => {
    await server.allocatePorts();
    pebble = await new Pebble({ parent: server.tmp, httpPort: server.proxyPort, validity: 20 }).start();
    server.extraEnv = { ...server.extraEnv, ...pebble.env() };
    const key = await server.startWithKey();
    // A Node app: wrk's kept-alive load is the edge's to carry, not busybox httpd's fork per request.
    await new AppRepo(server.tmp, app, server, key).deploy(
      {
        Dockerfile: `FROM ${NODE_IMAGE}\nCOPY server.js /server.js\nEXPOSE 8000\nCMD ["/usr/bin/node", "/server.js"]\n`,
        'server.js': "require('http').createServer((req, res) => res.end('renewed')).listen(8000);\n",
      },
      'renewed',
    );
  });
  afterAll(async () => {
    await server.cleanup();
    await pebble?.stop();
  });

  it('renews before expiry under wrk load over HTTPS with no failed request', async () => {
    const first = await eventually(
      () => acmeOf(server, app),
      (x) => !!x?.cert,
      60_000,
    );
    // wrk sends the URL's host as SNI and resolves it with the system's resolver: it runs in a
    // mount namespace of its own whose /etc/hosts names the app (the machine's stays untouched).
    const hosts = join(server.tmp, 'hosts');
    writeFileSync(hosts, `127.0.0.1 localhost\n127.0.0.1 ${host()}\n`);
    const wrk = exec(
      'unshare',
      [
        '-m',
        '--propagation',
        'private',
        'sh',
        '-c',
        // One thread, 8 connections: load enough to meet a renewal, without starving the tests beside it.
        'mount --bind "$0" /etc/hosts && exec wrk -t1 -c8 -d18s "$1"',
        hosts,
        `https://${host()}:${server.httpsPort}/`,
      ],
      { encoding: 'utf8' },
    );
    // Beside wrk (which checks no certificate): clients that verify each handshake against pebble's root.
    let running = true;
    const seen = new Set<string>();
    const keys = new Set<string>();
    const failures: string[] = [];
    const verify = (async () => {
      while (running) {
        await peer(server, host(), pebble.root).then(
          (r) => {
            if (r.authorized && r.status === 200) {
              seen.add(r.fingerprint);
              keys.add(r.pubkey);
            } else failures.push(String(r.status));
          },
          (err: Error) => failures.push(err.message),
        );
      }
    })();
    const { stdout } = await wrk;
    running = false;
    await verify;
    const requests = Number(/(\d+) requests in/.exec(stdout)?.[1]);
    expect(requests).toBeGreaterThan(1000);
    expect(stdout).not.toMatch(/Socket errors|Non-2xx/);
    // On a failure, the edge's own account of it.
    const edgeLog = () => readFileSync(join(server.home, 'nginx', 'edge', 'error.log'), 'utf8').slice(-3000);
    expect(failures, edgeLog()).toEqual([]);
    const now = await acmeOf(server, app);
    expect(now?.cert?.fingerprint).not.toBe(first?.cert?.fingerprint);
    expect(seen.size).toBeGreaterThanOrEqual(2);
    // The renewed certificate keeps the key (see AcmeTarget.key).
    expect(keys.size).toBe(1);
    expect(now?.error).toBeNull();
  });
});
