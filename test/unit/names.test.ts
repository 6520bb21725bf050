import { describe, expect, it } from 'vitest';
import {
  appFromRepoPath,
  assertAppName,
  assertOwnDomain,
  branchFromRef,
  branchSlug,
  deploymentName,
  normalizeDomain,
  parseCnameFile,
} from '../../src/core/names.js';
import {
  deploymentDomains,
  makeRoute,
  parsePortMapping,
  remapRoute,
  withoutAddress,
} from '../../src/core/routes.js';
import { parseSshCommand } from '../../src/core/ssh-command.js';

describe('names', () => {
  it('accepts and refuses app names per INTERFACE §1', () => {
    for (const ok of ['a', 'web', 'my-app-2', `a${'b'.repeat(39)}`]) expect(assertAppName(ok)).toBe(ok);
    for (const bad of ['', '1app', '-x', 'UPPER', 'a_b', 'a.b', 'a b', `a${'b'.repeat(40)}`, '../x']) {
      expect(() => assertAppName(bad)).toThrow(/invalid app name/);
    }
  });

  it('slugs branches and keeps APP-SLUG a DNS label', () => {
    expect(branchSlug('app', 'Feature/New_UI')).toBe('feature-new-ui');
    expect(branchSlug('app', '--x--')).toBe('x');
    expect(branchSlug('app', 'a//..b')).toBe('a-b');
    const long = deploymentName('app', 'x'.repeat(100), 'master');
    expect(long.length).toBeLessThanOrEqual(63);
    expect(deploymentName('app', 'master', 'master')).toBe('app');
    expect(deploymentName('app', 'main', 'master')).toBe('app-main');
    expect(deploymentName('app', '___', 'master')).toBe('app-branch');
  });

  it('reads repo paths in every form git sends and refuses the rest', () => {
    for (const p of ['app', '/app', '~/app', 'app.git', '/app.git', 'app/'])
      expect(appFromRepoPath(p)).toBe('app');
    for (const p of ['../app', '/etc/passwd', 'a/b', 'App', '', '.git', 'app.git.git', '~/../x']) {
      expect(() => appFromRepoPath(p)).toThrow(/invalid repository/);
    }
  });

  it('validates domains and CNAME files', () => {
    expect(normalizeDomain(' WWW.Example.com ')).toBe('www.example.com');
    for (const bad of [
      'a.com; include /etc/passwd',
      '*.a.com',
      'a.com:80',
      'localhost',
      'a..com',
      '-a.com',
      'a.com.',
    ]) {
      expect(() => normalizeDomain(bad)).toThrow(/invalid domain/);
    }
    expect(parseCnameFile('# comment\n\nA.example.com\r\nb.example.com\na.example.com\n')).toEqual([
      'a.example.com',
      'b.example.com',
    ]);
  });

  it('computes a deployment’s domains', () => {
    expect(
      deploymentDomains({
        app: 'web',
        deployment: 'web',
        branch: 'main',
        baseDomain: 'h.io',
        cname: ['x.com'],
        extra: ['y.com'],
      }),
    ).toEqual(['web.h.io', 'web-main.h.io', 'x.com', 'y.com']);
    expect(
      deploymentDomains({
        app: 'web',
        deployment: 'web-dev',
        branch: 'dev',
        baseDomain: 'h.io',
        cname: [],
        extra: [],
      }),
    ).toEqual(['web-dev.h.io']);
  });

  it('only treats refs/heads/* as branches', () => {
    expect(branchFromRef('refs/heads/a/b')).toBe('a/b');
    expect(branchFromRef('refs/tags/v1')).toBeNull();
  });
});

describe('port mappings', () => {
  it('parses HOST:CONTAINER[/proto] and refuses the rest', () => {
    expect(parsePortMapping('2222:22')).toEqual({ host: 2222, container: 22, proto: 'tcp' });
    expect(parsePortMapping('5353:53/udp')).toEqual({ host: 5353, container: 53, proto: 'udp' });
    for (const bad of ['22', '0:22', '22:0', '65536:1', '1:65536', 'a:b', '1:2/sctp', ' :1', '1:2:3']) {
      expect(() => parsePortMapping(bad)).toThrow(/invalid port mapping/);
    }
  });
});

