import { GokuError } from '../errors.js';
import type { Command } from './types.js';

export const keysRemove: Command = {
  name: 'keys:remove',
  usage: 'keys:remove NAME',
  summary: 'Remove a stored public key; it can no longer push or run commands',
  help: 'Removes the key named NAME. Its open ssh connections are closed within a second, and no new channel opens on them.',
  args: { min: 1, max: 1 },
  async run({ args, io, services }) {
    const name = args[0] as string;
    await services.store.update((s) => {
      const i = s.keys.findIndex((k) => k.name === name);
      if (i < 0)
        throw new GokuError(
          'GOKU_ERR_KEY_NOT_FOUND',
          `no key named ${JSON.stringify(name.slice(0, 80))}; see keys:list`,
        );
      s.keys.splice(i, 1);
    });
    io.out(`Removed key ${name}\n`);
    return 0;
  },
};
