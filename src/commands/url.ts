import { assertAppName } from '../core/names.js';
import type { Command } from './types.js';

export const url: Command = {
  name: 'url',
  usage: 'url APP',
  summary: "Print the URL the app's default deployment is served at",
  help: 'The first domain of the default deployment, through goku’s proxy port. An app that is not deployed, or runs with no HTTP port, has no URL (an error says which).',
  args: { min: 1, max: 1 },
  run({ args, io, services }) {
    io.out(`${services.ops.url(assertAppName(args[0] as string))}\n`);
    return 0;
  },
};