describe('ssh exec commands', () => {
  it('recognizes the git services in all their forms', () => {
    expect(parseSshCommand("git-receive-pack '/web'")).toEqual({
      kind: 'git',
      service: 'receive-pack',
      app: 'web',
    });
    expect(parseSshCommand("git-upload-pack 'web.git'")).toEqual({
      kind: 'git',
      service: 'upload-pack',
      app: 'web',
    });
    expect(parseSshCommand('git receive-pack web')).toEqual({
      kind: 'git',
      service: 'receive-pack',
      app: 'web',
    });
  });

  it('splits commands without a shell and refuses operators', () => {
    expect(parseSshCommand("keys:add 'my key' --admin")).toEqual({
      kind: 'command',
      argv: ['keys:add', 'my key', '--admin'],
    });
    expect(parseSshCommand('echo $HOME')).toEqual({ kind: 'command', argv: ['echo', '$HOME'] });
    for (const bad of ['apps; id', 'apps | sh', 'apps && id', 'apps > /tmp/x', "git-receive-pack 'a' 'b'"]) {
      expect(() => parseSshCommand(bad)).toThrow();
    }
  });
});

describe('domains goku gives out itself', () => {
  it('refuses names under GOKU_DOMAIN, GOKU_DOMAIN itself and IP addresses', () => {
    for (const d of ['other.goku.test', 'a.b.goku.test', 'goku.test']) {
      expect(() => assertOwnDomain(d, 'goku.test', 'app')).toThrow(/is under GOKU_DOMAIN/);
    }
    expect(() => assertOwnDomain('goku.test.example.com', 'goku.test', 'app')).not.toThrow();
    expect(() => assertOwnDomain('xgoku.test', 'goku.test', 'app')).not.toThrow();
    for (const ip of ['127.0.0.1', '10.0.0.1', 'a.12']) {
      expect(() => normalizeDomain(ip)).toThrow(/an IP address is not a domain/);
    }
    expect(normalizeDomain('1.2.3.4.sslip.io')).toBe('1.2.3.4.sslip.io');
  });
});

describe('routes of containers started again', () => {
  /** Two instances of one deployment, with a published port (and extra HTTP ports if given). */
  const twoInstances = (httpPorts?: { host: number; container: number }[]) => {
    const route = makeRoute({
      app: 'a',
      deployment: 'a',
      domains: ['a.example'],
      ips: ['172.17.0.2', '172.17.0.20'],
      port: 8000,
      ports: [{ host: 2222, container: 22, proto: 'tcp' }],
      ...(httpPorts ? { httpPorts } : {}),
      release: 'r1',
    });
    if (!route) throw new Error('no route');
    return route;
  };

  it('moves each instance address, HTTP and streams, and keeps the rest', () => {
    const route = twoInstances();
    const moved = remapRoute(route, new Map([['172.17.0.2', '172.17.0.9']]));
    expect(moved.upstreams).toEqual(['172.17.0.9:8000', '172.17.0.20:8000']);
    expect(moved.streams[0]?.targets).toEqual(['172.17.0.9:22', '172.17.0.20:22']);
    expect(moved.domains).toEqual(['a.example']);
    expect(moved.release).toBe('r1');
    expect(route.upstreams[0]).toBe('172.17.0.2:8000'); // the original is untouched
  });

  it('takes one instance out of every list, extra HTTP ports included (a liveness restart)', () => {
    const route = twoInstances([{ host: 8080, container: 9000 }]);
    const out = withoutAddress(route, '172.17.0.2');
    expect(out.upstreams).toEqual(['172.17.0.20:8000']);
    expect(out.streams[0]?.targets).toEqual(['172.17.0.20:22']);
    expect(out.extraHttp?.[0]?.upstreams).toEqual(['172.17.0.20:9000']);
    expect(route.upstreams).toHaveLength(2);
  });
});
