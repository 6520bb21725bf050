import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RegistryLogins } from '../../src/app/registries.js';
import { webPort } from '../../src/core/config.js';
import { portFromImageConfig } from '../../src/core/dockerfile.js';
import { parseChallenge, registryEndpoint } from '../../src/registry/client.js';
import { parseRegistryEvents } from '../../src/registry/payloads.js';
import { familiarImageRef, formatImageRef, parseImageRef } from '../../src/registry/reference.js';
import { EmbeddedStore } from '../../src/store/embedded.js';

const HEX = 'a'.repeat(64);

describe('image references, normalized as the Docker CLI does', () => {
  it.each([
    ['nginx', 'docker.io/library/nginx:latest'],
    ['nginx:1.27', 'docker.io/library/nginx:1.27'],
    ['team/app:v2', 'docker.io/team/app:v2'],
    ['index.docker.io/team/app', 'docker.io/team/app:latest'],
    ['registry.example.com/team/app:v2', 'registry.example.com/team/app:v2'],
    ['localhost:5000/app', 'localhost:5000/app:latest'],
    ['localhost/app', 'localhost/app:latest'],
    [`127.0.0.1:5000/a/b@sha256:${HEX}`, `127.0.0.1:5000/a/b@sha256:${HEX}`],
    [`ghcr.io/o/r:1@sha256:${HEX}`, `ghcr.io/o/r:1@sha256:${HEX}`],
    ['[::1]:5000/app:1', '[::1]:5000/app:1'],
    ['my_team/my-app__x.y:tag_1.0-rc', 'docker.io/my_team/my-app__x.y:tag_1.0-rc'],
  ])('%s is %s', (input, canonical) => {
    expect(formatImageRef(parseImageRef(input))).toBe(canonical);
  });

  it('prints the familiar form for output', () => {
    expect(familiarImageRef(parseImageRef('nginx'))).toBe('nginx:latest');
    expect(familiarImageRef(parseImageRef('team/app:v2'))).toBe('team/app:v2');
    expect(familiarImageRef(parseImageRef('localhost:5000/app'))).toBe('localhost:5000/app:latest');
  });

  it.each([
    ['', /empty/],
    ['Team/app', /lowercase/],
    ['app:', /a tag is/],
    ['app:-x', /a tag is/],
    [`app@sha256:${'a'.repeat(63)}`, /a digest is/],
    ['app@md5:abc', /a digest is/],
    ['host:99999/app', /not a registry host/],
    ['bad_host.example.com/app', /not a registry host/],
    ['a//b', /a repository is/],
    ['a/../b', /a repository is/],
    ['-a', /a repository is/],
    ['a b', /whitespace/],
    [`${'a'.repeat(300)}`, /over 255|too long/],
  ])('refuses %j', (input, why) => {
    expect(() => parseImageRef(input)).toThrow(why);
  });
});

describe('registry endpoints and challenges', () => {
  it('Docker Hub is registry-1.docker.io unless a mirror is set; loopback registries speak HTTP', () => {
    expect(registryEndpoint('docker.io', null)).toEqual({
      api: 'https://registry-1.docker.io',
      pullHost: 'docker.io',
    });
    expect(registryEndpoint('docker.io', 'http://127.0.0.1:5000')).toEqual({
      api: 'http://127.0.0.1:5000',
      pullHost: '127.0.0.1:5000',
    });
    expect(registryEndpoint('127.0.0.1:5000', null).api).toBe('http://127.0.0.1:5000');
    expect(registryEndpoint('localhost:5000', null).api).toBe('http://localhost:5000');
    expect(registryEndpoint('ghcr.io', null).api).toBe('https://ghcr.io');
  });

  it('reads Bearer and Basic challenges', () => {
    expect(
      parseChallenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"',
      ),
    ).toEqual({
      scheme: 'bearer',
      params: {
        realm: 'https://auth.docker.io/token',
        service: 'registry.docker.io',
        scope: 'repository:library/nginx:pull',
      },
    });
    expect(parseChallenge('Basic realm="goku-test"')).toEqual({
      scheme: 'basic',
      params: { realm: 'goku-test' },
    });
  });

  it('the port: PORT from the config when it is a port (else refused), else the first exposed TCP port', () => {
    expect(webPort({}, portFromImageConfig(['8000/tcp', '53/udp']))).toBe(8000);
    expect(webPort({}, portFromImageConfig(['9000/tcp', '8000/tcp']))).toBe(8000);
    expect(webPort({ PORT: '9000' }, 8000)).toBe(9000);
    expect(webPort({ PORT: '9000' }, null)).toBe(9000);
    for (const bad of ['abc', '70000', '0', '', ' 80'])
      expect(() => webPort({ PORT: bad }, 8000)).toThrow(/is not a port/);
    expect(webPort({}, portFromImageConfig([]))).toBe(null);
  });
});

