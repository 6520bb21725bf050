import type { Command } from './types.js';

export const clusterLeave: Command = {
  name: 'cluster:leave',
  usage: 'cluster:leave [--force]',
  summary: "Take goku's engine out of its swarm",
  help: 'Runs docker swarm leave on the engine goku uses. A manager needs --force (leaving can cost the swarm its quorum; the last manager ends the swarm). Apps goku runs as containers on this engine keep running.',
  options: { force: { type: 'boolean' } },
  args: { min: 0, max: 0 },
  async run({ flags, io, services }) {
    await services.cluster.leave(flags.force === true);
    io.out('Left the swarm.\n');
    return 0;
  },
};
