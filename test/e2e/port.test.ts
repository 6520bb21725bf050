import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppRepo, GokuServer, type SshKey, uniquePrefix } from '../helpers/goku.js';

// PORT, as Dokku has it: the web process gets PORT; a config PORT wins over the image's EXPOSE
// and is where nginx sends requests; unset, the EXPOSE port is back. A PORT that is not a port
// is refused and changes nothing.
describe('PORT', () => {
  const server = new GokuServer();
  const p = uniquePrefix();
  let key: SshKey;

  // Serves on $PORT (shell form, so the variable is read at start), 9999 when unset.
  const app = (body: string, expose = '') => ({
    Dockerfile: `FROM goku-test/busybox:1\nRUN mkdir /www && echo ${body} > /www/index.html\n${expose}CMD httpd -f -p \${PORT:-9999} -h /www\n`,
  });
  const body = async (name: string) => (await server.get(`${name}.${server.domain}`)).body;

  beforeAll(async () => {
    key = await server.startWithKey();
  });
  afterAll(() => server.cleanup());

  it('a config PORT routes an app without EXPOSE, and the push prints its URL', async () => {
    const name = `${p}-noexp`;
    const repo = new AppRepo(server.tmp, name, server, key);
    await repo.deploy(app('unrouted'), 'one');
    const set = await server.cli(['config:set', name, 'PORT=7000']);
    expect(set.code, set.stderr).toBe(0);
    expect(await body(name)).toBe('unrouted\n');
    repo.write(app('routed'));
    repo.commit('two');
    const r = await repo.push();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('(port 7000)');
    expect(r.stderr).toContain(
      `=====> ${name} deployed: http://${name}.${server.domain}:${server.proxyPort}/`,
    );
    expect(await body(name)).toBe('routed\n');
  });

  it('a config PORT wins over EXPOSE; unset, EXPOSE is back', async () => {
    const name = `${p}-exp`;
    const repo = new AppRepo(server.tmp, name, server, key);
    await repo.deploy(app('exposed', 'EXPOSE 8000\n'), 'one');
    const set = await server.cli(['config:set', name, 'PORT=7100']);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toContain('(port 7100)');
    expect(await body(name)).toBe('exposed\n');
    const unset = await server.cli(['config:unset', name, 'PORT']);
    expect(unset.code, unset.stderr).toBe(0);
    expect(unset.stdout).toContain('(port 8000)');
    expect(await body(name)).toBe('exposed\n');
  });

  it('a PORT that is not a port is refused, with or without a restart, and changes nothing', async () => {
    const name = `${p}-exp`;
    const before = (await server.cli(['config', name, '--json'])).stdout;
    for (const bad of ['PORT=abc', 'PORT=0', 'PORT=65536', 'PORT=80 ']) {
      for (const extra of [[], ['--no-restart']]) {
        const r = await server.cli(['config:set', name, bad, ...extra]);
        expect(r.code).not.toBe(0);
        expect(r.stderr.trim().split('\n')).toHaveLength(1);
        expect(r.stderr).toMatch(/config PORT=".*" is not a port: the web process listens on PORT/);
      }
    }
    expect((await server.cli(['config', name, '--json'])).stdout).toBe(before);
    expect(await body(name)).toBe('exposed\n');
  });
});
