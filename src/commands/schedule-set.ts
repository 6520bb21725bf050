import { assertAppName } from '../core/names.js';
import type { Command } from './types.js';
import { scheduleLine } from './watch.js';

export const scheduleSet: Command = {
  name: 'schedule:set',
  usage: 'schedule:set APP HH:MM-HH:MM|--at TIME [--downtime]',
  summary: 'Let image updates deploy only inside a daily UTC window, or once at a set time',
  help: 'HH:MM-HH:MM (UTC, 24-hour; it may wrap midnight, 23:00-01:00): updates that arrive outside the window wait, shown as pending; at its start the newest one deploys, once. A newer update replaces a waiting one. --at TIME (ISO 8601 with a zone, or Unix seconds): one deploy of the newest eligible image at that time, then the schedule clears. --downtime: the app may not run two copies (it holds a host port or a lock file), so each of its deploys stops the old container before the new one starts (a failure starts the old one again), it runs one instance, and deploys asked for while the schedule does not allow them (deploy, rollback, ps:restart, config changes, watch:pin) are refused unless --force. Without --downtime, goku deploy always deploys now.',
  options: { at: { type: 'string' }, downtime: { type: 'boolean' } },
  args: { min: 1, max: 2 },
  async run({ args, flags, io, services }) {
    const app = assertAppName(args[0] as string);
    const view = await services.watch.setSchedule(app, {
      ...(args[1] !== undefined ? { window: args[1] } : {}),
      ...(typeof flags.at === 'string' ? { at: flags.at } : {}),
      downtime: flags.downtime === true,
    });
    io.out(`${app}: ${scheduleLine(view)}\n`);
    return 0;
  },
};
