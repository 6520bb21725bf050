import type { Command } from './types.js';

export const clusterInit: Command = {
  name: 'cluster:init',
  usage: 'cluster:init [--advertise-addr ADDR]',
  summary: "Make goku's engine the first manager of a new swarm",
  help: "Runs docker swarm init on the engine goku uses (listening on port 2377) and prints the command that joins another goku's engine. --advertise-addr: the IP address (or interface) other nodes reach this one at, needed when the machine has more than one. Refused when the engine is in a swarm already.",
  options: { 'advertise-addr': { type: 'string' } },
  args: { min: 0, max: 0 },
  async run({ flags, io, services }) {
    const adv = typeof flags['advertise-addr'] === 'string' ? flags['advertise-addr'] : null;
    const r = await services.cluster.init(adv);
    io.out(`Swarm created; this node (${r.nodeId.slice(0, 12)}) is its manager.\n`);
    io.out(
      `Join another goku's engine to it, on that machine:\n  goku cluster:join ${r.joinAddr} ${r.token}\n`,
    );
    return 0;
  },
};
