#!/usr/bin/env node
// Push-to-live with GOKU_SCHEDULER=swarm on a two-node swarm against the same change by hand:
// `docker build`, `docker push` and `docker service update --image` (which waits until the
// service converged), each of the app's 2 tasks on another node, in one run on one machine.
// The swarm is two Docker engines in network namespaces of the bench's own, with Debian's
// docker-registry on the first one's address (bench/swarm-lab.mjs, as the tests use).
// By hand twice: with Docker's defaults for the update (one task at a time, 5 s monitor), and
// with goku's own (every task at once, a 1 s monitor). Goal: goku / by hand <= 1.2.
//   node bench/swarm.mjs [--rounds 5]
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  BASE,
  benchTmp,
  buildBase,
  cleanupGoku,
  cleanupOnce,
  commit,
  makeRepo,
  median,
  ROOT,
  sh,
  shAsync,
  startGoku,
} from './lib.mjs';
import { SwarmLab } from './swarm-lab.mjs';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } });
const ROUNDS = Number(values.rounds);
const tmp = benchTmp();
const id = randomBytes(3).toString('hex');
const image = `goku-bench/goku:${id}`;
const lab = new SwarmLab();
let goku = null;
const cleanup = cleanupOnce(async () => {
  await cleanupGoku(tmp, goku, [image]);
  await lab.cleanup();
});
const now = () => performance.now();

try {
  process.stderr.write('building goku image, starting the lab...\n');
  await shAsync('bash', [join(ROOT, 'install.sh'), '--image-only'], {
    env: { ...process.env, GOKU_IMAGE: image },
  });
  buildBase(tmp);
  await lab.start({ registry: true });
  const [a] = lab.nodes;
  await lab.initSwarm();
  lab.loadImage(a, BASE);
  lab.loadImage(a, image);
  const onA = { ...process.env, DOCKER_HOST: a.host };

  goku = await startGoku(tmp, {
    DOCKER_HOST: a.host,
    GOKU_SCHEDULER: 'swarm',
    GOKU_NGINX_IMAGE: image,
    GOKU_REGISTRY: `${lab.registry}/apps`,
  });
  const repo = join(tmp, 'app');
  makeRepo(repo, 'v0');
  sh('git', ['remote', 'add', 'goku', `ssh://git@127.0.0.1:${goku.ports.ssh}/app`], { cwd: repo });
  const push = () =>
    shAsync('git', ['push', '-q', 'goku', 'master'], {
      cwd: repo,
      env: { ...process.env, GIT_SSH_COMMAND: goku.gitSsh },
    });
  await push();
  sh(join(ROOT, 'bin/goku'), ['ps:scale', 'app', 'web=2'], { env: goku.env });

  // By hand: the same app as a service of its own on goku's overlay, 2 tasks, start-first, dnsrr.
  const ctx = join(tmp, 'hand');
  makeRepo(ctx, 'v0');
  const ref = (n) => `${lab.registry}/hand/app:${n}`;
  const buildPush = (n) => {
    writeFileSync(join(ctx, 'index.html'), `hand v${n}\n`);
    sh('docker', ['build', '-q', '-t', ref(n), ctx], { env: onA });
    sh('docker', ['push', '-q', ref(n)], { env: onA });
  };
  buildPush(0);
  const net = 'goku';
  sh(
    'docker',
    [
      'service',
      'create',
      '-q',
      '--name',
      `hand-${id}`,
      '--replicas',
      '2',
      '--network',
      net,
      '--endpoint-mode',
      'dnsrr',
      '--update-order',
      'start-first',
      ref(0),
    ],
    { env: onA },
  );
  const byHand = async (n, flags) => {
    const t0 = now();
    buildPush(n);
    await shAsync('docker', ['service', 'update', '-q', '--image', ref(n), ...flags, `hand-${id}`], {
      env: onA,
    });
    return now() - t0;
  };

  const times = { goku: [], docker: [], matched: [] };
  for (let r = 1; r <= ROUNDS; r++) {
    commit(repo, `v${r}`);
    const t0 = now();
    await push();
    times.goku.push(now() - t0);
    times.docker.push(await byHand(2 * r - 1, []));
    times.matched.push(await byHand(2 * r, ['--update-parallelism', '0', '--update-monitor', '1s']));
    process.stderr.write(
      `round ${r}: goku ${times.goku.at(-1).toFixed(0)} ms, by hand ${times.docker.at(-1).toFixed(0)} ms, by hand (goku's update settings) ${times.matched.at(-1).toFixed(0)} ms\n`,
    );
  }
  const m = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
  console.log(`Swarm push-to-live, 2 tasks on 2 nodes, medians of ${ROUNDS}:`);
  console.log(
    `  goku git push (build, push to the registry, service update, route, confirm): ${m.goku.toFixed(0)} ms`,
  );
  console.log(
    `  by hand, docker build + push + service update (Docker's defaults):          ${m.docker.toFixed(0)} ms`,
  );
  console.log(
    `  by hand, the same with --update-parallelism 0 --update-monitor 1s:          ${m.matched.toFixed(0)} ms`,
  );
  console.log(`  goku / by hand (defaults): ${(m.goku / m.docker).toFixed(2)} (goal <= 1.2)`);
  console.log(`  goku / by hand (goku's update settings): ${(m.goku / m.matched).toFixed(2)}`);
} finally {
  await cleanup();
}
