import { assertAppName } from '../core/names.js';
import type { Command } from './types.js';

export const watchPin: Command = {
  name: 'watch:pin',
  usage: 'watch:pin APP TAG [--force]',
  summary: 'Pin an image app to TAG: deploy it now, and again whenever its digest changes',
  help: "Switches the app's reference to TAG of its repository and deploys it now (a release of kind image, health-checked, without downtime). From then on the registry watcher redeploys it whenever TAG names a new digest (the tag was pushed again), and ignores other tags. goku watch:reset APP goes back to following the newest version. --force: do it now although the app may not run two copies (schedule:set --downtime) and its schedule does not allow deploys now.",
  options: { force: { type: 'boolean' } },
  args: { min: 2, max: 2 },
  async run({ args, flags, io, caller, services }) {
    await services.watch.pin(
      assertAppName(args[0] as string),
      args[1] as string,
      caller.keyName ?? 'cli',
      (l) => io.out(`${l}\n`),
      flags.force === true,
    );
    return 0;
  },
};
