import type { Command } from './types.js';

export const keysRemove: Command = {
  name: 'keys:remove',
  usage: 'keys:remove NAME',
  summary: 'Remove a stored public key; it can no longer push or run commands',
  help: 'Removes the key named NAME. Its open ssh connections are closed within a second, and no new channel opens on them.',
  args: { min: 1, max: 1 },
  async run({ args, io, services }) {
    const name = args[0] as string;
    await services.keys.remove(name);
    io.out(`Removed key ${name}\n`);
    return 0;
  },
};
