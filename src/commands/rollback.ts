import { assertAppName } from '../core/names.js';
import { parseVersion } from './release-version.js';
import type { Command } from './types.js';

export const rollback: Command = {
  name: 'rollback',
  usage: 'rollback APP [vN] [--force]',
  summary: 'Go back to an earlier release (default: the one before the current)',
  help: "Runs that release's image with that release's config through the same zero-downtime switch as a push, recorded as a new release. Refused for failed releases and for pruned images, except those goku can pull again (an image app's digest, a build pushed to GOKU_REGISTRY). A rollback still waiting for another deploy of the app is replaced by a newer one. --force: do it now although the app may not run two copies (schedule:set --downtime) and its schedule does not allow deploys now.",
  options: { force: { type: 'boolean' } },
  args: { min: 1, max: 2 },
  async run({ args, flags, io, caller, services }) {
    const app = assertAppName(args[0] as string);
    const target = args[1] === undefined ? null : parseVersion(args[1]);
    await services.ops.rollback(
      app,
      target,
      caller.keyName ?? 'cli',
      (l) => io.out(`${l}\n`),
      flags.force === true,
    );
    return 0;
  },
};
