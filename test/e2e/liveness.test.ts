import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppRepo, GokuServer, type SshKey, uniquePrefix } from '../helpers/goku.js';

// app.json liveness checks run after the switch: a container that fails one `attempts` times in
// a row is restarted (and routed again at its new address); startup checks still gate the deploy.
describe('liveness checks', () => {
  const server = new GokuServer({ env: { GOKU_STOP_GRACE: '1' } });
  const p = uniquePrefix();
  const app = `${p}-live`;
  let key: SshKey;

  beforeAll(async () => {
    key = await server.startWithKey();
  });
  afterAll(() => server.cleanup());

  const startedAt = (id: string) =>
    execFileSync('docker', ['inspect', '-f', '{{.State.StartedAt}}', id]).toString().trim();

  it('restarts a container that keeps failing its liveness check, and it serves again', async () => {
    const repo = new AppRepo(server.tmp, app, server, key);
    await repo.deploy(
      {
        // Each start clears the "sick" mark; the liveness check fails while it is there.
        Dockerfile:
          'FROM goku-test/busybox:1\nCOPY www /www\nEXPOSE 8000\nCMD ["sh", "-c", "rm -f /sick; exec httpd -f -p 8000 -h /www"]\n',
        'www/index.html': 'alive\n',
        'app.json': JSON.stringify({
          healthchecks: {
            web: [
              { type: 'startup', name: 'up', path: '/', attempts: 3 },
              {
                type: 'liveness',
                name: 'not-sick',
                command: ['sh', '-c', '! test -f /sick'],
                attempts: 2,
                wait: 1,
                timeout: 2,
              },
            ],
          },
        }),
      },
      'one',
    );
    const [c] = server.containers(app);
    const id = c?.id as string;
    const before = startedAt(id);
    // Healthy: left alone for a few probes.
    await new Promise((r) => setTimeout(r, 3000));
    expect(startedAt(id)).toBe(before);

    const sick = await server.cli(['enter', app, 'touch', '/sick']);
    expect(sick.code, sick.stderr).toBe(0);
    // Asked all along: while it restarts nginx may answer 503, never another app (its old
    // address is free for any new container once it stops).
    const bodies = new Set<string>();
    const deadline = Date.now() + 20000;
    let restarted = false;
    while (Date.now() < deadline) {
      const r = await server.get(`${app}.${server.domain}`);
      if (r.status === 200) bodies.add(r.body);
      else expect(r.status).toBe(503);
      restarted ||= startedAt(id) !== before;
      if (restarted && r.status === 200) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    expect(restarted).toBe(true);
    expect([...bodies]).toEqual(['alive\n']);
    // The same container, started again: its mark is gone and it serves.
    expect(server.ids(app)).toEqual([id]);
    expect(server.log).toContain('liveness check not-sick failed 2 times in a row');
  });
});
