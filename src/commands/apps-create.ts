import { assertAppName } from '../core/names.js';
import type { Command } from './types.js';

export const appsCreate: Command = {
  name: 'apps:create',
  usage: 'apps:create APP',
  summary: 'Create an app (a first git push creates it too)',
  help: 'Creates the app and its git repository, so that its remote exists before the first push.',
  args: { min: 1, max: 1 },
  async run({ args, io, services }) {
    const app = assertAppName(args[0] as string);
    await services.ops.create(app);
    io.out(
      `Created ${app}. Deploy it with: git push ssh://git@HOST:${services.settings.GOKU_SSH_PORT}/${app} master\n`,
    );
    return 0;
  },
};
