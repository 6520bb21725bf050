import { assertAppName } from '../core/names.js';
import type { Command } from './types.js';

export const psRestart: Command = {
  name: 'ps:restart',
  usage: 'ps:restart APP [SERVICE] [--force]',
  summary: "Restart the app's deployments without downtime",
  help: 'Starts new containers from the current images beside the old ones, checks them, switches nginx, then retires the old ones. A compose app restarts every service (routed stateless ones beside the old ones; ones with named volumes or no route stopped first, their volumes kept), or SERVICE alone. A restart still waiting for another deploy of the app is replaced by a newer one. --force: do it now although the app may not run two copies (schedule:set --downtime) and its schedule does not allow deploys now.',
  options: { force: { type: 'boolean' } },
  args: { min: 1, max: 2 },
  async run({ args, flags, io, caller, services }) {
    await services.ops.restart(
      assertAppName(args[0] as string),
      caller.keyName ?? 'cli',
      (l) => io.out(`${l}\n`),
      flags.force === true,
      args[1],
    );
    return 0;
  },
};
