import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GokuServer, ROOT, run } from '../helpers/goku.js';

// install.sh as a user runs it (it may rebuild dist/, so it runs alone, after the parallel tests):
// goku's log is root's alone and never holds the admin token, which the first run shows once.
describe('install.sh', () => {
  const server = new GokuServer();
  const stopGoku = () => {
    try {
      const pid = Number(readFileSync(join(server.home, 'goku.pid'), 'utf8'));
      process.kill(pid, 'SIGTERM');
    } catch {
      // not running
    }
  };
  afterAll(async () => {
    stopGoku();
    await new Promise((r) => setTimeout(r, 500));
    await server.cleanup();
  });

  it('starts goku with a 0600 log that never holds the token; the token is printed once', async () => {
    await server.allocatePorts();
    const first = await run('bash', [join(ROOT, 'install.sh')], { env: server.env() });
    expect(first.code, first.stderr).toBe(0);
    const token = readFileSync(join(server.home, 'admin-token'), 'utf8').trim();
    expect(first.stdout).toContain(`Admin token (HTTP API):  ${token}`);
    const log = join(server.home, 'goku.log');
    expect(statSync(log).mode & 0o777).toBe(0o600);
    expect(readFileSync(log, 'utf8')).toContain('goku is ready');
    expect(readFileSync(log, 'utf8')).not.toContain(token);
    // Run again (an upgrade): goku restarts, the token is only pointed to.
    const again = await run('bash', [join(ROOT, 'install.sh')], { env: server.env() });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).not.toContain(token);
    // The same package-lock.json as the run before: npm ci is skipped.
    expect(again.stdout).toContain('Node dependencies already match package-lock.json');
    // npm test built dist/ from these sources: neither run rebuilt it.
    expect(first.stdout).toContain('dist/ was built from these sources; not rebuilding');
    expect(again.stdout).toContain('dist/ was built from these sources; not rebuilding');
    expect(again.stdout).toContain(`in ${server.home}/admin-token (root only)`);
    expect(statSync(log).mode & 0o777).toBe(0o600);
    expect(readFileSync(log, 'utf8')).not.toContain(token);
    expect(execFileSync('stat', ['-c', '%a', server.home]).toString().trim()).toBe('711');
  });
});
