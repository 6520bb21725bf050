#!/usr/bin/env node
// HTTPS benchmark: goku's edge (certificate read per handshake, through the routes nginx) against
// one nginx configured by hand with the same certificate file, proxying straight to the app's
// container. Measured in one run with wrk: kept-alive throughput and p99, then full handshakes
// per second (Connection: close, so every request is a new TLS connection); then failed
// requests while the app's certificate is replaced again and again (an HTTPS client asking for
// the app's name by SNI, so that it is the replaced certificate it gets).
//   node bench/https.mjs [--seconds 10] [--connections 32] [--renewals 10]
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { TestCa } from '../test/helpers/certs.mjs';
import { Pebble } from '../test/helpers/pebble.mjs';
import {
  benchTmp,
  buildBase,
  buildNodeImage,
  cleanupGoku,
  cleanupOnce,
  freePort,
  get,
  makeNodeRepo,
  ROOT,
  sh,
  shAsync,
  startGoku,
  until,
} from './lib.mjs';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '32' },
    renewals: { type: 'string', default: '10' },
    'acme-renewals': { type: 'string', default: '3' },
    'acme-validity': { type: 'string', default: '15' },
  },
});

/**
 * Runs `work` while 8 clients send HTTPS requests (a new connection each) for `host`, each
 * handshake verified against `ca`; counts what answered 200 and what did not.
 */
async function verifiedLoad({ port, host, ca }, work) {
  let running = true;
  const counts = { ok: 0, failed: 0, errors: new Set(), fingerprints: new Set() };
  const one = () =>
    new Promise((resolve) => {
      const req = https.get(
        { host: '127.0.0.1', port, servername: host, headers: { host }, ca, agent: false },
        (res) => {
          counts.fingerprints.add(res.socket.getPeerCertificate().fingerprint256);
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 200) counts.ok++;
            else counts.failed++;
            resolve();
          });
        },
      );
      req.on('error', (err) => {
        counts.failed++;
        counts.errors.add(err.message.slice(0, 80));
        resolve();
      });
    });
  const loops = Array.from({ length: 8 }, async () => {
    while (running) await one();
  });
  try {
    await work();
  } finally {
    running = false;
    await Promise.all(loops);
  }
  return counts;
}

/** The benchmark's Node app, answering `body`, pushed to `g` as `app` from a repo in `dir`. */
async function pushNodeApp(g, dir, app, body) {
  makeNodeRepo(dir, body);
  sh('git', ['remote', 'add', 'goku', `ssh://git@127.0.0.1:${g.ports.ssh}/${app}`], { cwd: dir });
  await shAsync('git', ['push', '-q', 'goku', 'master'], {
    cwd: dir,
    env: { ...process.env, GIT_SSH_COMMAND: g.gitSsh },
  });
}

/** A goku with pebble as its CA: the app's ACME certificate renewed under load, --acme-renewals times. */
async function acmeRenewals(tmp) {
  const proxy = await freePort();
  const pebble = await new Pebble({
    parent: tmp,
    httpPort: proxy,
    validity: Number(values['acme-validity']),
  }).start();
  acmeGoku = await startGoku(tmp, { GOKU_CHECK_UPTIME: '0', ...pebble.env() }, 'acme', { proxy });
  try {
    const { ports, env } = acmeGoku;
    const app = `a${id}`;
    const host = `${app}.bench.test`;
    await pushNodeApp(acmeGoku, join(tmp, 'acme-app'), app, 'acme bench');
    const fingerprint = () => {
      const info = JSON.parse(
        execFileSync(join(ROOT, 'bin/goku'), ['certs', app, '--json'], { env, encoding: 'utf8' }),
      );
      return info.acme.deployments.find((d) => d.deployment === app)?.cert?.fingerprint ?? null;
    };
    for (let t = Date.now(); fingerprint() === null; ) {
      if (Date.now() - t > 60_000) throw new Error('no ACME certificate in 60 s');
      await new Promise((r) => setTimeout(r, 250));
    }
    const want = Number(values['acme-renewals']);
    const seen = new Set([fingerprint()]);
    const counts = await verifiedLoad({ port: ports.https, host, ca: pebble.root }, async () => {
      const deadline = Date.now() + (want + 1) * Number(values['acme-validity']) * 1000;
      while (seen.size <= want && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        seen.add(fingerprint());
      }
    });
    return { renewals: seen.size - 1, counts };
  } finally {
    await pebble.stop();
  }
}

const tmp = benchTmp();
const id = randomBytes(3).toString('hex');
let goku = null;
let acmeGoku = null;
let hand = null;
const cleanup = cleanupOnce(async () => {
  if (hand) {
    try {
      process.kill(Number(readFileSync(join(tmp, 'hand', 'nginx.pid'), 'utf8')), 'SIGQUIT');
    } catch {}
  }
  await cleanupGoku(tmp, [goku, acmeGoku]);
});

/** wrk's requests per second and p99 (ms) for a URL with a Host header. */
function wrk(url, host, extra = []) {
  const out = execFileSync(
    'wrk',
    [
      '-t2',
      `-c${values.connections}`,
      `-d${values.seconds}s`,
      '--latency',
      '-H',
      `Host: ${host}`,
      ...extra,
      url,
    ],
    { encoding: 'utf8' },
  );
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const p99 = /99%\s+([\d.]+)(us|ms|s)/.exec(out);
  const ms = p99 ? Number(p99[1]) * { us: 0.001, ms: 1, s: 1000 }[p99[2]] : Number.NaN;
  const errors = /Socket errors: (.*)/.exec(out)?.[1] ?? 'none';
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  return { rps, p99: ms, errors, non2xx };
}

