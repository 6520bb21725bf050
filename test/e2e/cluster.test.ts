import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRoutes } from '../../src/http/api-routes.js';
import { Api, adminToken } from '../helpers/api.js';
import { eventually, GokuServer, makeKey, type RunResult, type SshKey, sshRun } from '../helpers/goku.js';
import { type LabNode, SwarmLab } from '../helpers/swarm.js';

// goku cluster*: the swarm membership of goku's engine, on two Docker engines of the test's own
// (network namespaces joined by a veth pair; the machine's engine never joins a swarm). Each
// goku talks to its own node's engine (DOCKER_HOST).
describe('cluster commands', () => {
  const lab = new SwarmLab();
  const g1 = new GokuServer();
  const g2 = new GokuServer();
  let n1: LabNode;
  let n2: LabNode;
  let admin: SshKey;

  const fails = (r: RunResult, code: number, msg: RegExp) => {
    expect(r.code, r.stdout).toBe(code);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr.trim()).toMatch(msg);
  };
  const nodes = async () => JSON.parse((await g1.ok(['cluster', '--json'])).stdout).nodes;

  beforeAll(async () => {
    await lab.start();
    [n1, n2] = lab.nodes as [LabNode, LabNode];
    g1.extraEnv.DOCKER_HOST = n1.host;
    g2.extraEnv.DOCKER_HOST = n2.host;
    await Promise.all([g1.start(), g2.start()]);
    admin = makeKey(g1.tmp, 'admin');
    await g1.ok(['keys:add', 'admin', '--admin'], admin.pub);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([g1.cleanup(), g2.cleanup()]);
    await lab.cleanup();
  }, 120_000);

  it('a lone engine: cluster says so; what needs a swarm is refused with the next step', async () => {
    expect((await g1.ok(['cluster'])).stdout).toBe(
      'This engine is not part of a swarm. Make one with: goku cluster:init\n',
    );
    expect(JSON.parse((await g1.ok(['cluster', '--json'])).stdout)).toMatchObject({
      state: { state: 'inactive' },
      nodes: null,
    });
    fails(
      await g1.cli(['cluster:join-token']),
      1,
      /^error: this engine is not part of a swarm: run goku cluster:init/,
    );
    fails(await g1.cli(['cluster:leave']), 1, /^error: this engine is not part of a swarm/);
  });

  it('cluster:init makes a swarm and prints the join command; bad input and a second init are refused', async () => {
    fails(
      await g1.cli(['cluster:init', '--advertise-addr', '10.1.2.3.4']),
      2,
      /^error: invalid --advertise-addr/,
    );
    const init = await g1.ok(['cluster:init', '--advertise-addr', n1.addr]);
    expect(init.stdout).toMatch(/^Swarm created; this node \([0-9a-z]{12}\) is its manager\.\n/);
    expect(init.stdout).toMatch(
      new RegExp(`goku cluster:join ${n1.addr}:2377 SWMTKN-1-[0-9a-z]+-[0-9a-z]+\\n$`),
    );
    fails(
      await g1.cli(['cluster:init']),
      1,
      /^error: this engine is already part of a swarm \(node [0-9a-z]+\); goku cluster:leave first$/,
    );
    const manager = await g1.ok(['cluster:join-token', '--manager']);
    const worker = await g1.ok(['cluster:join-token']);
    expect(manager.stdout).not.toBe(worker.stdout);
    expect(worker.stdout).toBe(init.stdout.split('\n').at(-2)?.trim().concat('\n'));
  });

  it('cluster:join checks its input, passes on the swarm refusal, then joins; cluster lists both nodes', async () => {
    const line = (await g1.ok(['cluster:join-token'])).stdout.trim().split(' ');
    const [addr, token] = [line[2] as string, line[3] as string];
    fails(
      await g2.cli(['cluster:join', 'not a host', token]),
      2,
      /^error: invalid manager address "not a host"/,
    );
    fails(await g2.cli(['cluster:join', addr, 'letmein']), 2, /^error: invalid join token/);
    // Well formed, but not this swarm's: the engine's own reason, one line.
    const wrong = `${token.slice(0, -25)}${'a'.repeat(25)}`;
    fails(await g2.cli(['cluster:join', addr, wrong]), 1, /^error: the Docker engine refused: /);
    const joined = await g2.ok(['cluster:join', addr, token, '--advertise-addr', n2.addr]);
    expect(joined.stdout).toMatch(/^Joined the swarm as a worker \(node [0-9a-z]{12}\)\.\n$/);
    fails(
      await g2.cli(['cluster:join-token']),
      1,
      new RegExp(`^error: this node is a worker; ask a manager \\(${n1.addr}:2377\\)`),
    );

    const list = await eventually(
      nodes,
      (ns) => ns.length === 2 && ns.every((n: { state: string }) => n.state === 'ready'),
      30_000,
    );
    expect(
      list.map((n: { addr: string; role: string; leader: boolean }) => [n.addr, n.role, n.leader]).sort(),
    ).toEqual([
      [n1.addr, 'manager', true],
      [n2.addr, 'worker', false],
    ]);
    const text = (await g1.ok(['cluster'])).stdout;
    expect(text).toMatch(/^Swarm: active, this node [0-9a-z]{12} \(manager\) at /);
    expect(text).toContain('manager (leader)');
    expect(text.trim().split('\n')).toHaveLength(4); // the line, the header, two nodes
    // The worker's goku says where the nodes are listed.
    expect((await g2.ok(['cluster'])).stdout).toContain(`Nodes are listed on a manager: ${n1.addr}:2377`);
  });

  it('over ssh (admin keys) and the HTTP API', async () => {
    const r = await sshRun(g1, admin, 'cluster --json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).nodes).toHaveLength(2);
    const token = (await g1.ok(['cluster:join-token'])).stdout.trim().split(' ')[3];
    const res = await fetch(`http://127.0.0.1:${g1.httpPort}/api/cluster/join-token`, {
      headers: { authorization: `Bearer ${adminToken(g1)}` },
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain(token);
    expect((await fetch(`http://127.0.0.1:${g1.httpPort}/api/cluster`)).status).toBe(401);
  });

  it('cluster:leave: a worker leaves; the manager needs --force', async () => {
    expect((await g2.ok(['cluster:leave'])).stdout).toBe('Left the swarm.\n');
    await eventually(
      nodes,
      (ns) => ns.find((n: { addr: string }) => n.addr === n2.addr)?.state === 'down',
      30_000,
    );
    fails(
      await g1.cli(['cluster:leave']),
      1,
      /^error: this node is a manager: .* add --force to leave anyway$/,
    );
    await g1.ok(['cluster:leave', '--force']);
    expect((await g1.ok(['cluster'])).stdout).toContain('not part of a swarm');
  });

  it('the same through the HTTP API: init, join-token, join, cluster, leave (every /api/cluster route)', async () => {
    const routes = apiRoutes().filter((r) => r.url.startsWith('/api/cluster'));
    const called = new Set<string>();
    const call = (g: GokuServer, method: string, url: string, body?: unknown) => {
      called.add(`${method} ${url.split('?')[0]}`);
      return new Api(g).request(method, url, body === undefined ? {} : { body });
    };
    const bad = await call(g1, 'POST', '/api/cluster/init', { advertiseAddr: 'no such address!' });
    expect([bad.status, bad.json.code]).toEqual([400, 'GOKU_ERR_USAGE']);
    expect((await call(g1, 'POST', '/api/cluster/init', { advertiseAddr: n1.addr })).status).toBe(200);
    const tok = await call(g1, 'GET', '/api/cluster/join-token?manager=false');
    const [, , addr, token] = String(tok.json?.output ?? tok.text)
      .trim()
      .split(' ');
    expect(token).toMatch(/^SWMTKN-1-/);
    const joined = await call(g2, 'POST', '/api/cluster/join', {
      manager: addr,
      token,
      advertiseAddr: n2.addr,
    });
    expect(joined.status, joined.text).toBe(200);
    await eventually(
      async () => (await call(g1, 'GET', '/api/cluster')).json.nodes as { addr: string; state: string }[],
      (ns) => ns.some((n) => n.addr === n2.addr && n.state === 'ready'),
      30_000,
    );
    const refused = await call(g1, 'POST', '/api/cluster/leave', {});
    expect([refused.status, refused.json.code]).toEqual([409, 'GOKU_ERR_CLUSTER']);
    expect((await call(g2, 'POST', '/api/cluster/leave', {})).status).toBe(200);
    expect((await call(g1, 'POST', '/api/cluster/leave', { force: true })).status).toBe(200);
    expect(routes.map((r) => `${r.method} ${r.url}`).filter((r) => !called.has(r))).toEqual([]);
  });
});
