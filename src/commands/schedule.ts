import { heldLine } from '../app/watch.js';
import { json } from '../cli/format.js';
import { assertAppName } from '../core/names.js';
import type { Command } from './types.js';
import { scheduleLine } from './watch.js';

export const schedule: Command = {
  name: 'schedule',
  usage: 'schedule APP [--json]',
  summary: "Show an image app's deploy schedule and the update it holds",
  help: 'The daily window (UTC) or the set time when image updates (webhooks, the registry watcher) may deploy, when the next one may, and the update waiting for it. goku deploy always deploys now.',
  options: { json: { type: 'boolean' } },
  args: { min: 1, max: 1 },
  run({ args, flags, io, services }) {
    const v = services.watch.view(assertAppName(args[0] as string));
    if (flags.json) {
      io.out(json({ app: v.app, schedule: v.schedule, pending: v.held }));
      return 0;
    }
    io.out(`Schedule: ${scheduleLine(v.schedule)}\nPending:  ${heldLine(v.held)}\n`);
    return 0;
  },
};
