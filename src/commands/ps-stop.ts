import { assertAppName } from '../core/names.js';
import type { Command } from './types.js';

export const psStop: Command = {
  name: 'ps:stop',
  usage: 'ps:stop APP',
  summary: "Stop the app's containers (nginx answers 503) until ps:start or a deploy",
  help: 'Every container of every deployment gets SIGTERM (SIGKILL after GOKU_STOP_GRACE) and stays stopped, also across goku and Docker restarts. The containers, routes and records are kept: ps:start starts the same containers again; a deploy starts the app too.',
  args: { min: 1, max: 1 },
  async run({ args, io, services }) {
    const app = assertAppName(args[0] as string);
    const n = await services.ops.stop(app, (l) => io.out(`${l}\n`));
    io.out(`=====> ${app} stopped${n === 0 ? ' (nothing was running)' : ''}\n`);
    return 0;
  },
};
