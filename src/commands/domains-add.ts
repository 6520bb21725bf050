import { assertAppName } from '../core/names.js';
import type { Command } from './types.js';

export const domainsAdd: Command = {
  name: 'domains:add',
  usage: 'domains:add APP DOMAIN...',
  summary: "Serve the app's default deployment at more domains",
  help: 'Plain host names (RFC 1123, lowercased); a domain served or claimed by another app is refused, and so are names under GOKU_DOMAIN (goku gives those out itself) and IP addresses. nginx serves them at once.',
  args: { min: 2, max: 100 },
  async run({ args, io, services }) {
    const app = assertAppName(args[0] as string);
    const added = await services.ops.addDomains(app, args.slice(1));
    io.out(
      added.length
        ? `Added ${added.join(', ')} to ${app}\n`
        : `${app} already has ${args.slice(1).join(', ')}\n`,
    );
    return 0;
  },
};
