import { assertConfigKey } from '../core/config.js';
import { assertAppName } from '../core/names.js';
import type { Command } from './types.js';

export const configUnset: Command = {
  name: 'config:unset',
  usage: 'config:unset APP KEY... [--no-restart] [--force]',
  summary: 'Remove env vars; the app restarts without them (a new release)',
  help: 'Like config:set: every deployment restarts through the zero-downtime switch unless --no-restart. --force: do it now although the app may not run two copies (schedule:set --downtime) and its schedule does not allow deploys now.',
  options: { 'no-restart': { type: 'boolean' }, force: { type: 'boolean' } },
  args: { min: 2, max: 1000 },
  async run({ args, flags, io, caller, services }) {
    const app = assertAppName(args[0] as string);
    const unset = args.slice(1).map(assertConfigKey);
    services.ops.get(app);
    await services.ops.setConfig(
      app,
      { unset },
      flags['no-restart'] !== true,
      caller.keyName ?? 'cli',
      (l) => io.out(`${l}\n`),
      flags.force === true,
    );
    return 0;
  },
};
