import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync, statSync } from 'node:fs';
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
    // Where this install records its mode and links the command (not the machine's own).
    const env = {
      ...server.env(),
      GOKU_BIN_LINK: join(server.tmp, 'bin', 'goku'),
      GOKU_MODE_FILE: join(server.tmp, 'install-mode'),
    };
    const first = await run('bash', [join(ROOT, 'install.sh'), 'native'], { env });
    expect(first.code, first.stderr).toBe(0);
    const token = readFileSync(join(server.home, 'admin-token'), 'utf8').trim();
    expect(first.stdout).toContain(`Admin token (HTTP API):  ${token}`);
    const log = join(server.home, 'goku.log');
    expect(statSync(log).mode & 0o777).toBe(0o600);
    expect(readFileSync(log, 'utf8')).toContain('goku is ready');
    expect(readFileSync(log, 'utf8')).not.toContain(token);
    expect(first.stdout).toContain('goku is running (native mode)');
    expect(readlinkSync(env.GOKU_BIN_LINK)).toBe(join(ROOT, 'bin', 'goku'));
    // Run again (an upgrade, in the mode it was installed in): goku restarts, the token is only
    // pointed to.
    const again = await run('bash', [join(ROOT, 'install.sh')], { env });
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
    expect(again.stdout).toContain('goku is running (native mode)');

    // Another mode over this one, or an unknown argument: refused, nothing changed.
    const other = await run('bash', [join(ROOT, 'install.sh'), 'host'], { env });
    expect(other.code).not.toBe(0);
    expect(other.stderr.trim()).toBe(
      'error: goku is installed in native mode; run ./install.sh --uninstall first, then ./install.sh host',
    );
    const bad = await run('bash', [join(ROOT, 'install.sh'), 'sideways'], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe('error: unknown argument sideways (see ./install.sh --help)');
    const purgeAlone = await run('bash', [join(ROOT, 'install.sh'), '--purge'], { env });
    expect([purgeAlone.code, purgeAlone.stderr.trim()]).toEqual([2, 'error: --purge goes with --uninstall']);
    const badName = await run('bash', [join(ROOT, 'install.sh'), 'native'], {
      env: { ...env, GOKU_CONTAINER: 'goku; rm -rf /' },
    });
    expect(badName.code).toBe(1);
    expect(badName.stderr.trim()).toBe(
      "error: GOKU_CONTAINER must be a container name (letters, digits, _ . -), not 'goku; rm -rf /'",
    );
    const pid = Number(readFileSync(join(server.home, 'goku.pid'), 'utf8'));
    expect(() => process.kill(pid, 0)).not.toThrow();
    // A bad setting in an upgrade: one line, and the running goku is left as it was.
    const badSetting = await run('bash', [join(ROOT, 'install.sh')], {
      env: { ...env, GOKU_WATCH_INTERVAL: '1' },
    });
    expect(badSetting.code).toBe(1);
    expect(badSetting.stderr.trim()).toBe(
      'error: bad setting GOKU_WATCH_INTERVAL="1": must be at least 5 (seconds)',
    );
    expect(Number(readFileSync(join(server.home, 'goku.pid'), 'utf8'))).toBe(pid);
    expect(() => process.kill(pid, 0)).not.toThrow();

    // --uninstall: goku and its nginx stop, the command link goes, GOKU_HOME stays.
    const gone = await run('bash', [join(ROOT, 'install.sh'), '--uninstall'], { env });
    expect(gone.code, gone.stderr).toBe(0);
    expect(() => process.kill(pid, 0)).toThrow();
    expect(existsSync(env.GOKU_BIN_LINK)).toBe(false);
    expect(existsSync(join(server.home, 'admin-token'))).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    expect(server.nginxPid()).toBeNull();
    expect(server.edgePid()).toBeNull();
  });
});