try {
  buildBase(tmp);
  // A Node app, as the proxy benchmark's: busybox httpd forks per request and knows no keep-alive.
  buildNodeImage(tmp);
  goku = await startGoku(tmp, { GOKU_CHECK_UPTIME: '0' });
  const { ports, env } = goku;
  const app = `h${id}`;
  const host = `${app}.bench.test`;
  await pushNodeApp(goku, join(tmp, 'app'), app, 'tls bench');
  await until(() => get(ports.proxy, host), 'tls bench\n');
  const ip = sh('docker', [
    'inspect',
    '-f',
    '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}',
    app,
  ]).trim();

  // By hand: one nginx, the same certificate file (goku's default bundle, which a client
  // without SNI gets from goku too), straight to the container.
  const bundle = join(env.GOKU_HOME, 'certs', 'default', 'bundle.pem');
  const handPort = await freePort();
  const hdir = join(tmp, 'hand');
  mkdirSync(join(hdir, 'tmp'), { recursive: true });
  writeFileSync(
    join(hdir, 'nginx.conf'),
    `worker_processes auto;\npid ${hdir}/nginx.pid;\nerror_log ${hdir}/error.log warn;\nevents { worker_connections 4096; }\n` +
      `http {\n  access_log off;\n  client_body_temp_path ${hdir}/tmp;\n  proxy_temp_path ${hdir}/tmp;\n` +
      `  ssl_protocols TLSv1.2 TLSv1.3;\n  ssl_session_cache shared:hand:10m;\n  ssl_session_timeout 1h;\n` +
      `  upstream app { server ${ip}:8000; keepalive 32; }\n` +
      `  server {\n    listen 127.0.0.1:${handPort} ssl;\n    ssl_certificate ${bundle};\n    ssl_certificate_key ${bundle};\n` +
      `    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host; }\n  }\n}\n`,
  );
  hand = spawn('nginx', ['-c', join(hdir, 'nginx.conf'), '-p', hdir], { stdio: 'inherit' });
  await new Promise((r) => hand.on('exit', r));

  const gokuUrl = `https://127.0.0.1:${ports.https}/`;
  const handUrl = `https://127.0.0.1:${handPort}/`;
  // Warm-up: the app's JIT and both nginx before anything is timed.
  for (const url of [gokuUrl, handUrl])
    execFileSync('wrk', ['-t2', '-c16', '-d3s', '-H', `Host: ${host}`, url]);
  const rows = [];
  for (const [what, extra] of [
    ['kept-alive requests', []],
    ['new TLS connection per request', ['-H', 'Connection: close']],
  ]) {
    // Alternating, three times each.
    const g = [];
    const h = [];
    for (let i = 0; i < 3; i++) {
      g.push(wrk(gokuUrl, host, extra));
      h.push(wrk(handUrl, host, extra));
    }
    const mean = (xs, k) => xs.reduce((a, x) => a + x[k], 0) / xs.length;
    rows.push({
      what,
      goku: {
        rps: mean(g, 'rps'),
        p99: mean(g, 'p99'),
        errors: g.map((x) => x.errors),
        non2xx: g.map((x) => x.non2xx),
      },
      hand: {
        rps: mean(h, 'rps'),
        p99: mean(h, 'p99'),
        errors: h.map((x) => x.errors),
        non2xx: h.map((x) => x.non2xx),
      },
    });
  }

  // Replacements under load: clients asking for the app's own name, trusting only the test CA.
  const ca = new TestCa(tmp);
  // Renewals that keep their key (certbot --reuse-key; goku's ACME does the same): see the README.
  const key = ca.leaf([host]).key;
  const add = () => {
    const leaf = ca.leaf([host], 30, key);
    execFileSync(join(ROOT, 'bin/goku'), ['certs:add', app], { env, input: leaf.cert + ca.cert + leaf.key });
  };
  add();
  const renewals = Number(values.renewals);
  const counts = await verifiedLoad({ port: ports.https, host, ca: ca.cert }, async () => {
    for (let i = 0; i < renewals; i++) {
      add();
      await new Promise((r) => setTimeout(r, 300));
    }
  });

  // ACME renewals under load: a second goku whose certificates come from pebble and live
  // --acme-validity seconds, so that goku renews them (with a third of their life left).
  const acme = await acmeRenewals(tmp);

  console.log(
    `HTTPS through goku's edge vs one nginx by hand, same certificate, wrk -t2 -c${values.connections} -d${values.seconds}s (mean of 3 each, alternating)`,
  );
  for (const r of rows) {
    console.log(
      `${r.what.padEnd(32)} goku ${r.goku.rps.toFixed(0).padStart(7)} req/s p99 ${r.goku.p99.toFixed(2)} ms   by hand ${r.hand.rps.toFixed(0).padStart(7)} req/s p99 ${r.hand.p99.toFixed(2)} ms   ratio ${(r.goku.rps / r.hand.rps).toFixed(2)}`,
    );
  }
  console.log(
    `${renewals} certificate replacements under 8 HTTPS clients (a new connection each): ${counts.failed} failed of ${counts.ok + counts.failed}${counts.errors.size ? ` (${[...counts.errors].join('; ')})` : ''}`,
  );
  console.log(
    `${acme.renewals} ACME renewals (pebble, ${values['acme-validity']}-second certificates) under 8 HTTPS clients verifying each handshake: ${acme.counts.failed} failed of ${acme.counts.ok + acme.counts.failed}${acme.counts.errors.size ? ` (${[...acme.counts.errors].join('; ')})` : ''}`,
  );
  console.log(
    JSON.stringify({
      rows,
      renewals: { ...counts, errors: [...counts.errors] },
      acme: { renewals: acme.renewals, ...acme.counts, errors: [...acme.counts.errors] },
    }),
  );
} finally {
  await cleanup();
}
