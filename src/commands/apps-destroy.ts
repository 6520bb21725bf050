import { assertAppName } from '../core/names.js';
import { GokuError } from '../errors.js';
import type { Command } from './types.js';

export const appsDestroy: Command = {
  name: 'apps:destroy',
  usage: 'apps:destroy APP --force',
  summary: 'Destroy an app: containers, images, repository, routes and records',
  help: 'Irreversible. Without --force nothing is touched.',
  options: { force: { type: 'boolean' } },
  args: { min: 1, max: 1 },
  async run({ args, flags, io, services }) {
    const app = assertAppName(args[0] as string);
    services.ops.get(app);
    if (!flags.force) {
      throw new GokuError(
        'GOKU_ERR_USAGE',
        `apps:destroy removes ${app}'s containers, images, repository and routes for good; run again with --force`,
      );
    }
    await services.ops.destroy(app, (l) => io.out(`${l}\n`));
    return 0;
  },
};