describe('registry logins, sealed at rest', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'goku-logins-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('checks, seals and opens secrets; refuses bad input before asking the registry', async () => {
    const store = new EmbeddedStore(tmp);
    const asked: string[] = [];
    const key = randomBytes(32);
    const logins = new RegistryLogins(store, key, async (host, creds) => {
      asked.push(`${host} ${creds.username}`);
    });
    await expect(logins.login('reg.example.com', 'ci', 'one\ntwo')).rejects.toThrow(/one line/);
    await expect(logins.login('reg.example.com', 'ci', 'x'.repeat(9000))).rejects.toThrow(/at most 8192/);
    await expect(logins.login('reg.example.com', 'c i', 'secret')).rejects.toThrow(/user name/);
    await expect(logins.login('reg.example.com', 'ci', '\n')).rejects.toThrow(/on stdin/);
    await expect(logins.login('reg', 'ci', 'secret')).rejects.toThrow(/invalid registry host/);
    await expect(logins.login('reg.example.com/path', 'ci', 'secret')).rejects.toThrow(
      /invalid registry host/,
    );
    expect(asked).toEqual([]);

    await logins.login('index.docker.io', 'hub', 'hub-secret\n');
    await logins.login('reg.example.com:5000', 'ci', 'reg-secret');
    expect(asked).toEqual(['docker.io hub', 'reg.example.com:5000 ci']);
    expect(logins.credentials('docker.io')).toEqual({ username: 'hub', password: 'hub-secret' });
    expect(logins.credentials('reg.example.com:5000')).toEqual({ username: 'ci', password: 'reg-secret' });
    expect(readFileSync(join(tmp, 'store.json'), 'utf8')).not.toMatch(/hub-secret|reg-secret/);

    // Another key (a store copied to another server), or a changed secret: unreadable, never wrong.
    expect(new RegistryLogins(store, randomBytes(32), async () => {}).credentials('docker.io')).toBe(null);
    await store.update((s) => {
      const r = s.registries?.find((x) => x.host === 'docker.io');
      if (r) r.secret = `${r.secret.slice(0, -4)}AAAA`;
    });
    expect(logins.credentials('docker.io')).toBe(null);
    await logins.logout('docker.io');
    expect(logins.list().map((r) => r.host)).toEqual(['reg.example.com:5000']);
  });
});

// Debian's docker-registry (distribution 2.8) sends no ETag for tags listings and does not
// page them (it ignores `n`), so these paths are tested against a small server that speaks
// that part of the registry API as registries that do answer.
describe('tags listing with an ETag, and in Link pages', () => {
  it('follows Link pages (relative, same origin) and keeps no ETag for a listing of several', async () => {
    const { createServer } = await import('node:http');
    const { RegistryClient } = await import('../../src/registry/client.js');
    const pages: Record<string, { tags: string[]; next?: string }> = {
      '': { tags: ['v1.0.0', 'v1.1.0'], next: '/v2/team/app/tags/list?last=v1.1.0&n=2' },
      'v1.1.0': { tags: ['v1.2.0', 'v2.0.0'], next: '/v2/team/app/tags/list?last=v2.0.0&n=2' },
      'v2.0.0': { tags: ['latest'] },
    };
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const page = pages[url.searchParams.get('last') ?? ''];
      if (!page) return void res.writeHead(404).end();
      res.writeHead(200, {
        'content-type': 'application/json',
        etag: `"${page.tags.join(',')}"`,
        ...(page.next ? { link: `<${page.next}>; rel="next"` } : {}),
      });
      res.end(JSON.stringify({ name: 'team/app', tags: page.tags }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const client = new RegistryClient({ dockerHubRegistry: null, credentials: () => null });
    try {
      const listed = await client.listTags(parseImageRef(`127.0.0.1:${port}/team/app:v1.0.0`));
      expect(listed).toEqual({ tags: ['v1.0.0', 'v1.1.0', 'v1.2.0', 'v2.0.0', 'latest'], etag: null });
    } finally {
      client.close();
      server.close();
    }
  });

  it('sends the ETag back and takes a 304 as "unchanged"; a changed list comes whole', async () => {
    const { createServer } = await import('node:http');
    const { RegistryClient } = await import('../../src/registry/client.js');
    let tags = ['v1.0.0', 'v1.1.0'];
    const seen: (string | undefined)[] = [];
    const server = createServer((req, res) => {
      seen.push(req.headers['if-none-match']);
      const etag = `"${tags.join(',')}"`;
      if (!req.url?.startsWith('/v2/team/app/tags/list')) {
        res.writeHead(404).end();
      } else if (req.headers['if-none-match'] === etag) {
        res.writeHead(304, { etag }).end();
      } else {
        res.writeHead(200, { etag, 'content-type': 'application/json' });
        res.end(JSON.stringify({ name: 'team/app', tags }));
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const client = new RegistryClient({ dockerHubRegistry: null, credentials: () => null });
    try {
      const ref = parseImageRef(`127.0.0.1:${port}/team/app:v1.0.0`);
      const first = await client.listTags(ref);
      expect(first).toEqual({ tags: ['v1.0.0', 'v1.1.0'], etag: '"v1.0.0,v1.1.0"' });
      expect(await client.listTags(ref, '"v1.0.0,v1.1.0"')).toEqual({ notModified: true });
      tags = ['v1.0.0', 'v1.1.0', 'v1.2.0'];
      const changed = await client.listTags(ref, '"v1.0.0,v1.1.0"');
      expect(changed).toEqual({ tags: ['v1.0.0', 'v1.1.0', 'v1.2.0'], etag: '"v1.0.0,v1.1.0,v1.2.0"' });
      expect(seen).toEqual([undefined, '"v1.0.0,v1.1.0"', '"v1.0.0,v1.1.0"']);
    } finally {
      client.close();
      server.close();
    }
  });
});

describe('registry notifications', () => {
  it("keep a pushed manifest's digest as a hint only when it is one", () => {
    const event = (digest: string) => ({
      events: [
        {
          action: 'push',
          target: {
            mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
            repository: 'team/web',
            tag: 'v1',
            digest,
          },
          request: { host: '127.0.0.1:5000' },
        },
      ],
    });
    expect(parseRegistryEvents(event(`sha256:${HEX}`))).toEqual([
      { registry: '127.0.0.1:5000', repository: 'team/web', tag: 'v1', digest: `sha256:${HEX}` },
    ]);
    expect(parseRegistryEvents(event('sha256:not-a-digest'))).toEqual([
      { registry: '127.0.0.1:5000', repository: 'team/web', tag: 'v1' },
    ]);
  });
});
