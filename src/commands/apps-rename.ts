import { assertAppName } from '../core/names.js';
import type { Command } from './types.js';

export const appsRename: Command = {
  name: 'apps:rename',
  usage: 'apps:rename APP NEW',
  summary: 'Rename an app: its record, repository, images, containers and domains move to NEW',
  help: "As Dokku's apps:rename. Config, releases, domains added with domains:add, CNAME domains, ports and scale move with it; its default domains become NEW.GOKU_DOMAIN (the old ones stop answering). Each deployment gets new containers under the new name through the zero-downtime switch, as a release of kind rename: domains the app keeps never stop answering. Push to ssh://git@HOST/NEW afterwards. Refused when NEW exists or is a deployment's name, or when the app may not run two copies (schedule --downtime); a failure puts everything back.",
  args: { min: 2, max: 2 },
  async run({ args, io, caller, services }) {
    const app = assertAppName(args[0] as string);
    const to = assertAppName(args[1] as string);
    await services.ops.rename(app, to, caller.keyName ?? 'cli', (l) => io.out(`${l}\n`));
    return 0;
  },
};
