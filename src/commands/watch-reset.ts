import { pollSummary } from '../app/watch.js';
import { assertAppName } from '../core/names.js';
import type { Command } from './types.js';

export const watchReset: Command = {
  name: 'watch:reset',
  usage: 'watch:reset APP',
  summary: 'Follow the newest version again (semver): poll now and deploy it when it is newer',
  help: 'Clears the pinned tag: the app follows the newest tag of its repository that reads as a version (1.2.3, v1.2.3) and is greater than the deployed one; pre-releases only while it runs a pre-release. Polls the registry now; with auto-deploy on and the schedule allowing it, a newer version deploys before the command returns.',
  args: { min: 1, max: 1 },
  async run({ args, io, services }) {
    const app = assertAppName(args[0] as string);
    const o = await services.watch.reset(app);
    io.out(`${app} follows the newest version; ${pollSummary(o)}\n`);
    return 0;
  },
};
