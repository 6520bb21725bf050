#!/usr/bin/env node
// Push-to-live in each install mode: goku native (bin/goku server), in a container on the host's
// engine (./install.sh host) and in a container with its own engine (./install.sh dind), one
// change pushed to each in turn, in one run on one machine. Prints medians and the ratios
// against native (goals: host <= 1.05, dind <= 1.3).
//   node bench/modes.mjs [--rounds 5]
// The app brings its own busybox (FROM scratch), since dind's engine has no images; its layers
// are cached after the first push in each engine, so a change rebuilds only its page.
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  addKey,
  benchTmp,
  cleanupGoku,
  cleanupOnce,
  get,
  gokuEnv,
  gokuPorts,
  median,
  ROOT,
  sh,
  shAsync,
  startGoku,
  until,
} from './lib.mjs';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } });
const ROUNDS = Number(values.rounds);
const tmp = benchTmp();
const id = randomBytes(3).toString('hex');
const image = `goku-bench/goku:${id}`;
const now = () => performance.now();
const settings = { GOKU_CHECK_UPTIME: '0' };

/** goku installed by install.sh in a container mode, with a key; the same shape as startGoku's. */
async function installGoku(mode) {
  const home = join(tmp, mode);
  const ports = await gokuPorts();
  const env = gokuEnv(home, ports, {
    ...settings,
    // native and host share this machine's engine: each its own container names.
    GOKU_CONTAINER_PREFIX: `b${mode}-`,
    GOKU_CONTAINER: `goku-bench-${id}-${mode}`,
    GOKU_IMAGE: image,
    GOKU_BIN_LINK: join(tmp, `${mode}-goku`),
    GOKU_MODE_FILE: join(tmp, `${mode}-mode`),
  });
  await shAsync('bash', [join(ROOT, 'install.sh'), mode], { env });
  const gitSsh = addKey(tmp, mode, env.GOKU_BIN_LINK, env);
  return { mode, env, home, ports, gitSsh };
}

function makeApp(dir, body) {
  mkdirSync(dir, { recursive: true });
  sh('git', ['init', '-q', '-b', 'master'], { cwd: dir });
  sh('git', ['config', 'user.email', 'b@example.com'], { cwd: dir });
  sh('git', ['config', 'user.name', 'bench'], { cwd: dir });
  copyFileSync('/bin/busybox', join(dir, 'busybox'));
  writeFileSync(
    join(dir, 'Dockerfile'),
    'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n' +
      'COPY index.html /www/index.html\nEXPOSE 8000\nCMD ["httpd", "-f", "-p", "8000", "-h", "/www"]\n',
  );
  writeFileSync(join(dir, 'index.html'), `${body}\n`);
  sh('git', ['add', '-A'], { cwd: dir });
  sh('git', ['commit', '-qm', body], { cwd: dir });
}

/** One push of `body`, timed from `git push` to the first 200 with that body through nginx. */
async function pushTimed(g, dir, body, first) {
  if (!first) {
    writeFileSync(join(dir, 'index.html'), `${body}\n`);
    sh('git', ['commit', '-qam', body], { cwd: dir });
  }
  const t0 = now();
  await shAsync('git', ['push', '-q', `ssh://git@127.0.0.1:${g.ports.ssh}/app`, 'master'], {
    cwd: dir,
    env: { ...process.env, GIT_SSH_COMMAND: g.gitSsh },
  });
  await until(() => get(g.ports.proxy, 'app.bench.test'), `${body}\n`);
  return now() - t0;
}

const gokus = [];
const cleanup = cleanupOnce(async () => {
  for (const g of gokus.filter((x) => x.mode)) {
    await shAsync('bash', [join(ROOT, 'install.sh'), '--uninstall', '--purge'], { env: g.env }).catch(
      () => {},
    );
  }
  await cleanupGoku(
    tmp,
    gokus.filter((x) => !x.mode),
    [image],
  );
});
try {
  const t0 = now();
  gokus.push(await installGoku('host'));
  const built = now() - t0;
  gokus.push(await installGoku('dind'));
  const native = await startGoku(tmp, { ...settings, GOKU_CONTAINER_PREFIX: 'bnative-' }, 'native');
  gokus.push(native);
  const names = ['native', 'host', 'dind'];
  const order = [native, gokus[0], gokus[1]];
  const times = Object.fromEntries(names.map((n) => [n, []]));
  for (const [i, g] of order.entries()) {
    makeApp(join(tmp, `repo-${names[i]}`), 'v0');
    await pushTimed(g, join(tmp, `repo-${names[i]}`), 'v0', true);
  }
  for (let r = 1; r <= ROUNDS; r++) {
    for (const [i, g] of order.entries()) {
      times[names[i]].push(await pushTimed(g, join(tmp, `repo-${names[i]}`), `v${r}`, false));
    }
  }
  const m = Object.fromEntries(names.map((n) => [n, median(times[n])]));
  console.log(`image build and install (host mode, first): ${(built / 1000).toFixed(1)} s`);
  console.log(`push-to-live, one-line change, median of ${ROUNDS} (ms):`);
  for (const n of names)
    console.log(`  ${n.padEnd(7)} ${m[n].toFixed(0)}   [${times[n].map((t) => t.toFixed(0)).join(', ')}]`);
  console.log(`ratio host / native: ${(m.host / m.native).toFixed(2)} (goal <= 1.05)`);
  console.log(`ratio dind / native: ${(m.dind / m.native).toFixed(2)} (goal <= 1.3)`);
} finally {
  await cleanup();
}
