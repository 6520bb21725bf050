#!/usr/bin/env node
// Registry-to-live benchmark: from the moment `docker push` of a new image returns until nginx
// serves its content, goku (the registry's own notification → webhook → pull by digest →
// start → health check → nginx switch) against doing it by hand (`docker pull` + `docker run`
// + first HTTP 200 + `docker rm -f` of the old one), alternating, in one run.
//   node bench/webhook.mjs [--rounds 7] [--uptime 1]
// Both sides push from this machine, so the image's layers are already in the engine: what
// is measured is the path from "the registry has it" to "it is served", not the download.
// Each goku round starts after the last deploy is over (watch and retirement included).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  BASE,
  benchTmp,
  buildBase,
  cleanupGoku,
  cleanupOnce,
  freePort,
  get,
  median,
  ROOT,
  sh,
  startGoku,
  until,
} from './lib.mjs';

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '7' }, uptime: { type: 'string', default: '1' } },
});
const ROUNDS = Number(values.rounds);
const tmp = benchTmp();
const id = randomBytes(3).toString('hex');
const now = () => performance.now();
let goku = null;
let registry = null;
/** Ids of the images this bench built (pushed to the registry). */
const pushed = [];
const handContainers = [];
const cleanup = cleanupOnce(async () => {
  registry?.kill('SIGKILL');
  for (const c of handContainers) sh('docker', ['rm', '-f', c]);
  await cleanupGoku(tmp, [goku]);
  // After goku's images: the one it adopted from a pushed image holds that image as parent.
  for (const img of new Set(pushed)) {
    try {
      sh('docker', ['rmi', '-f', img]);
    } catch {}
  }
});

/** An image serving `body`, pushed to the registry; returns when `docker push` does. */
function build(host, repo, body) {
  const ctx = join(tmp, `ctx-${randomBytes(4).toString('hex')}`);
  mkdirSync(join(ctx, 'www'), { recursive: true });
  writeFileSync(join(ctx, 'www/index.html'), `${body}\n`);
  writeFileSync(
    join(ctx, 'Dockerfile'),
    `FROM ${BASE}\nCOPY www /www\nEXPOSE 8000\nCMD ["httpd", "-f", "-p", "8000", "-h", "/www"]\n`,
  );
  const ref = `${host}/${repo}:latest`;
  // Every build by id: each round's build takes the tag from the last, which left untagged.
  pushed.push(sh('docker', ['build', '-q', '-t', ref, ctx]).trim());
  return ref;
}

const results = { goku: [], hand: [] };

/** The app's last release finished and its old container is gone. */
async function settled(app) {
  for (;;) {
    const [last] = JSON.parse(sh(join(ROOT, 'bin/goku'), ['releases', app, '--json'], { env: goku.env }));
    const running = sh('docker', ['ps', '-q', '--filter', `label=goku.app=${app}`])
      .split(/\s+/)
      .filter(Boolean);
    if (last?.status !== 'running' && running.length === 1) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}
try {
  buildBase(tmp);
  goku = await startGoku(tmp, { GOKU_CHECK_UPTIME: values.uptime });
  const bin = join(ROOT, 'bin/goku');
  const hooks = JSON.parse(sh(bin, ['webhooks', '--json'], { env: goku.env }));
  const hook = hooks.registry.replace(/^http:\/\/[^/]+/, `http://127.0.0.1:${goku.ports.http}`);
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  writeFileSync(
    join(tmp, 'registry.yml'),
    `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${join(tmp, 'registry')}\nhttp:\n  addr: ${host}\nnotifications:\n  endpoints:\n    - name: goku\n      url: ${hook}\n      timeout: 2s\n      threshold: 3\n      backoff: 1s\n`,
  );
  registry = spawn('docker-registry', ['serve', join(tmp, 'registry.yml')], { stdio: 'ignore' });
  await until(
    async () => ({
      status: (await fetch(`http://${host}/v2/`).catch(() => ({ status: 0 }))).status,
      body: '',
    }),
    '',
  );

  const app = `w${id}`;
  const domain = `${app}.bench.test`;
  const appRef = build(host, `bench/${app}`, 'v0');
  sh('docker', ['push', appRef]);
  sh(bin, ['apps:create', app, '--image', appRef], { env: goku.env });
  sh(bin, ['deploy', app], { env: goku.env });
  await until(() => get(goku.ports.proxy, domain), 'v0\n');

  let old = null;
  for (let round = 0; round < ROUNDS; round++) {
    const v = `v${round + 1}-${randomBytes(4).toString('hex')}`;
    // goku: the push's own notification does the rest.
    build(host, `bench/${app}`, v);
    sh('docker', ['push', appRef]);
    let t = now();
    await until(() => get(goku.ports.proxy, domain), `${v}\n`);
    results.goku.push(now() - t);
    // The deploy goes on after its content is served (the 1 s watch, then the old container
    // retires) and holds the app's lock meanwhile: the next round starts once it is over.
    await settled(app);

    // By hand: pull, run, first 200 from the container, remove the old one.
    const handRef = build(host, `bench/hand${id}`, v);
    sh('docker', ['push', handRef]);
    t = now();
    sh('docker', ['pull', '-q', handRef]);
    const cid = sh('docker', ['run', '-d', '--init', '--label', 'goku-bench=1', handRef]).trim();
    handContainers.push(cid);
    const ip = sh('docker', ['inspect', '-f', '{{.NetworkSettings.IPAddress}}', cid]).trim();
    await until(() => get(8000, 'x', ip), `${v}\n`);
    if (old) sh('docker', ['rm', '-f', old]);
    results.hand.push(now() - t);
    old = cid;
  }
} finally {
  await cleanup();
}

const fmt = (ms) => `${(ms / 1000).toFixed(3)} s`;
const [g, h] = [median(results.goku), median(results.hand)];
console.log(`registry-to-live, ${ROUNDS} rounds alternating, GOKU_CHECK_UPTIME=${values.uptime} (medians)`);
console.log(
  `new image served after docker push   goku ${fmt(g).padStart(9)}   by hand ${fmt(h).padStart(9)}   ratio ${(g / h).toFixed(2)}`,
);
console.log(
  JSON.stringify(Object.fromEntries(Object.entries(results).map(([k, x]) => [k, x.map(Math.round)]))),
);
