import { parseAssignments } from '../core/config.js';
import { assertAppName } from '../core/names.js';
import type { Command } from './types.js';

export const configSet: Command = {
  name: 'config:set',
  usage: 'config:set APP KEY=VALUE... [--no-restart] [--encoded] [--force]',
  summary: 'Set env vars; the app restarts with them without downtime (a new release)',
  help: 'Values keep spaces, =, quotes, newlines and UTF-8 exactly (quote them for your shell). Every deployment of the app restarts through the zero-downtime switch; if the new config fails its health check nothing changes. --no-restart only stores it for the next deploy. --encoded: each VALUE is base64 (as in Dokku), decoded before it is stored. --force: do it now although the app may not run two copies (schedule:set --downtime) and its schedule does not allow deploys now.',
  options: { 'no-restart': { type: 'boolean' }, encoded: { type: 'boolean' }, force: { type: 'boolean' } },
  args: { min: 2, max: 1000 },
  async run({ args, flags, io, caller, services }) {
    const app = assertAppName(args[0] as string);
    const set = parseAssignments(args.slice(1), flags.encoded === true);
    services.ops.get(app);
    await services.ops.setConfig(
      app,
      { set },
      flags['no-restart'] !== true,
      caller.keyName ?? 'cli',
      (l) => io.out(`${l}\n`),
      flags.force === true,
    );
    return 0;
  },
};
