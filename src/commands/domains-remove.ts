import { assertAppName } from '../core/names.js';
import type { Command } from './types.js';

export const domainsRemove: Command = {
  name: 'domains:remove',
  usage: 'domains:remove APP DOMAIN...',
  summary: 'Stop serving the app at domains added with domains:add',
  help: 'Default and CNAME domains come from the deployment and cannot be removed here.',
  args: { min: 2, max: 100 },
  async run({ args, io, services }) {
    const app = assertAppName(args[0] as string);
    const gone = await services.ops.removeDomains(app, args.slice(1));
    io.out(`Removed ${gone.join(', ')} from ${app}\n`);
    return 0;
  },
};
