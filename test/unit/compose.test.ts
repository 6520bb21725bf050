// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Compose's ${VAR} syntax is what these strings test
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { interpolate } from '../../src/core/compose/interpolate.js';
import { type ComposeProject, findCycle, parseCompose } from '../../src/core/compose/parse.js';
import { composeVars } from '../../src/core/compose/vars.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'compose');

/** The compose file parsed as goku does, from a one-file tree. */
const parse = (text: string, vars: Record<string, string> = {}) =>
  parseCompose(text, { file: 'docker-compose.yml', vars });
const refused = (text: string, vars: Record<string, string> = {}) => {
  try {
    parse(text, vars);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('the file was accepted');
};

describe('compose interpolation', () => {
  const vars = { SET: 'value', EMPTY: '' };
  it.each([
    ['$SET and ${SET}', 'value and value'],
    ['${UNSET:-dflt} ${EMPTY:-dflt} ${EMPTY-dflt} ${UNSET-dflt}', 'dflt dflt  dflt'],
    ['${SET:+alt} ${EMPTY:+alt} ${EMPTY+alt} ${UNSET+alt}', 'alt  alt '],
    ['$$SET costs $$5', '$SET costs $5'],
    ['${UNSET:-${SET}}', 'value'],
    ['$UNSET', ''],
    ['no dollar', 'no dollar'],
  ])('%s', (text, want) => {
    expect(interpolate(text, vars, 'x')).toBe(want);
  });

  it('refuses required variables that are missing or empty, with their message', () => {
    expect(() => interpolate('${UNSET:?set it}', vars, 'services.web.image')).toThrow(
      /services\.web\.image: required variable UNSET is missing: set it/,
    );
    expect(() => interpolate('${EMPTY:?}', vars, 'a')).toThrow(/EMPTY is empty/);
    expect(interpolate('${EMPTY?}', vars, 'a')).toBe('');
  });

  it('refuses a $ that starts nothing, naming $$', () => {
    for (const text of ['cost $5', '${', '${SET', '${1X}', '${SET:x}']) {
      expect(() => interpolate(text, vars, 'a'), text).toThrow(/invalid interpolation .*write \$\$/);
    }
  });
});

describe('compose files', () => {
  it('parses what people write: build with args and target, anchors, healthchecks, volumes, networks', () => {
    const dir = join(FIXTURES, 'two-tier');
    const vars = composeVars(
      { DB_PASSWORD: 's3cret', GREETING: 'hi there' },
      readFileSync(join(dir, '.env'), 'utf8'),
    );
    const p = parse(readFileSync(join(dir, 'docker-compose.yml'), 'utf8'), vars);
    expect(p.services.map((s) => s.name)).toEqual(['web', 'db', 'cache', 'worker']);
    const web = p.services[0];
    expect(web?.build).toEqual({
      context: 'web',
      dockerfile: 'Dockerfile.prod',
      args: { NODE_VERSION: '20', RELEASE: 'r42' },
      target: 'runtime',
    });
    expect(web?.replicas).toBe(2);
    expect(web?.dependsOn).toEqual({ db: 'service_healthy', cache: 'service_started' });
    expect(web?.labels).toEqual({ team: 'payments' });
    expect(p.services[1]?.volumes).toEqual([
      { type: 'volume', source: 'dbdata', target: '/var/lib/postgresql/data', readOnly: false },
      { type: 'bind', source: 'db/init.sql', target: '/docker-entrypoint-initdb.d/init.sql', readOnly: true },
    ]);
    expect(p.services[1]?.healthcheck?.test).toEqual(['CMD-SHELL', 'pg_isready -U app']);
    expect(p.volumes).toEqual(['dbdata', 'cachedata']);
    expect(p.networks).toEqual(['back']);
  });

  it("agrees with Debian's docker-compose config on every fixture", () => {
    for (const [fixture, file] of [
      ['two-tier', 'docker-compose.yml'],
      ['minimal', 'compose.yaml'],
      ['kv', 'compose.yaml'],
    ] as const) {
      const dir = join(FIXTURES, fixture);
      const config = { DB_PASSWORD: 's3cret', GREETING: 'hi there', PORT: '9000', SECRET: 'x' };
      let dotenv: string | null = null;
      try {
        dotenv = readFileSync(join(dir, '.env'), 'utf8');
      } catch {
        // no .env
      }
      const mine = parse(readFileSync(join(dir, file), 'utf8'), composeVars(config, dotenv));
      const theirs = dockerCompose(dir, file, config);
      compare(mine, theirs, dir);
    }
  });

  it('refuses an unsupported key, naming it and its line', () => {
    expect(refused('services:\n  web:\n    image: x\n    logging: {driver: syslog}\n')).toBe(
      'docker-compose.yml line 4: services.web.logging: key "logging" is not supported by goku (see the README\'s compose section)',
    );
    expect(
      refused('services:\n  web:\n    image: x\n    deploy:\n      resources:\n        reservations: {}\n'),
    ).toMatch(/line 6: services\.web\.deploy\.resources\.reservations: key "reservations" is not supported/);
    expect(refused('services:\n  web:\n    image: x\nconfigs: {}\n')).toMatch(
      /line 4: configs: key "configs"/,
    );
  });

  it('refuses every key that would give a container the host, and paths outside the tree', () => {
    for (const [key, value] of [
      ['privileged', 'true'],
      ['cap_add', '[SYS_ADMIN]'],
      ['devices', '["/dev/sda:/dev/sda"]'],
      ['network_mode', 'host'],
      ['pid', 'host'],
      ['ipc', 'host'],
      ['security_opt', '["seccomp:unconfined"]'],
    ]) {
      expect(refused(`services:\n  web:\n    image: x\n    ${key}: ${value}\n`), key).toMatch(
        new RegExp(`line 4: services\\.web\\.${key}: refused: it .*host's powers`),
      );
    }
    for (const mount of [
      '/etc:/host-etc',
      '/var/run/docker.sock:/var/run/docker.sock',
      '../../:/up',
      '~/.ssh:/keys',
      './a/../../b:/b',
    ]) {
      expect(refused(`services:\n  web:\n    image: x\n    volumes:\n      - ${mount}\n`), mount).toMatch(
        /line 5: services\.web\.volumes\.0: .* (is outside|leaves) the repository/,
      );
    }
    expect(
      refused(
        'services:\n  web:\n    image: x\n    volumes:\n      - type: bind\n        source: /etc\n        target: /e\n',
      ),
    ).toMatch(/outside the repository/);
    expect(refused('services:\n  web:\n    build:\n      context: /\n')).toMatch(
      /build\.context: "\/" is outside/,
    );
    expect(refused('services:\n  web:\n    image: x\n    env_file: /etc/shadow\n')).toMatch(
      /env_file\.0: .* outside/,
    );
    // A service pulled in by an anchor is checked as written out.
    expect(
      refused('x-bad: &bad\n  privileged: true\nservices:\n  web:\n    <<: *bad\n    image: x\n'),
    ).toMatch(/services\.web\.privileged: refused/);
  });

  it('refuses a missing required variable, a depends_on cycle or unknown service, and bad shapes', () => {
    expect(refused('services:\n  web:\n    image: "app:${TAG:?give a TAG}"\n')).toBe(
      'services.web.image: required variable TAG is missing: give a TAG (goku config:set APP TAG=... or .env)',
    );
    expect(
      refused(
        'services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [c]\n  c:\n    image: x\n    depends_on: [a]\n',
      ),
    ).toMatch(/depends_on: a cycle: a -> b -> c -> a/);
    expect(refused('services:\n  a:\n    image: x\n    depends_on: [nope]\n')).toMatch(/no service "nope"/);
    expect(refused('services:\n  a:\n    image: x\n    ports: ["99999:80"]\n')).toMatch(
      /line 4: services\.a\.ports\.0: .*not a port/,
    );
    expect(refused('services:\n  a:\n    image: x\n    volumes: ["data:/d"]\n')).toMatch(
      /volume "data" is not declared/,
    );
    expect(refused('services:\n  a:\n    restart: always\n')).toMatch(/services\.a: needs build or image/);
    expect(refused('services:\n  Web_1:\n    image: x\n')).toMatch(/service names are lowercase/);
    expect(refused('services: {}\n')).toMatch(/a map of at least one service/);
    expect(refused('services:\n  a:\n    image: x\n  a:\n    image: y\n')).toMatch(/line 4: .*[Uu]nique/);
    expect(refused('services:\n  a:\n    image: [x\n')).toMatch(/docker-compose\.yml line \d+: /);
    expect(refused('- just\n- a list\n')).toMatch(/not a map of keys/);
  });

  it('bounds what a file may cost: its size and its aliases', () => {
    expect(refused(`services:\n  a:\n    image: x\n#${'x'.repeat(300 * 1024)}\n`)).toMatch(/over 256 KiB/);
    const bomb = [
      'x-a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
      'x-b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]',
      'x-c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]',
      'x-d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]',
      'x-e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]',
      'services:\n  a:\n    image: x\n    labels: *e',
    ].join('\n');
    expect(() => parse(bomb)).toThrow();
  });

  it('finds cycles, including a service that depends on itself', () => {
    expect(findCycle([{ name: 'a', dependsOn: { a: 'service_started' } }])).toEqual(['a', 'a']);
    expect(findCycle([{ name: 'a', dependsOn: {} }])).toBeNull();
  });

  it('lets the app config win over .env', () => {
    expect(composeVars({ A: 'config' }, 'A=dotenv\nB="quoted value"\n# comment\n')).toEqual({
      A: 'config',
      B: 'quoted value',
    });
  });
});

/** `docker-compose config` of a fixture, with the app's config as its environment. */
function dockerCompose(dir: string, file: string, env: Record<string, string>) {
  let out: string;
  try {
    out = execFileSync('docker-compose', ['--project-directory', dir, '-f', join(dir, file), 'config'], {
      env: { PATH: process.env.PATH, ...env },
      stdio: 'pipe',
    }).toString();
  } catch (err) {
    throw new Error(
      `docker-compose config failed (./install.sh --deps-only installs it): ${(err as Error).message}`,
    );
  }
  return parseYaml(out) as { services: Record<string, Record<string, unknown>> };
}

/** Each service's interpolated values as both see them (docker-compose v1 writes $ as $$). */
function compare(
  mine: ComposeProject,
  theirs: { services: Record<string, Record<string, unknown>> },
  dir: string,
) {
  const undollar = (v: unknown): unknown =>
    typeof v === 'string'
      ? v.replace(/\$\$/g, '$')
      : Array.isArray(v)
        ? v.map(undollar)
        : v && typeof v === 'object'
          ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, undollar(x)]))
          : v;
  expect(Object.keys(theirs.services).sort()).toEqual(mine.services.map((s) => s.name).sort());
  for (const s of mine.services) {
    // biome-ignore lint/suspicious/noExplicitAny: docker-compose's output, read field by field
    const t = undollar(theirs.services[s.name]) as Record<string, any>;
    const where = `${dir} ${s.name}`;
    expect(s.image ?? undefined, where).toEqual(t.image);
    expect(s.command ?? undefined, where).toEqual(t.command);
    expect(s.entrypoint ?? undefined, where).toEqual(t.entrypoint);
    expect(s.user ?? undefined, where).toEqual(t.user);
    expect(s.workingDir ?? undefined, where).toEqual(t.working_dir);
    expect(s.restart ?? undefined, where).toEqual(t.restart);
    expect(s.init, where).toEqual(t.init ?? true);
    expect(s.tty, where).toEqual(t.tty ?? false);
    expect(s.stdinOpen, where).toEqual(t.stdin_open ?? false);
    expect(s.hostname ?? undefined, where).toEqual(t.hostname);
    expect(s.stopSignal ?? undefined, where).toEqual(t.stop_signal);
    expect(s.profiles, where).toEqual(t.profiles ?? []);
    expect(s.tmpfs, where).toEqual([t.tmpfs ?? []].flat());
    expect(s.extraHosts, where).toEqual(t.extra_hosts ?? []);
    // Theirs also holds what env_file adds; goku reads those files at deploy.
    const env = Object.fromEntries(Object.entries(t.environment ?? {}).filter(([k]) => k in s.environment));
    expect(s.environment, where).toEqual(env);
    expect(Object.keys(s.labels).length ? s.labels : undefined, where).toEqual(t.labels);
    expect(
      s.ports.map((p) => p.target),
      where,
    ).toEqual((t.ports ?? []).map((p: { target: number }) => p.target));
    if (s.build) {
      expect(join(dir, s.build.context), where).toBe(t.build.context);
      expect(s.build.target ?? undefined, where).toEqual(t.build.target);
      expect(Object.keys(s.build.args).length ? s.build.args : undefined, where).toEqual(t.build.args);
    }
    const deps = Object.fromEntries(
      Object.entries(t.depends_on ?? {}).map(([k, v]) => [k, (v as { condition: string }).condition]),
    );
    expect(s.dependsOn, where).toEqual(deps);
    if (s.healthcheck)
      expect(s.healthcheck.test.slice(-1)[0], where).toEqual([t.healthcheck.test].flat().slice(-1)[0]);
  }
}
