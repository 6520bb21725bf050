// Debian's pebble (Let's Encrypt's test CA) and pebble-challtestsrv (its DNS: every name is
// 127.0.0.1), started for one test or benchmark on free ports. Plain JavaScript so that the
// benchmarks can use it too; types in pebble.d.mts.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { createServer } from 'node:net';
import { join } from 'node:path';

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function get(url, ca) {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
  });
}

export class Pebble {
  /**
   * @param {{ parent: string, httpPort: number, validity?: number, blocklist?: string[] }} o
   *   httpPort: where pebble sends HTTP-01 validations (goku's GOKU_PROXY_PORT); validity: seconds
   *   its certificates live.
   */
  constructor(o) {
    this.o = o;
    this.dir = mkdtempSync(join(o.parent, 'pebble-'));
    this.procs = [];
    this.log = '';
  }

  async start() {
    const [listen, mgmt, dns, chall] = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    this.caFile = join(this.dir, 'tls.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '2',
        '-subj',
        '/CN=pebble',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-keyout',
        join(this.dir, 'tls.key'),
        '-out',
        this.caFile,
      ],
      { stdio: 'pipe' },
    );
    this.ca = readFileSync(this.caFile, 'utf8');
    const config = {
      pebble: {
        listenAddress: `127.0.0.1:${listen}`,
        managementListenAddress: `127.0.0.1:${mgmt}`,
        certificate: this.caFile,
        privateKey: join(this.dir, 'tls.key'),
        httpPort: this.o.httpPort,
        tlsPort: await freePort(),
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
        domainBlocklist: this.o.blocklist ?? [],
        ...(this.o.validity ? { certificateValidityPeriod: this.o.validity } : {}),
      },
    };
    writeFileSync(join(this.dir, 'config.json'), JSON.stringify(config));
    this.run(
      'pebble-challtestsrv',
      [
        '-defaultIPv4',
        '127.0.0.1',
        '-defaultIPv6',
        '',
        '-dns01',
        `127.0.0.1:${dns}`,
        '-http01',
        '',
        '-https01',
        '',
        '-tlsalpn01',
        '',
        '-management',
        `127.0.0.1:${chall}`,
      ],
      {},
    );
    this.dnsAdmin = `http://127.0.0.1:${chall}`;
    // No random validation sleeps, no nonces refused on purpose: tests want speed, not chaos.
    this.run('pebble', ['-config', join(this.dir, 'config.json'), '-dnsserver', `127.0.0.1:${dns}`], {
      PEBBLE_VA_NOSLEEP: '1',
      PEBBLE_WFE_NONCEREJECT: '0',
    });
    this.directory = `https://127.0.0.1:${listen}/dir`;
    this.management = `https://127.0.0.1:${mgmt}`;
    for (let i = 0; ; i++) {
      const r = await get(this.directory, this.ca).catch(() => null);
      if (r?.status === 200) break;
      if (i > 100) throw new Error(`pebble did not start: ${this.log}`);
      await new Promise((res) => setTimeout(res, 100));
    }
    const root = await get(`${this.management}/roots/0`, this.ca);
    /** The root pebble issues under (trust it to check what goku serves). */
    this.root = root.body;
    return this;
  }

  run(bin, args, env) {
    const p = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const onData = (d) => {
      this.log += d.toString();
    };
    p.stdout.on('data', onData);
    p.stderr.on('data', onData);
    p.on('error', (err) => {
      this.log += `${bin}: ${err.message}\n`;
    });
    this.procs.push(p);
  }

  /** Makes pebble's DNS answer `address` for `host` (a name that then does not lead to goku). */
  async pointAt(host, address) {
    const res = await fetch(`${this.dnsAdmin}/add-a`, {
      method: 'POST',
      body: JSON.stringify({ host: `${host}.`, addresses: [address] }),
    });
    if (!res.ok) throw new Error(`pebble-challtestsrv add-a: ${res.status}`);
  }

  /** The environment that points goku at this CA. */
  env() {
    return {
      GOKU_ACME_EMAIL: 'admin@goku.test',
      GOKU_ACME_DIRECTORY: this.directory,
      GOKU_ACME_CA: this.caFile,
    };
  }

  async stop() {
    await Promise.all(
      this.procs.map(
        (p) =>
          new Promise((res) => {
            if (p.exitCode !== null || p.signalCode !== null) return res();
            p.once('exit', res);
            p.kill('SIGKILL');
          }),
      ),
    );
  }
}
