import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import ssh2 from 'ssh2';
import tar from 'tar-stream';
import { afterAll, describe, expect, it } from 'vitest';
import { makeRoute } from '../../src/core/routes.js';
import { packContext } from '../../src/docker/context.js';
import { GitTree } from '../../src/git/tree.js';
import { isAlive } from '../../src/proxy/master.js';
import { NginxProxy } from '../../src/proxy/nginx.js';
import { parsePublicKey } from '../../src/ssh/keys.js';
import { loadHostKey } from '../../src/ssh/server.js';
import { EmbeddedStore } from '../../src/store/embedded.js';

const tmp = mkdtempSync(join(tmpdir(), 'goku-unit-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function listTar(stream: NodeJS.ReadableStream): Promise<{ name: string; body: string }[]> {
  const entries: { name: string; body: string }[] = [];
  const ex = tar.extract();
  ex.on('entry', (h, s, next) => {
    let body = h.type === 'symlink' ? `-> ${h.linkname}` : '';
    s.on('data', (d: unknown) => {
      body += String(d);
    });
    s.on('end', () => {
      entries.push({ name: h.name, body });
      next();
    });
  });
  const done = new Promise<void>((r) => ex.on('finish', () => r()));
  stream.pipe(ex);
  await done;
  return entries.sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** Commits everything in dir to a new repo there and opens that commit's tree. */
function committedTree(dir: string, limits: { maxFiles: number; maxBytes: number }): Promise<GitTree> {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: dir }).toString().trim();
  git('init', '-q');
  git('add', '-A');
  git('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '-m', 'c');
  return GitTree.open({
    gitdir: join(dir, '.git'),
    objectDir: null,
    commit: git('rev-parse', 'HEAD'),
    limits,
  });
}

describe('build context', () => {
  it('streams a commit from git objects, honouring .dockerignore with exceptions; links stay links', async () => {
    const dir = join(tmp, 'ctx');
    mkdirSync(join(dir, 'logs'), { recursive: true });
    mkdirSync(join(dir, 'src'), { recursive: true });
    writeFileSync(join(dir, 'Dockerfile'), 'FROM x\n');
    writeFileSync(join(dir, '.dockerignore'), 'Dockerfile\nlogs\n*.tmp\n!keep.tmp\nsecret.txt\n');
    writeFileSync(join(dir, 'logs/a.log'), 'x');
    writeFileSync(join(dir, 'a.tmp'), 'x');
    writeFileSync(join(dir, 'keep.tmp'), 'kept');
    writeFileSync(join(dir, 'secret.txt'), 'x');
    writeFileSync(join(dir, 'src/main.c'), 'int main;');
    symlinkSync('/etc/passwd', join(dir, 'src/passwd'));
    const tree = await committedTree(dir, { maxFiles: 100, maxBytes: 1e6 });
    const entries = await listTar(
      packContext(tree, {
        dockerignore: await tree.readText('.dockerignore', 1000),
        rewriteDockerfile: (t) => `${t}LABEL a=b\n`,
      }),
    );
    expect(entries).toEqual([
      { name: '.dockerignore', body: 'Dockerfile\nlogs\n*.tmp\n!keep.tmp\nsecret.txt\n' },
      { name: 'Dockerfile', body: 'FROM x\nLABEL a=b\n' },
      { name: 'keep.tmp', body: 'kept' },
      { name: 'src/main.c', body: 'int main;' },
      { name: 'src/passwd', body: '-> /etc/passwd' },
    ]);
    await expect(tree.readText('src/passwd', 1000)).rejects.toThrow(/is a symlink/);
    await expect(tree.readText('src', 1000)).rejects.toThrow(/is a directory/);
    await expect(tree.readText('keep.tmp', 2)).rejects.toThrow(/more than the 2 bytes/);
    expect(await tree.readText('nothing', 1000)).toBeNull();
    await expect(
      GitTree.open({
        gitdir: join(dir, '.git'),
        objectDir: null,
        commit: execFileSync('git', ['rev-parse', 'HEAD'], { cwd: dir }).toString().trim(),
        limits: { maxFiles: 3, maxBytes: 1e6 },
      }),
    ).rejects.toThrow(/more than 3 files/);
  });
});

describe('reading a pushed tree', () => {
  it('streams every file to a slow reader, also after git has exited (2,000 files)', async () => {
    const dir = join(tmp, 'many');
    mkdirSync(dir, { recursive: true });
    for (let i = 0; i < 2000; i++) writeFileSync(join(dir, `f${i}.txt`), `file ${i}\n`);
    const tree = await committedTree(dir, { maxFiles: 10000, maxBytes: 1e7 });
    let files = 0;
    let bytes = 0;
    // A reader slower than git (as Docker is): git writes everything and exits first.
    await tree.contents(
      tree.entries,
      (_e, body) =>
        new Promise<void>((resolve, reject) => {
          const w = new Writable({
            highWaterMark: 16,
            write(c: Buffer, _enc, cb) {
              bytes += c.length;
              setTimeout(cb, 0);
            },
          });
          w.on('finish', () => {
            files++;
            resolve();
          });
          body.on('error', reject).pipe(w);
        }),
    );
    expect(files).toBe(2000);
    expect(bytes).toBe(tree.entries.reduce((n, e) => n + e.size, 0));
  }, 30_000);
});

describe('embedded store', () => {
  it('writes whole files only and discards failed updates', async () => {
    const home = join(tmp, 'store');
    mkdirSync(home);
    const store = new EmbeddedStore(home);
    await store.update((s) => {
      s.keys.push({ name: 'a', type: 't', blob: 'b', fingerprint: 'f', admin: false, addedAt: 'now' });
    });
    await expect(
      store.update((s) => {
        s.keys.length = 0;
        throw new Error('nope');
      }),
    ).rejects.toThrow('nope');
    expect(store.read().keys).toHaveLength(1);
    expect(JSON.parse(readFileSync(join(home, 'store.json'), 'utf8')).keys).toHaveLength(1);
    expect(new EmbeddedStore(home).read().keys[0]?.name).toBe('a');
  });
});

describe('public keys', () => {
  it('parses an OpenSSH public key and refuses junk', () => {
    const k = parsePublicKey(
      'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me@host\n',
    );
    expect(k.type).toBe('ssh-ed25519');
    expect(k.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    for (const bad of ['', 'ssh-ed25519', 'ssh-ed25519 !!!', 'ssh-dss AAAA', 'a\nb']) {
      expect(() => parsePublicKey(bad)).toThrow(/invalid public key/);
    }
  });
});

describe('nginx config rendering', () => {
  it('renders upstreams, server names, the release header, a 503 for no instances and the 404 default', () => {
    const proxy = new NginxProxy(
      {
        mode: 'managed',
        home: '/var/lib/goku',
        templatesDir: resolve(import.meta.dirname, '../../templates'),
        bin: 'nginx',
        systemConf: '/dev/null',
        systemPid: '/dev/null',
        streamModule: '/usr/lib/nginx/modules/ngx_stream_module.so',
        proxyHost: '0.0.0.0',
        proxyPort: 80,
        httpsPort: 0,
      },
      pino({ level: 'silent' }),
    );
    const web = makeRoute({
      app: 'web',
      deployment: 'web',
      domains: ['web.h.io', 'x.com'],
      ips: ['172.17.0.2'],
      port: 8000,
      ports: [
        { host: 2222, container: 22, proto: 'tcp' },
        { host: 5353, container: 53, proto: 'udp' },
      ],
      release: 'r1',
    });
    const dev = makeRoute({
      app: 'web',
      deployment: 'web-dev',
      domains: ['web-dev.h.io'],
      ips: [],
      port: 3000,
      ports: [],
      release: 'r2',
    });
    if (!web || !dev) throw new Error('routes expected');
    const text = proxy.render([web, dev]);
    expect(text).toMatch(
      /upstream goku_web \{\n {2}server 172\.17\.0\.2:8000;\n[\s\S]*?keepalive 32;\n {2}keepalive_timeout 4s;\n\}/,
    );
    expect(text).toContain('server_name web.h.io x.com;');
    expect(text).toContain('add_header X-Goku-Release "r1" always;');
    expect(text).toMatch(/server_name web-dev\.h\.io;[\s\S]*return 503/);
    // The routes nginx listens on a unix socket behind the edge, which holds the proxy port.
    expect(text).toContain('listen unix:/var/lib/goku/nginx/sock/routes.sock default_server;');
    expect(text).toContain('listen unix:/var/lib/goku/nginx/sock/routes.sock;');
    expect(text).toContain('set_real_ip_from unix:;');
    const edge = proxy.renderEdge();
    expect(edge).toContain('listen 80 default_server;');
    // One upstream, the routes socket, kept alive; a request a reused connection dropped unanswered is sent again.
    expect(edge).toContain('server unix:/var/lib/goku/nginx/sock/routes.sock max_fails=0;');
    expect(edge).toContain('proxy_pass http://routes;');
    expect(edge).toContain('proxy_next_upstream error non_idempotent;');
    expect(edge.match(/^\s*upstream /gm)).toHaveLength(1);
    expect(text).not.toContain('upstream goku_web_dev');
    // Published ports: the stream module, one upstream and server per port.
    expect(text).toMatch(/^load_module \/usr\/lib\/nginx\/modules\/ngx_stream_module\.so;$/m);
    expect(text).toContain('upstream goku_web_tcp_2222 {\n    server 172.17.0.2:22;\n  }');
    expect(text).toContain('listen 2222;');
    expect(text).toContain('listen 5353 udp;');
    expect(proxy.render([dev])).not.toContain('stream');
  });

  it('on Swarm the edge holds the published ports and relays them to the routes nginx over unix sockets', () => {
    const home = mkdtempSync(join(tmpdir(), 'goku-relay-'));
    try {
      const proxy = new NginxProxy(
        {
          mode: 'managed',
          home,
          templatesDir: resolve(import.meta.dirname, '../../templates'),
          bin: 'nginx',
          systemConf: '/dev/null',
          systemPid: '/dev/null',
          streamModule: '/usr/lib/nginx/modules/ngx_stream_module.so',
          proxyHost: '127.0.0.1',
          proxyPort: 18080,
          httpsPort: 0,
          relayPorts: true,
        },
        pino({ level: 'silent' }),
      );
      const base = {
        app: 'db',
        deployment: 'db',
        domains: ['db.h.io'],
        port: 8000,
        ports: [{ host: 15432, container: 5432, proto: 'tcp' as const }],
        httpPorts: [{ scheme: 'http' as const, host: 18081, container: 8000 }],
        release: 'r1',
      };
      const up = makeRoute({ ...base, ips: ['10.0.1.5'] });
      const down = makeRoute({ ...base, ips: [] });
      if (!up || !down) throw new Error('routes expected');
      const sock = join(home, 'nginx/sock');
      const text = proxy.render([up]);
      expect(text).toContain(`listen unix:${sock}/tcp-15432.sock;`);
      expect(text).toContain(`listen unix:${sock}/http-18081.sock`);
      expect(text).not.toMatch(/listen (127\.0\.0\.1:)?15432/);
      const edge = proxy.renderEdge([up]);
      expect(edge).toContain('listen 127.0.0.1:15432;');
      expect(edge).toContain(`proxy_pass unix:${sock}/tcp-15432.sock;`);
      expect(edge).toContain('listen 127.0.0.1:18081;');
      expect(edge).toContain(`server unix:${sock}/http-18081.sock max_fails=0;`);
      expect(edge).toMatch(/^load_module \/usr\/lib\/nginx\/modules\/ngx_stream_module\.so;$/m);
      // The edge does not change when the instances do (a deploy, ps:stop): only with the ports.
      expect(proxy.renderEdge([down])).toBe(edge);
      // Both are configs nginx takes.
      for (const [name, conf] of [
        ['routes.conf', text],
        ['edge.conf', edge],
      ] as const) {
        for (const d of ['nginx/tmp', 'nginx/sock', 'nginx/edge/tmp'])
          mkdirSync(join(home, d), { recursive: true });
        writeFileSync(join(home, name), conf);
        execFileSync('nginx', ['-t', '-q', '-c', join(home, name), '-p', home], { stdio: 'pipe' });
      }
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe('process liveness', () => {
  it('a zombie is not alive: an exited nginx master that init has not reaped yet', async () => {
    // The parent forks a child that exits at once, and never waits for it (sh may reap its own).
    const forker =
      'import os, time\npid = os.fork()\nif pid == 0: os._exit(0)\nprint(pid, flush=True)\ntime.sleep(5)';
    const parent = spawn('python3', ['-c', forker], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const pid = Number(await new Promise<string>((r) => parent.stdout.once('data', (d) => r(String(d)))));
      await new Promise((r) => setTimeout(r, 200));
      expect(() => process.kill(pid, 0)).not.toThrow(); // the kernel still has it
      expect(isAlive(pid)).toBe(false);
      expect(isAlive(parent.pid as number)).toBe(true);
    } finally {
      parent.kill('SIGKILL');
    }
  });
});

describe('ssh host key', () => {
  it('is always one ssh2 can read back (its keygen mangles about 1 key in 250)', () => {
    const dir = join(tmp, 'hostkeys');
    mkdirSync(dir);
    for (let i = 0; i < 2000; i++) {
      const file = join(dir, `k${i}`);
      const key = loadHostKey(file);
      expect(ssh2.utils.parseKey(key)).not.toBeInstanceOf(Error);
    }
  });
});
