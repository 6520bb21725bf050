import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GokuServer, uniquePrefix } from '../helpers/goku.js';
import { TestRegistry } from '../helpers/registry.js';

// Deploys of different apps run at once (each app has its own lock). Each one's route change
// must build on the others': one computed from the table another was replacing would put that
// app's old route back in nginx, pointing at containers about to be retired.
describe('deploys of different apps at once', () => {
  const server = new GokuServer();
  const registry = new TestRegistry();
  const p = uniquePrefix();
  const apps = Array.from({ length: 6 }, (_, i) => `${p}-par${i}`);

  // The release the app's record says runs (the old containers may still be retiring).
  const running = (app: string) =>
    server
      .cli(['apps:info', app, '--json'])
      .then((r) => (JSON.parse(r.stdout) as { deployments: { routeId: string }[] }).deployments[0]);

  beforeAll(async () => {
    await registry.start();
    await server.startWithKey();
    registry.push(`${p}/web:v1`, 'par');
    for (const app of apps) {
      const c = await server.cli(['apps:create', app, '--image', `${registry.host}/${p}/web:v1`]);
      expect(c.code, c.stderr).toBe(0);
    }
  });
  afterAll(async () => {
    await server.cleanup();
    registry.cleanup();
  });

  it('every app is served by its new release as soon as all the deploys are done', async () => {
    for (const round of ['deploy', 'ps:restart', 'ps:restart']) {
      const done = await Promise.all(apps.map((app) => server.cli([round, app])));
      for (const d of done) expect(d.code, d.stderr).toBe(0);
      // At once, before any reconciler sweep could repair a lost route.
      const answers = await Promise.all(apps.map((app) => server.get(`${app}.${server.domain}`)));
      const ps = await Promise.all(apps.map(running));
      for (const [i, app] of apps.entries()) {
        expect(answers[i]?.status, `${round} ${app}`).toBe(200);
        expect(answers[i]?.headers['x-goku-release'], `${round} ${app}`).toBe(ps[i]?.routeId);
      }
    }
  });
});
