import { assertAppName } from '../core/names.js';
import type { Command } from './types.js';

export const psScale: Command = {
  name: 'ps:scale',
  usage: 'ps:scale APP N [--force]',
  summary: 'Run N instances of the default deployment behind one nginx upstream (0 stops it)',
  help: 'Instances are named APP, APP.2, APP.3 ...; nginx spreads requests over all of them. The change goes through the zero-downtime switch as a release; 0 stops the app and nginx answers 503. At most GOKU_MAX_SCALE. A scale still waiting for another deploy of the app is replaced by a newer one. --force: do it now although the app may not run two copies (schedule:set --downtime) and its schedule does not allow deploys now.',
  options: { force: { type: 'boolean' } },
  args: { min: 2, max: 2 },
  async run({ args, flags, io, caller, services }) {
    const app = assertAppName(args[0] as string);
    await services.ops.scale(
      app,
      args[1] as string,
      caller.keyName ?? 'cli',
      (l) => io.out(`${l}\n`),
      flags.force === true,
    );
    return 0;
  },
};
