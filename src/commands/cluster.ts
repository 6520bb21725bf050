import { json, state, table } from '../cli/format.js';
import type { Command } from './types.js';

export const cluster: Command = {
  name: 'cluster',
  usage: 'cluster [--json]',
  summary: "The swarm goku's engine is part of: its nodes, their state and goku's tasks on each",
  help: "Shows this engine's swarm membership (inactive, or active as a manager or worker) and, on a manager, every node: address, role (leader marked), state, availability, engine version and how many of this goku's tasks run there.",
  options: { json: { type: 'boolean' } },
  args: { min: 0, max: 0 },
  async run({ flags, io, services }) {
    const v = await services.cluster.view();
    if (flags.json) {
      io.out(json(v));
      return 0;
    }
    const s = v.state;
    if (s.state === 'inactive') {
      io.out('This engine is not part of a swarm. Make one with: goku cluster:init\n');
      return 0;
    }
    io.out(
      `Swarm: ${s.state}, this node ${s.nodeId?.slice(0, 12) ?? '-'} (${s.manager ? 'manager' : 'worker'}) at ${s.nodeAddr ?? '-'}${s.error ? `; error: ${s.error}` : ''}\n`,
    );
    if (!v.nodes) {
      io.out(`Nodes are listed on a manager: ${s.managers.join(', ') || 'none known'}\n`);
      return 0;
    }
    io.out(
      table(
        ['NODE', 'HOSTNAME', 'ADDRESS', 'ROLE', 'STATE', 'AVAILABILITY', 'ENGINE', 'TASKS'],
        v.nodes.map((n) => [
          n.id.slice(0, 12),
          n.hostname,
          n.addr,
          n.leader ? 'manager (leader)' : n.role,
          state(n.state, io.color),
          n.availability,
          n.engine,
          String(n.tasks),
        ]),
        io.color,
      ),
    );
    return 0;
  },
};
