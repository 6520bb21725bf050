import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { commandTable, parseCommand } from '../../src/commands/index.js';
import { parseVersion } from '../../src/commands/release-version.js';
import { appJsonChecks, appJsonFormation, CHECK_LIMITS } from '../../src/core/checks.js';
import {
  assertConfigKey,
  assertConfigSize,
  MAX_CONFIG_BYTES,
  parseAssignments,
} from '../../src/core/config.js';
import { dockerfileFacts } from '../../src/core/dockerfile.js';
import {
  appFromRepoPath,
  assertAppName,
  assertOwnDomain,
  branchSlug,
  deploymentName,
  isValidAppName,
  normalizeDomain,
  parseCnameFile,
} from '../../src/core/names.js';
import { commandArgv, parseProcfile, parseScaleArgs } from '../../src/core/procfile.js';
import { parsePortMapping } from '../../src/core/routes.js';
import { parseSshCommand } from '../../src/core/ssh-command.js';
import { ERROR_CODES, GokuError } from '../../src/errors.js';
import { parseChallenge } from '../../src/registry/client.js';
import { parseDeployHook, parseDockerHub, parseRegistryEvents } from '../../src/registry/payloads.js';
import { formatImageRef, parseImageRef } from '../../src/registry/reference.js';
import { parsePublicKey } from '../../src/ssh/keys.js';
import { fromPairs } from '../../src/store/consul-layout.js';

// Property-based fuzzing of every parser of user input: whatever a deploy key or an admin
// sends, a parser either returns a well-formed value or throws a GokuError with a known code
// and a one-line message. These parsers live in core/ (and the key and argv parsers beside
// it), which does no I/O, so nothing can be written by them.

const RUNS = { numRuns: 3000 };

/** Runs fn; anything thrown must be a coded, one-line GokuError. Returns the value or null. */
function onlyCoded<T>(fn: () => T): T | null {
  try {
    return fn();
  } catch (err) {
    if (!(err instanceof GokuError)) throw new Error(`not a GokuError: ${String(err)}`);
    expect(Object.keys(ERROR_CODES)).toContain(err.code);
    expect(err.message).not.toMatch(/\n/);
    expect(err.message.length).toBeLessThan(600);
    return null;
  }
}

/** Text with the characters hostile input likes: controls, quotes, separators, unicode. */
const hostile = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'grapheme', maxLength: 100 }),
  fc.string({
    unit: fc.constantFrom(...'aZ09-_./\\:;@#$`\'"{}[]()*?! \t\r\n\u0000\u001b日本é'),
    maxLength: 120,
  }),
);

const dnsLabel = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

