#!/usr/bin/env node
// Compose push-to-live benchmark: a one-line change to the web service of a 3-service app
// (web, a stateful db on a named volume, a worker), deployed by `git push` to goku against the
// same done by hand with `docker-compose build web && docker-compose up -d --no-deps web`,
// alternating, in one run. Both run under a steady stream of GETs to the web service (through
// goku's nginx; to the published port by hand), and failed requests are counted on each side.
//   node bench/compose.mjs [--rounds 5]
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
  sh,
  shAsync,
  startGoku,
  until,
} from './lib.mjs';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } });
const ROUNDS = Number(values.rounds);
const tmp = benchTmp();
const id = randomBytes(3).toString('hex');
const now = () => performance.now();

/**
 * The app: web serves index.html, db keeps a file on its volume, worker ticks. By hand, each
 * service gets `init: true`, as goku runs every container with an init: busybox as PID 1
 * ignores SIGTERM, and docker-compose would wait its 10 s stop timeout on every replacement.
 */
function makeApp(dir, body, webPort, init = false) {
  mkdirSync(join(dir, 'web'), { recursive: true });
  mkdirSync(join(dir, 'db'), { recursive: true });
  writeFileSync(
    join(dir, 'compose.yaml'),
    [
      'services:',
      '  web:',
      // By hand, every build is labelled so the bench can remove what it built.
      ...(init ? ['    build: {context: ./web, labels: {goku-bench: "1"}}'] : ['    build: ./web']),
      `    ports: ["${webPort}:8000"]`,
      '    depends_on: [db]',
      ...(init ? ['    init: true'] : []),
      '  db:',
      ...(init ? ['    build: {context: ./db, labels: {goku-bench: "1"}}'] : ['    build: ./db']),
      '    volumes: ["data:/data"]',
      ...(init ? ['    init: true'] : []),
      '  worker:',
      `    image: ${BASE}`,
      '    command: ["sh", "-c", "while true; do sleep 1; done"]',
      ...(init ? ['    init: true'] : []),
      'volumes:',
      '  data:',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'web', 'Dockerfile'),
    `FROM ${BASE}\nCOPY index.html /www/index.html\nCMD ["httpd", "-f", "-p", "8000", "-h", "/www"]\n`,
  );
  writeFileSync(
    join(dir, 'db', 'Dockerfile'),
    `FROM ${BASE}\nCMD ["sh", "-c", "date > /data/started; exec httpd -f -p 8080 -h /data"]\n`,
  );
  writeFileSync(join(dir, 'web', 'index.html'), `${body}\n`);
  sh('git', ['init', '-q', '-b', 'master'], { cwd: dir });
  sh('git', ['config', 'user.email', 'b@example.com'], { cwd: dir });
  sh('git', ['config', 'user.name', 'bench'], { cwd: dir });
  sh('git', ['add', '-A'], { cwd: dir });
  sh('git', ['commit', '-qm', body], { cwd: dir });
}

function change(dir, body) {
  writeFileSync(join(dir, 'web', 'index.html'), `${body}\n`);
  sh('git', ['commit', '-qam', body], { cwd: dir });
}

/** GETs one after another until stopped: how many answered 200 and how many did not. */
function load(port, host) {
  let running = true;
  const counts = { ok: 0, failed: 0 };
  const loop = (async () => {
    while (running) {
      const r = await get(port, host);
      if (r.status === 200) counts.ok++;
      else counts.failed++;
    }
  })();
  return async () => {
    running = false;
    await loop;
    return counts;
  };
}

const results = { goku: [], gokuReturned: [], hand: [] };
const failures = { goku: 0, gokuOk: 0, hand: 0, handOk: 0 };
let goku = null;
const project = `gokubench${id}`;
const hdir = join(tmp, 'hand');
const compose = (args) => shAsync('docker-compose', ['-p', project, ...args], { cwd: hdir });
const cleanup = cleanupOnce(async () => {
  try {
    sh('docker-compose', ['-p', project, 'down', '-v', '--rmi', 'local'], { cwd: hdir });
  } catch {}
  // Each round's build left the one before it untagged.
  for (const img of sh('docker', ['images', '-q', '--filter', 'label=goku-bench=1'])
    .split(/\s+/)
    .filter(Boolean)) {
    try {
      sh('docker', ['rmi', '-f', img]);
    } catch {}
  }
  await cleanupGoku(tmp, [goku]);
});
try {
  buildBase(tmp);
  goku = await startGoku(tmp, {});
  const { ports, gitSsh } = goku;
  const app = `c${id}`;
  const gdir = join(tmp, 'goku');
  makeApp(gdir, 'g-start', 18000);
  sh('git', ['remote', 'add', 'goku', `ssh://git@127.0.0.1:${ports.ssh}/${app}`], { cwd: gdir });
  const push = () =>
    shAsync('git', ['push', '-q', 'goku', 'master'], {
      cwd: gdir,
      env: { ...process.env, GIT_SSH_COMMAND: gitSsh },
    });
  await push();
  const host = `${app}.bench.test`;
  await until(() => get(ports.proxy, host), 'g-start\n');

  const handPort = await freePort();
  makeApp(hdir, 'h-start', handPort, true);
  await compose(['up', '-d', '--build']);
  await until(() => get(handPort, 'x'), 'h-start\n');

  for (let round = 0; round < ROUNDS; round++) {
    const body = `v${round}-${randomBytes(4).toString('hex')}`;
    // goku: time until nginx serves the new content, and until the push returns.
    change(gdir, `g-${body}`);
    let stop = load(ports.proxy, host);
    let t = now();
    const returned = push().then(() => now() - t);
    await until(() => get(ports.proxy, host), `g-${body}\n`);
    results.goku.push(now() - t);
    results.gokuReturned.push(await returned);
    let c = await stop();
    failures.goku += c.failed;
    failures.gokuOk += c.ok;

    // By hand: build the web service and recreate it alone, until it serves the new content.
    change(hdir, `h-${body}`);
    stop = load(handPort, 'x');
    t = now();
    await compose(['build', '-q', 'web']);
    await compose(['up', '-d', '--no-deps', 'web']);
    await until(() => get(handPort, 'x'), `h-${body}\n`);
    results.hand.push(now() - t);
    c = await stop();
    failures.hand += c.failed;
    failures.handOk += c.ok;
  }
} finally {
  await cleanup();
}

const fmt = (ms) => `${(ms / 1000).toFixed(3)} s`;
const ratio = (a, b) => (median(a) / median(b)).toFixed(2);
console.log(`compose push-to-live, one-line web change of a 3-service app, ${ROUNDS} rounds (medians)`);
console.log(
  `goku (served)        ${fmt(median(results.goku)).padStart(9)}   by hand ${fmt(median(results.hand)).padStart(9)}   ratio ${ratio(results.goku, results.hand)}`,
);
console.log(
  `goku (push returned) ${fmt(median(results.gokuReturned)).padStart(9)}   by hand ${fmt(median(results.hand)).padStart(9)}   ratio ${ratio(results.gokuReturned, results.hand)}`,
);
console.log(
  `failed requests under load: goku ${failures.goku} of ${failures.goku + failures.gokuOk}, by hand ${failures.hand} of ${failures.hand + failures.handOk}`,
);
console.log(
  JSON.stringify({
    ...Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v.map(Math.round)])),
    failures,
  }),
);
