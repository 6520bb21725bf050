import { assertAppName } from '../core/names.js';
import type { Command } from './types.js';

export const psRestart: Command = {
  name: 'ps:restart',
  usage: 'ps:restart APP',
  summary: "Restart the app's deployments without downtime",
  help: 'Starts new containers from the current images beside the old ones, checks them, switches nginx, then retires the old ones. A restart still waiting for another deploy of the app is replaced by a newer one.',
  args: { min: 1, max: 1 },
  async run({ args, io, caller, services }) {
    await services.ops.restart(assertAppName(args[0] as string), caller.keyName ?? 'cli', (l) =>
      io.out(`${l}\n`),
    );
    return 0;
  },
};
