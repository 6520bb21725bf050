import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where goku itself is installed (templates/, hooks/, package.json). */
export const PACKAGE_ROOT = fileURLToPath(new URL('..', import.meta.url));

export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string })
    .version;
}

/** The daemon's local socket (CLI and git hook), mode 0600 inside GOKU_HOME. */
export function socketPath(home: string): string {
  return join(home, 'goku.sock');
}

/** ACME: the account key, and the web root the edge serves HTTP-01 challenges from. */
export function acmeDir(home: string): string {
  return join(home, 'acme');
}
