import { assertAppName } from '../core/names.js';
import { GokuError } from '../errors.js';
import type { Command } from './types.js';

export const appsDestroy: Command = {
  name: 'apps:destroy',
  usage: 'apps:destroy APP --force',
  summary: 'Destroy an app: containers, images, repository, routes, records and named volumes',
  help: 'Irreversible. Without --force nothing is touched, and the named volumes of a compose app (its data) are listed; with it each removed volume is named.',
  options: { force: { type: 'boolean' } },
  args: { min: 1, max: 1 },
  async run({ args, flags, io, services }) {
    const app = assertAppName(args[0] as string);
    services.ops.get(app);
    if (!flags.force) {
      const volumes = await services.ops.volumes(app);
      throw new GokuError(
        'GOKU_ERR_USAGE',
        `apps:destroy removes ${app}'s containers, images, repository and routes${volumes.length ? ` and its volumes ${volumes.join(', ')} with their data` : ''} for good; run again with --force`,
      );
    }
    await services.ops.destroy(app, (l) => io.out(`${l}\n`));
    return 0;
  },
};
