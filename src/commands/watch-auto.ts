import { pollSummary } from '../app/watch.js';
import { assertAppName } from '../core/names.js';
import { GokuError } from '../errors.js';
import type { Command } from './types.js';

export const watchAuto: Command = {
  name: 'watch:auto',
  usage: 'watch:auto APP on|off',
  summary: 'Turn auto-deploy of registry updates (watcher and webhooks) on or off',
  help: 'Off: the watcher still polls and goku watch shows what is newer, but neither it nor a webhook deploys anything; goku deploy still does. On: polls now, and an update published while it was off deploys (what should run is compared with what runs, not the moment of a change).',
  args: { min: 2, max: 2 },
  async run({ args, io, services }) {
    const app = assertAppName(args[0] as string);
    const v = args[1];
    if (v !== 'on' && v !== 'off') throw new GokuError('GOKU_ERR_USAGE', 'usage: goku watch:auto APP on|off');
    const o = await services.watch.auto(app, v === 'on');
    io.out(`auto-deploy of ${app} is ${v}${o ? `; ${pollSummary(o)}` : ''}\n`);
    return 0;
  },
};
