import { assertAppName } from '../core/names.js';
import type { Command } from './types.js';

export const psRebuild: Command = {
  name: 'ps:rebuild',
  usage: 'ps:rebuild APP [--force]',
  summary: 'Build every deployment again from its last pushed commit (an image app: pull it again)',
  help: "Each deployment's branch is built again from the commit it holds (Docker's build cache applies) and switched to without downtime, as a release of kind push; an image app's reference is asked for its digest, pulled and deployed again, even when that digest already runs. --force: do it now although the app may not run two copies (schedule:set --downtime) and its schedule does not allow deploys now.",
  options: { force: { type: 'boolean' } },
  args: { min: 1, max: 1 },
  async run({ args, flags, io, caller, services }) {
    await services.ops.rebuild(
      assertAppName(args[0] as string),
      caller.keyName ?? 'cli',
      (l) => io.out(`${l}\n`),
      flags.force === true,
    );
    return 0;
  },
};
