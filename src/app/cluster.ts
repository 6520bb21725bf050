import { assertJoinToken, parseAdvertiseAddr, parseManagerAddr } from '../core/cluster.js';
import { GokuError } from '../errors.js';
import type { ContainerRuntime, SwarmNode, SwarmState } from '../runtime/types.js';

export interface ClusterView {
  state: SwarmState;
  /** The nodes (null: this engine is not a manager, or not in a swarm). */
  nodes: SwarmNode[] | null;
}

const notInSwarm = () =>
  new GokuError(
    'GOKU_ERR_CLUSTER',
    'this engine is not part of a swarm: run goku cluster:init (or cluster:join)',
  );

/**
 * The swarm membership of the engine goku runs on (Docker's swarm API): what `goku cluster*`
 * and the API call. It never changes apps: deployments keep running where they are.
 */
export class ClusterService {
  constructor(
    private readonly runtime: ContainerRuntime,
    /** The labels of this goku's tasks (goku.home), counted per node. */
    private readonly labels: Record<string, string>,
  ) {}

  async view(): Promise<ClusterView> {
    const state = await this.runtime.swarmState();
    const nodes =
      state.state === 'active' && state.manager ? await this.runtime.swarmNodes(this.labels) : null;
    return { state, nodes };
  }

  async init(advertise: string | null): Promise<{ nodeId: string; joinAddr: string; token: string }> {
    const adv = advertise === null ? null : parseAdvertiseAddr(advertise);
    await this.assertNotInSwarm();
    const nodeId = await this.runtime.swarmInit(adv);
    const { joinAddr, token } = await this.joinToken(false);
    return { nodeId, joinAddr, token };
  }

  async joinToken(manager: boolean): Promise<{ joinAddr: string; token: string }> {
    const state = await this.runtime.swarmState();
    if (state.state !== 'active') throw notInSwarm();
    if (!state.manager) {
      throw new GokuError(
        'GOKU_ERR_CLUSTER',
        `this node is a worker; ask a manager (${state.managers.join(', ') || 'none known'}) for the token`,
      );
    }
    const tokens = await this.runtime.swarmJoinTokens();
    const addr = state.managers.find((m) => m.startsWith(`${state.nodeAddr}:`)) ?? `${state.nodeAddr}:2377`;
    return { joinAddr: addr, token: manager ? tokens.manager : tokens.worker };
  }

  async join(remote: string, token: string, advertise: string | null): Promise<SwarmState> {
    const addr = parseManagerAddr(remote);
    const t = assertJoinToken(token);
    const adv = advertise === null ? null : parseAdvertiseAddr(advertise);
    await this.assertNotInSwarm();
    await this.runtime.swarmJoin(addr, t, adv);
    return this.runtime.swarmState();
  }

  private async assertNotInSwarm(): Promise<void> {
    const state = await this.runtime.swarmState();
    if (state.state !== 'inactive') {
      throw new GokuError(
        'GOKU_ERR_CLUSTER',
        `this engine is already part of a swarm (node ${state.nodeId?.slice(0, 12) ?? '?'}); goku cluster:leave first`,
      );
    }
  }

  async leave(force: boolean): Promise<void> {
    const state = await this.runtime.swarmState();
    if (state.state === 'inactive') throw notInSwarm();
    if (state.manager && !force) {
      throw new GokuError(
        'GOKU_ERR_CLUSTER',
        'this node is a manager: leaving can cost the swarm its quorum (the last manager ends it); add --force to leave anyway',
      );
    }
    await this.runtime.swarmLeave(force);
  }
}
