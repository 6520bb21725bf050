import { describe, expect, it } from 'vitest';
import { durationMs, parseCompose } from '../../src/core/compose/parse.js';
import { activeServices } from '../../src/core/compose/plan.js';
import { argvOf, serviceRun } from '../../src/core/compose/run.js';

const one = (yaml: string) => {
  const p = parseCompose(yaml, { file: 'compose.yaml', vars: {} });
  return p.services[0] as (typeof p.services)[number];
};

describe('how a compose service runs', () => {
  it('splits a string command as Compose (shlex) does: quotes kept together, nothing expanded', () => {
    expect(argvOf('redis-server --save 60 1')).toEqual(['redis-server', '--save', '60', '1']);
    expect(argvOf(`sh -c 'echo "$HOME" && ls'`)).toEqual(['sh', '-c', 'echo "$HOME" && ls']);
    expect(argvOf('echo $HOME')).toEqual(['echo', '$HOME']);
    expect(argvOf(['a b', 'c'])).toEqual(['a b', 'c']);
    expect(() => argvOf("echo 'open")).toThrow(/does not parse/);
  });

  it('reads Compose durations', () => {
    expect(durationMs('1m30s')).toBe(90_000);
    expect(durationMs('500ms')).toBe(500);
    expect(durationMs('2.5s')).toBe(2500);
    expect(durationMs('1h')).toBe(3_600_000);
    expect(durationMs(null)).toBeUndefined();
  });

  it('layers the env: config, then env_files, then environment; KEY alone takes config or is left out', () => {
    const s = one(
      'services:\n  web:\n    image: x\n    env_file: [a.env]\n    environment:\n      FROM_FILE: file\n      TAKEN:\n      MISSING:\n',
    );
    const run = serviceRun(s, {
      project: 'shop',
      config: { TAKEN: 'config', SHARED: 'config', FROM_FILE: 'config' },
      envFiles: { 'a.env': { SHARED: 'env_file', ONLY_FILE: '1' } },
      binds: {},
    });
    expect(run.env).toEqual({ TAKEN: 'config', SHARED: 'env_file', FROM_FILE: 'file', ONLY_FILE: '1' });
  });

  it('names volumes and networks after the project, maps bind mounts to their copies, converts the healthcheck', () => {
    const s = one(
      [
        'services:',
        '  db:',
        '    image: x',
        '    restart: "no"',
        '    volumes: ["data:/data", "./conf:/etc/conf:ro", "/anon"]',
        '    networks: [back]',
        '    healthcheck: {test: "pg_isready", interval: 2s, retries: 3, start_period: 1m}',
        'volumes: {data: {}}',
        'networks: {back: {}}',
      ].join('\n'),
    );
    const run = serviceRun(s, { project: 'shop', config: {}, envFiles: {}, binds: { conf: '/h/binds/abc' } });
    expect(run.mounts).toEqual([
      { type: 'volume', source: 'shop_data', target: '/data', readOnly: false },
      { type: 'bind', source: '/h/binds/abc', target: '/etc/conf', readOnly: true },
      { type: 'volume', source: null, target: '/anon', readOnly: false },
    ]);
    expect(run.networks).toEqual([{ name: 'shop_back', aliases: ['db'] }]);
    expect(run.healthcheck).toEqual({
      test: ['CMD-SHELL', 'pg_isready'],
      intervalMs: 2000,
      retries: 3,
      startPeriodMs: 60_000,
    });
    expect(run.restart).toBe('no');
    expect(
      serviceRun(one('services:\n  w:\n    image: x\n'), {
        project: 'p',
        config: {},
        envFiles: {},
        binds: {},
      }),
    ).toMatchObject({ networks: [{ name: 'p_default', aliases: ['w'] }], restart: 'unless-stopped' });
  });

  it('refuses volumes and networks outside the app, and more than an app may declare', () => {
    const refused = (yaml: string) => {
      try {
        parseCompose(yaml, { file: 'compose.yaml', vars: {} });
      } catch (err) {
        return (err as Error).message;
      }
      return 'accepted';
    };
    expect(refused('services:\n  a:\n    image: x\nvolumes:\n  pg:\n    external: true\n')).toMatch(
      /volumes\.pg\.external: refused: an app uses only its own volumes/,
    );
    expect(refused('services:\n  a:\n    image: x\nvolumes:\n  pg:\n    name: other_pg\n')).toMatch(
      /volumes\.pg\.name: refused/,
    );
    expect(refused('services:\n  a:\n    image: x\nnetworks:\n  n:\n    driver: host\n')).toMatch(
      /only the bridge driver/,
    );
    const nets = Array.from({ length: 5 }, (_, i) => `  n${i}: {}`).join('\n');
    expect(refused(`services:\n  a:\n    image: x\nnetworks:\n${nets}\n`)).toMatch(/at most 4/);
    expect(
      refused(
        'services:\n  db:\n    image: x\n    volumes: ["d:/d"]\n    deploy: {replicas: 2}\nvolumes: {d: {}}\n',
      ),
    ).toMatch(/2 replicas would share its named volumes/);
    const p = parseCompose(
      'services:\n  a:\n    image: x\n    container_name: mine\n    ports: ["8080:80"]\n',
      {
        file: 'compose.yaml',
        vars: {},
      },
    );
    expect(p.notes).toEqual([
      'container_name of a is not used: goku names its containers APP-a',
      "port 8080 of a is not bound on the host: goku's nginx serves the service (goku ports:add publishes a port)",
    ]);
  });

  it('reads limits, hosts, tmpfs, stop settings and profiles', () => {
    const s = one(
      [
        'services:',
        '  web:',
        '    image: x',
        '    deploy: {resources: {limits: {cpus: "1.5", memory: 1g}}}',
        '    extra_hosts: {db.internal: 10.0.0.2}',
        '    tmpfs: ["/run:size=1m"]',
        '    stop_grace_period: 1m',
        '    stop_signal: SIGINT',
        '    shm_size: 64mb',
        '    init: false',
      ].join('\n'),
    );
    expect(s).toMatchObject({
      cpus: 1.5,
      memoryBytes: 1024 ** 3,
      extraHosts: ['db.internal:10.0.0.2'],
      tmpfs: ['/run'],
      stopGraceMs: 60_000,
      stopSignal: 'SIGINT',
      shmBytes: 64 * 1024 ** 2,
      init: false,
    });
    const run = serviceRun(s, { project: 'p', config: {}, envFiles: {}, binds: {} });
    expect(run.options).toEqual({
      init: false,
      stopSignal: 'SIGINT',
      stopTimeoutSeconds: 60,
      extraHosts: ['db.internal:10.0.0.2'],
      memoryBytes: 1024 ** 3,
      nanoCpus: 1_500_000_000,
      tmpfs: ['/run'],
      shmBytes: 64 * 1024 ** 2,
    });
    expect(run.stopGrace).toBe(60);
    for (const bad of [
      'mem_limit: lots',
      'cpus: -1',
      'extra_hosts: ["nohost"]',
      'extra_hosts: ["a:not-an-ip"]',
      'tmpfs: relative',
      'stop_grace_period: soon',
    ]) {
      expect(() => one(`services:\n  w:\n    image: x\n    ${bad}\n`), bad).toThrow(/compose\.yaml line 4/);
    }
  });

  it('runs services with profiles only when COMPOSE_PROFILES names one', () => {
    const p = parseCompose(
      'services:\n  web:\n    image: x\n  debug:\n    image: x\n    profiles: [debug, tools]\n',
      { file: 'compose.yaml', vars: {} },
    );
    expect(activeServices(p, {}).services.map((s) => s.name)).toEqual(['web']);
    expect(activeServices(p, { COMPOSE_PROFILES: 'x, tools' }).services.map((s) => s.name)).toEqual([
      'web',
      'debug',
    ]);
    const needs = parseCompose(
      'services:\n  web:\n    image: x\n    depends_on: [debug]\n  debug:\n    image: x\n    profiles: [debug]\n',
      { file: 'compose.yaml', vars: {} },
    );
    expect(() => activeServices(needs, {})).toThrow(
      /web depends on debug, whose profiles \(debug\) are not active/,
    );
  });

  it('reads restart: true and required: false of depends_on; an optional dependency left out is dropped', () => {
    const p = parseCompose(
      [
        'services:',
        '  web:',
        '    image: x',
        '    depends_on:',
        '      db: {condition: service_healthy, restart: true}',
        '      debug: {condition: service_started, required: false}',
        '  db:',
        '    image: x',
        '  debug:',
        '    image: x',
        '    profiles: [debug]',
      ].join('\n'),
      { file: 'compose.yaml', vars: {} },
    );
    const web = p.services[0];
    expect(web).toMatchObject({ restartWith: ['db'], optional: ['debug'] });
    expect(activeServices(p, {}).services.map((s) => [s.name, Object.keys(s.dependsOn)])).toEqual([
      ['web', ['db']],
      ['db', []],
    ]);
  });
});
