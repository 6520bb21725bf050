import { assertAppName } from '../core/names.js';
import type { Command } from './types.js';

export const psStart: Command = {
  name: 'ps:start',
  usage: 'ps:start APP',
  summary: "Start the app's stopped containers again",
  help: 'Starts the containers ps:stop stopped (the same ones, with their config) and routes to them; a running app is left as it is.',
  args: { min: 1, max: 1 },
  async run({ args, io, services }) {
    const app = assertAppName(args[0] as string);
    const n = await services.ops.start(app, (l) => io.out(`${l}\n`));
    io.out(`=====> ${app} ${n === 0 ? 'was already running' : 'started'}\n`);
    return 0;
  },
};
