import type { Command } from './types.js';

export const clusterJoinToken: Command = {
  name: 'cluster:join-token',
  usage: 'cluster:join-token [--manager]',
  summary: 'Print the command that joins another engine to this swarm',
  help: 'On a manager: prints goku cluster:join ADDR TOKEN with the worker token, or with --manager the token that joins as a manager. The token is a secret: whoever has it can join a machine to the swarm.',
  options: { manager: { type: 'boolean' } },
  args: { min: 0, max: 0 },
  async run({ flags, io, services }) {
    const r = await services.cluster.joinToken(flags.manager === true);
    io.out(`goku cluster:join ${r.joinAddr} ${r.token}\n`);
    return 0;
  },
};
