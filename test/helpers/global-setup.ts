import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildNodeImage } from '../fixtures/node-image.mjs';

export const BASE_IMAGE = 'goku-test/busybox:1';
/** BASE_IMAGE plus node: for apps that must behave like a real app server (keep-alive, bodies). */
export const NODE_IMAGE = 'goku-test/node:1';

/**
 * Test apps build FROM a busybox image made here from Debian's busybox-static: no registry
 * can be reached. Fails loudly when Docker is missing: e2e tests are never skipped.
 */
export function setup(): void {
  try {
    execFileSync('docker', ['version', '--format', '{{.Server.Version}}'], { stdio: 'pipe' });
  } catch (err) {
    throw new Error(`Docker is required for the tests and is not reachable: ${(err as Error).message}`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'goku-base-'));
  try {
    copyFileSync('/bin/busybox', join(dir, 'busybox'));
    writeFileSync(
      join(dir, 'Dockerfile'),
      'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n',
    );
    execFileSync('docker', ['build', '-q', '-t', BASE_IMAGE, '--label', 'goku-test=1', dir], {
      stdio: 'pipe',
    });
    buildNodeImage(join(dir, 'node'), BASE_IMAGE, NODE_IMAGE, ['goku-test=1']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The base images stay: two test runs on one machine (a developer's and CI's) share them, and
 * removing one under the other run breaks that run's builds. They are labelled goku-test=1
 * and rebuilt (from cache) at every setup.
 */
export function teardown(): void {}
