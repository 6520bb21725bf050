#!/usr/bin/env node
// npm records in package-lock.json only the optional platform packages its registry serves,
// and this workplace's npm registry serves Biome's linux-x64 binary only. `npm ci` then
// refuses the lock file ("Missing: @biomejs/cli-darwin-x64 from lock file"). This adds an
// entry (version, os, cpu, libc; no integrity, which npm cannot learn here) for each of
// Biome's platform packages the lock lacks, so `npm ci` works in a fresh clone on any
// platform. Run it after `npm install` changes the lock: node .ci/lock-platforms.mjs
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const file = join(import.meta.dirname, '..', 'package-lock.json');
const lock = JSON.parse(readFileSync(file, 'utf8'));
const pkgs = lock.packages;
const biome = pkgs['node_modules/@biomejs/biome'];
let added = 0;
for (const [name, version] of Object.entries(biome?.optionalDependencies ?? {})) {
  const key = `node_modules/${name}`;
  if (pkgs[key]) continue;
  // @biomejs/cli-<os>-<cpu>[-musl]
  const m = /^@biomejs\/cli-([a-z0-9]+)-([a-z0-9]+)(-musl)?$/.exec(name);
  if (!m) throw new Error(`unexpected platform package ${name}`);
  pkgs[key] = {
    version,
    cpu: [m[2]],
    dev: true,
    engines: { node: '>=14.21.3' },
    ...(m[1] === 'linux' ? { libc: [m[3] ? 'musl' : 'glibc'] } : {}),
    license: 'MIT OR Apache-2.0',
    optional: true,
    os: [m[1]],
  };
  added++;
}
// Biome's platform entries together, by name, where npm puts them (after @biomejs/biome);
// every other entry keeps its place.
const isCli = (k) => k.startsWith('node_modules/@biomejs/cli-');
const clis = Object.entries(pkgs)
  .filter(([k]) => isCli(k))
  .sort(([a], [b]) => (a < b ? -1 : 1));
const out = [];
for (const entry of Object.entries(pkgs)) {
  if (isCli(entry[0])) continue;
  out.push(entry);
  if (entry[0] === 'node_modules/@biomejs/biome') out.push(...clis);
}
lock.packages = Object.fromEntries(out);
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`package-lock.json: added ${added} platform entr${added === 1 ? 'y' : 'ies'} for Biome`);
