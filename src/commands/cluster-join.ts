import type { Command } from './types.js';

export const clusterJoin: Command = {
  name: 'cluster:join',
  usage: 'cluster:join HOST[:PORT] TOKEN [--advertise-addr ADDR]',
  summary: "Join goku's engine to a swarm (as the token says: worker or manager)",
  help: "Runs docker swarm join on the engine goku uses, with a manager's address (port 2377 unless given) and a token from goku cluster:join-token on that manager. --advertise-addr: this node's address as the others reach it. Refused when the engine is in a swarm already; a wrong token or an unreachable manager gives the engine's reason.",
  options: { 'advertise-addr': { type: 'string' } },
  args: { min: 2, max: 2 },
  async run({ args, flags, io, services }) {
    const adv = typeof flags['advertise-addr'] === 'string' ? flags['advertise-addr'] : null;
    const s = await services.cluster.join(args[0] as string, args[1] as string, adv);
    io.out(
      `Joined the swarm as a ${s.manager ? 'manager' : 'worker'} (node ${s.nodeId?.slice(0, 12) ?? '-'}).\n`,
    );
    return 0;
  },
};
