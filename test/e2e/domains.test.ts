import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppRepo, GokuServer, httpdApp, type SshKey, sshRun, uniquePrefix } from '../helpers/goku.js';

describe('domains commands', () => {
  const server = new GokuServer();
  const p = uniquePrefix();
  const app = `${p}-dom`;
  const other = `${p}-other`;
  let key: SshKey;

  beforeAll(async () => {
    key = await server.startWithKey();
    expect((await server.cli(['keys:remove', 'dev'])).code).toBe(0);
    expect((await server.cli(['keys:add', 'dev', '--admin'], key.pub)).code).toBe(0);
    for (const [name, cname] of [
      [app, ''],
      [other, `cname.${p}.example.com\n`],
    ] as const) {
      const repo = new AppRepo(server.tmp, name, server, key);
      await repo.deploy({ ...httpdApp(name), ...(cname ? { CNAME: cname } : {}) }, name);
    }
  });
  afterAll(async () => {
    await server.cleanup();
  });

  it('domains:add serves the default deployment at once; domains lists; domains:remove stops it', async () => {
    const r = await server.cli(['domains:add', app, `WWW.${p}.Example.com`, `api.${p}.example.com`]);
    expect(r.code, r.stderr).toBe(0);
    expect((await server.get(`www.${p}.example.com`)).body).toBe(`${app}\n`);
    expect((await server.get(`api.${p}.example.com`)).body).toBe(`${app}\n`);
    const list = JSON.parse((await server.cli(['domains', app, '--json'])).stdout);
    expect(list.extra).toEqual([`www.${p}.example.com`, `api.${p}.example.com`]);
    expect(list.deployments[app]).toEqual([
      `${app}.${server.domain}`,
      `${app}-master.${server.domain}`,
      `www.${p}.example.com`,
      `api.${p}.example.com`,
    ]);
    // A goku restart keeps serving them.
    await server.stop();
    await server.start();
    expect((await server.get(`www.${p}.example.com`)).body).toBe(`${app}\n`);

    const sshRm = await sshRun(server, key, `domains:remove ${app} api.${p}.example.com`);
    expect(sshRm.code, sshRm.stderr).toBe(0);
    expect((await server.get(`api.${p}.example.com`)).status).toBe(404);
    expect((await server.get(`www.${p}.example.com`)).body).toBe(`${app}\n`);
  });

  it('refuses bad and taken domains, changing nothing', async () => {
    const before = (await server.cli(['domains', app, '--json'])).stdout;
    const refuse = async (args: string[], msg: RegExp) => {
      const r = await server.cli(args);
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(msg);
    };
    for (const bad of ['a.com;include', '*.x.com', 'localhost', 'a..com', 'x.com:80', 'a-.com', 'a b.com']) {
      await refuse(['domains:add', app, `ok.${p}.example.com`, bad], /invalid domain/);
    }
    await refuse(
      ['domains:add', app, `cname.${p}.example.com`],
      new RegExp(`already served by app ${other}`),
    );
    for (const own of [`${other}.${server.domain}`, `${p}-unpushed.${server.domain}`, server.domain]) {
      await refuse(['domains:add', app, own], /is under GOKU_DOMAIN .*add a domain of your own/);
    }
    for (const ip of ['127.0.0.1', '10.1.2.3', 'a.b.12']) {
      await refuse(['domains:add', app, ip], /an IP address is not a domain/);
    }
    expect((await server.cli(['domains:add', other, `mine.${p}.example.com`])).code).toBe(0);
    await refuse(['domains:add', app, `mine.${p}.example.com`], new RegExp(`already served by app ${other}`));
    await refuse(['domains:remove', app, `${app}.${server.domain}`], /is not an added domain/);
    await refuse(['domains:add', `${p}-nope`, 'x.example.com'], /does not exist/);
    await refuse(['domains:add', app], /missing argument/);
    expect((await server.cli(['domains', app, '--json'])).stdout).toBe(before);
    expect((await server.get(`ok.${p}.example.com`)).status).toBe(404);
  });
});
