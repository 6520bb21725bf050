import { assertAppName } from '../core/names.js';
import type { Command } from './types.js';

export const scheduleClear: Command = {
  name: 'schedule:clear',
  usage: 'schedule:clear APP',
  summary: "Remove an image app's schedule: updates deploy at once again",
  help: 'An update the schedule was holding deploys within a second.',
  args: { min: 1, max: 1 },
  async run({ args, io, services }) {
    const app = assertAppName(args[0] as string);
    await services.watch.clearSchedule(app);
    io.out(`${app}: no schedule; updates deploy at once\n`);
    return 0;
  },
};
