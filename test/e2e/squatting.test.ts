import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppRepo, GokuServer, httpdApp, type SshKey, uniquePrefix } from '../helpers/goku.js';

// Names are goku's to give: one app cannot take another's name under GOKU_DOMAIN, the
// server's bare address, or another branch's deployment.
describe('names one app or branch cannot take from another', () => {
  const server = new GokuServer();
  const p = uniquePrefix();
  const victim = `${p}-victim`;
  const squatter = `${p}-squat`;
  let key: SshKey;

  beforeAll(async () => {
    key = await server.startWithKey();
  });
  afterAll(async () => {
    await server.cleanup();
  });

  it("a CNAME naming another app's (or any) GOKU_DOMAIN name, GOKU_DOMAIN or an IP is refused", async () => {
    expect((await server.cli(['apps:create', victim])).code).toBe(0);
    const repo = new AppRepo(server.tmp, squatter, server, key);
    await repo.deploy(httpdApp('squatter'), 'ok');
    for (const [cname, msg] of [
      [`${victim}.${server.domain}`, /is under GOKU_DOMAIN/],
      [`${victim}-feature.${server.domain}`, /is under GOKU_DOMAIN/],
      [server.domain, /is under GOKU_DOMAIN/],
      ['127.0.0.1', /an IP address is not a domain/],
    ] as const) {
      repo.write({ CNAME: `${cname}\n` });
      repo.commit(`claim ${cname}`);
      const r = await repo.push();
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(msg);
    }
    // The bare address still gets goku's 404 page, and the victim's own push takes its name.
    expect((await server.get('127.0.0.1')).status).toBe(404);
    const own = new AppRepo(server.tmp, victim, server, key);
    own.write(httpdApp('victim'));
    own.commit('victim');
    const r = await own.push();
    expect(r.code, r.stderr).toBe(0);
    expect((await server.get(`${victim}.${server.domain}`)).body).toBe('victim\n');
  });

  it('a branch whose slug another branch already deploys under is refused; deleting it leaves the other', async () => {
    const app = `${p}-slug`;
    const repo = new AppRepo(server.tmp, app, server, key);
    await repo.deploy(httpdApp('main'), 'main');
    repo.write(httpdApp('upper'));
    const upper = repo.commit('upper');
    expect((await repo.push('HEAD:refs/heads/FEATURE/UP')).code).toBe(0);
    expect((await server.get(`${app}-feature-up.${server.domain}`)).body).toBe('upper\n');

    repo.write(httpdApp('lower'));
    repo.commit('lower');
    const r = await repo.push('HEAD:refs/heads/feature-up');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(
      new RegExp(
        `branch "feature-up" would deploy as ${app}-feature-up, which branch "FEATURE/UP" already uses`,
      ),
    );
    expect(await repo.remoteRef('feature-up')).toBeNull();
    expect(await repo.remoteRef('FEATURE/UP')).toBe(upper);
    expect((await server.get(`${app}-feature-up.${server.domain}`)).body).toBe('upper\n');

    // Deleting the branch that owns it removes it.
    const del = await repo.push(':refs/heads/FEATURE/UP');
    expect(del.code, del.stderr).toBe(0);
    expect((await server.get(`${app}-feature-up.${server.domain}`)).status).toBe(404);
    expect((await repo.push('HEAD:refs/heads/feature-up')).code).toBe(0);
    expect((await server.get(`${app}-feature-up.${server.domain}`)).body).toBe('lower\n');
  });
});