describe('fuzzing the parsers of user input', () => {
  it('app names and repo paths', () => {
    fc.assert(
      fc.property(hostile, (s) => {
        const ok = onlyCoded(() => assertAppName(s));
        expect(ok !== null).toBe(isValidAppName(s));
        const app = onlyCoded(() => appFromRepoPath(s));
        if (app !== null) expect(isValidAppName(app)).toBe(true);
      }),
      RUNS,
    );
  });

  it('image references: a parsed one prints to text that parses to the same; registry challenges never throw', () => {
    const refish = fc.oneof(
      hostile,
      fc
        .tuple(
          fc.option(fc.oneof(fc.domain(), fc.constant('localhost:5000'), fc.ipV4()), { nil: undefined }),
          fc.array(fc.stringMatching(/^[a-z0-9]+([._-][a-z0-9]+)?$/), { minLength: 1, maxLength: 3 }),
          fc.option(fc.stringMatching(/^[\w][\w.-]{0,20}$/), { nil: undefined }),
          fc.option(fc.stringMatching(/^[a-f0-9]{64}$/), { nil: undefined }),
        )
        .map(
          ([h, path, tag, hex]) =>
            `${h ? `${h}/` : ''}${path.join('/')}${tag ? `:${tag}` : ''}${hex ? `@sha256:${hex}` : ''}`,
        ),
    );
    fc.assert(
      fc.property(refish, (s) => {
        const ref = onlyCoded(() => parseImageRef(s));
        if (ref === null) return;
        expect(ref.repository).toMatch(/^[a-z0-9]+([._-]+[a-z0-9]+)*(\/[a-z0-9]+([._-]+[a-z0-9]+)*)*$/);
        expect(ref.tag !== null || ref.digest !== null).toBe(true);
        expect(parseImageRef(formatImageRef(ref))).toEqual(ref);
      }),
      RUNS,
    );
    fc.assert(
      fc.property(hostile, (s) => {
        const { params } = parseChallenge(s);
        for (const v of Object.values(params)) expect(typeof v).toBe('string');
      }),
      RUNS,
    );
  });

  it('webhook payloads: any JSON is an update to look at, or a coded error', () => {
    const event = fc.record(
      {
        action: fc.oneof(fc.constantFrom('push', 'pull', 'delete'), hostile),
        target: fc.record(
          {
            mediaType: fc.oneof(fc.constant('application/vnd.docker.distribution.manifest.v2+json'), hostile),
            repository: fc.oneof(fc.constant('team/app'), hostile),
            tag: fc.oneof(fc.constant('latest'), hostile),
          },
          { requiredKeys: [] },
        ),
        request: fc.record({ host: fc.oneof(fc.constant('127.0.0.1:5000'), hostile) }, { requiredKeys: [] }),
      },
      { requiredKeys: [] },
    );
    const hub = fc.record(
      {
        push_data: fc.record({ tag: fc.oneof(fc.constant('latest'), hostile) }, { requiredKeys: [] }),
        repository: fc.record(
          { repo_name: fc.oneof(fc.constant('team/app'), hostile), namespace: hostile },
          { requiredKeys: [] },
        ),
        callback_url: fc.oneof(
          fc.constant('https://registry.hub.docker.com/u/a/b/hook/1/'),
          fc.webUrl(),
          hostile,
        ),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(
        fc.oneof(fc.jsonValue(), fc.record({ events: fc.array(event, { maxLength: 5 }) })),
        (body) => {
          for (const u of onlyCoded(() => parseRegistryEvents(body)) ?? []) {
            expect(formatImageRef(parseImageRef(`${u.registry}/${u.repository}:${u.tag}`))).toBe(
              `${u.registry}/${u.repository}:${u.tag}`,
            );
          }
        },
      ),
      RUNS,
    );
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), hub), (body) => {
        const h = onlyCoded(() => parseDockerHub(body));
        if (h?.callbackUrl) expect(new URL(h.callbackUrl).host).toBe('registry.hub.docker.com');
      }),
      RUNS,
    );
    fc.assert(
      fc.property(
        fc.oneof(fc.jsonValue(), fc.record({ service: hostile, tag: hostile }, { requiredKeys: [] })),
        (body) => {
          onlyCoded(() => parseDeployHook(body));
        },
      ),
      RUNS,
    );
  });

  it('branch slugs always make a DNS label of at most 63 characters', () => {
    const app = fc.stringMatching(/^[a-z][a-z0-9-]{0,39}$/);
    fc.assert(
      fc.property(app, hostile, (a, branch) => {
        const slug = branchSlug(a, branch);
        expect(slug).toMatch(/^([a-z0-9]+(-[a-z0-9]+)*)?$/);
        const dep = deploymentName(a, branch, 'master');
        expect(dep.length).toBeLessThanOrEqual(63);
        if (branch !== 'master') expect(dep.startsWith(`${a}-`)).toBe(true);
      }),
      RUNS,
    );
  });

  it('CNAME files and domains: every result is a plain host name, never an IP or under GOKU_DOMAIN', () => {
    const lines = fc.array(fc.oneof(hostile, fc.domain(), fc.ipV4()), { maxLength: 8 });
    fc.assert(
      fc.property(lines, fc.constantFrom('\n', '\r\n'), (ls, eol) => {
        const got = onlyCoded(() => parseCnameFile(ls.join(eol)));
        for (const d of got ?? []) {
          expect(d.length).toBeLessThanOrEqual(253);
          for (const l of d.split('.')) expect(l).toMatch(dnsLabel);
          expect(d).not.toMatch(/\.\d+$/);
          onlyCoded(() => assertOwnDomain(d, 'goku.test', 'app'));
        }
      }),
      RUNS,
    );
    fc.assert(
      fc.property(fc.oneof(hostile, fc.domain(), fc.ipV4(), fc.ipV6()), (s) => {
        onlyCoded(() => normalizeDomain(s));
      }),
      RUNS,
    );
  });

  it('app.json: any text, any JSON, any healthchecks shape', () => {
    const num = fc.oneof(
      fc.double(),
      fc.integer(),
      fc.constantFrom(1e308, -1, 0, 0.5, Number.MAX_SAFE_INTEGER + 2),
    );
    const checkish = fc.record(
      {
        type: fc.oneof(fc.constantFrom('startup', 'liveness'), hostile),
        name: hostile,
        path: fc.oneof(fc.constant('/'), hostile),
        content: hostile,
        attempts: num,
        timeout: num,
        wait: num,
        initialDelay: num,
        port: num,
      },
      { requiredKeys: [] },
    );
    const doc = fc.oneof(
      fc.json(),
      hostile,
      fc
        .record({ healthchecks: fc.record({ web: fc.array(checkish, { maxLength: 25 }) }) })
        .map((o) => JSON.stringify(o)),
    );
    fc.assert(
      fc.property(doc, (text) => {
        const checks = onlyCoded(() => appJsonChecks(text));
        for (const c of checks ?? []) {
          expect(Number.isInteger(c.attempts)).toBe(true);
          expect(c.attempts).toBeGreaterThanOrEqual(1);
          expect(c.attempts).toBeLessThanOrEqual(CHECK_LIMITS.attempts);
          expect(c.initialDelay).toBeLessThanOrEqual(CHECK_LIMITS.initialDelay);
          expect(c.wait).toBeLessThanOrEqual(CHECK_LIMITS.wait);
          expect(c.timeout).toBeLessThanOrEqual(CHECK_LIMITS.timeout);
          expect(c.path.startsWith('/')).toBe(true);
        }
      }),
      RUNS,
    );
  });

  it('Procfiles, their commands and ps:scale arguments: types a container may be named by, counts within the limit', () => {
    const line = fc.oneof(
      hostile,
      fc
        .tuple(fc.oneof(fc.constantFrom('web', 'worker', 'release', 'Web', 'a b', ''), hostile), hostile)
        .map(([t, c]) => `${t}: ${c}`),
      fc.constantFrom('# c', '', 'web: httpd -p $PORT', "w: sh -c 'a && b'", 'x: a | b', 'y: "unclosed'),
    );
    fc.assert(
      fc.property(fc.array(line, { maxLength: 40 }), hostile, (lines, word) => {
        const pf = onlyCoded(() => parseProcfile(lines.join('\n')));
        for (const [t, cmd] of Object.entries(pf ?? {})) {
          expect(t).toMatch(/^[a-z0-9][a-z0-9_-]{0,29}$/);
          // The release command may use a shell's syntax: it runs through sh -c.
          if (t === 'release') continue;
          const argv = commandArgv(cmd, { PORT: '5000' });
          expect(argv.length).toBeGreaterThan(0);
          for (const a of argv) expect(typeof a).toBe('string');
        }
        const counts = onlyCoded(() => parseScaleArgs([word, ...lines.slice(0, 3)], 20));
        for (const [t, n] of Object.entries(counts ?? {})) {
          expect(t).toMatch(/^[a-z0-9][a-z0-9_-]{0,29}$/);
          expect(Number.isInteger(n) && n >= 0 && n <= 20).toBe(true);
        }
      }),
      RUNS,
    );
  });

  it('app.json formation: quantities are whole numbers of a process type', () => {
    const doc = fc.oneof(
      fc.json(),
      hostile,
      fc
        .dictionary(
          fc.oneof(fc.constantFrom('web', 'worker', 'Web'), hostile),
          fc.record({ quantity: fc.oneof(fc.integer(), fc.double(), hostile) }, { requiredKeys: [] }),
        )
        .map((f) => JSON.stringify({ formation: f })),
    );
    fc.assert(
      fc.property(doc, (text) => {
        const f = onlyCoded(() => appJsonFormation(text));
        for (const [t, n] of Object.entries(f ?? {})) {
          expect(t).toMatch(/^[a-z0-9][a-z0-9_-]{0,29}$/);
          expect(Number.isInteger(n) && n >= 0 && n <= 1000).toBe(true);
        }
      }),
      RUNS,
    );
  });

  it('Dockerfiles: EXPOSE gives a port from 1 to 65535 or none', () => {
    const instr = fc.oneof(
      fc.constantFrom('FROM x', 'ARG PORT=80', 'ENV P=1', 'EXPOSE', 'HEALTHCHECK CMD true', '\\', '# c'),
      fc.tuple(fc.constantFrom('EXPOSE ', 'ARG ', 'ENV ', 'FROM '), hostile).map(([a, b]) => a + b),
      fc
        .tuple(fc.constant('EXPOSE '), fc.oneof(fc.integer(), fc.double()).map(String))
        .map(([a, b]) => a + b),
      hostile,
    );
    fc.assert(
      fc.property(fc.array(instr, { maxLength: 10 }), (ls) => {
        const facts = onlyCoded(() => dockerfileFacts(ls.join('\n')));
        if (facts?.port != null) {
          expect(Number.isInteger(facts.port)).toBe(true);
          expect(facts.port).toBeGreaterThanOrEqual(1);
          expect(facts.port).toBeLessThanOrEqual(65535);
        }
      }),
      RUNS,
    );
  });

  it('config: KEY=VALUE pairs, keys and sizes', () => {
    fc.assert(
      fc.property(fc.array(hostile, { maxLength: 6 }), (pairs) => {
        const env = onlyCoded(() => parseAssignments(pairs));
        for (const [k, v] of Object.entries(env ?? {})) {
          expect(k).toMatch(/^[A-Za-z_][A-Za-z0-9_]*$/);
          expect(v).not.toContain('\u0000');
        }
        for (const p of pairs) onlyCoded(() => assertConfigKey(p));
      }),
      RUNS,
    );
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.string({ maxLength: 40000 }), { maxKeys: 5 }), (env) => {
        const ok = onlyCoded(() => assertConfigSize(env)) !== null || Object.keys(env).length === 0;
        const size = Object.entries(env).reduce(
          (n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v) + 2,
          0,
        );
        if (size > MAX_CONFIG_BYTES) expect(ok).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('ssh command lines and argv: a git service on a valid app, or a command with plain words', () => {
    const table = commandTable();
    const line = fc.oneof(
      hostile,
      fc
        .tuple(fc.constantFrom('git-receive-pack ', 'git-upload-pack ', 'git receive-pack '), hostile)
        .map(([a, b]) => a + b),
      fc
        .tuple(fc.constantFrom(...table.map((c) => c.name)), fc.array(hostile, { maxLength: 4 }))
        .map(([c, args]) => [c, ...args.map((a) => `'${a.replace(/'/g, '')}'`)].join(' ')),
    );
    fc.assert(
      fc.property(line, (l) => {
        const req = onlyCoded(() => parseSshCommand(l));
        if (req?.kind === 'git') expect(isValidAppName(req.app)).toBe(true);
        if (req?.kind === 'command') {
          for (const w of req.argv) expect(typeof w).toBe('string');
          onlyCoded(() => parseCommand(table, req.argv));
        }
      }),
      RUNS,
    );
  });

  it('public keys, port mappings and release versions', () => {
    fc.assert(
      fc.property(hostile, (s) => {
        onlyCoded(() => parsePublicKey(s));
        onlyCoded(() => parsePublicKey(`ssh-ed25519 ${s}`));
        const m = onlyCoded(() => parsePortMapping(s));
        if (m) {
          expect(m.host).toBeGreaterThanOrEqual(1);
          expect(m.host).toBeLessThanOrEqual(65535);
          expect(m.container).toBeGreaterThanOrEqual(1);
          expect(m.container).toBeLessThanOrEqual(65535);
        }
        const v = onlyCoded(() => parseVersion(s));
        if (v !== null) expect(v).toBeGreaterThanOrEqual(1);
      }),
      RUNS,
    );
  });
  it("the Consul layout's reader: any keys and values an operator could put", () => {
    const key = fc.oneof(
      fc
        .tuple(
          fc.constantFrom('goku/apps/', 'goku/keys/', 'goku/', 'other/'),
          fc.oneof(fc.constantFrom('app', 'my-app', 'A', ''), hostile),
          fc.constantFrom('/env/', '/CONTAINERS', '/domains', '/app', '/deployments/', '/releases/', '/', ''),
          fc.oneof(fc.constantFrom('PORT', '1', 'my-app', ''), hostile),
        )
        .map((parts) => parts.join('')),
      hostile,
    );
    const value = fc.oneof(hostile, fc.json(), fc.integer().map(String));
    fc.assert(
      fc.property(fc.array(fc.tuple(key, value), { maxLength: 12 }), (pairs) => {
        const problems: string[] = [];
        const data = fromPairs(new Map(pairs), problems);
        for (const a of Object.values(data.apps)) {
          expect(isValidAppName(a.name)).toBe(true);
          for (const k of Object.keys(a.env)) expect(k).toMatch(/^[A-Za-z_][A-Za-z0-9_]*$/);
          for (const d of a.domains) expect(normalizeDomain(d)).toBe(d);
          if (a.scale !== undefined) expect(Number.isInteger(a.scale)).toBe(true);
        }
        for (const p of problems) expect(p).not.toMatch(/\n/);
      }),
      RUNS,
    );
  });
});
