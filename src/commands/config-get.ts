import { assertConfigKey } from '../core/config.js';
import { assertAppName } from '../core/names.js';
import { GokuError } from '../errors.js';
import type { Command } from './types.js';

export const configGet: Command = {
  name: 'config:get',
  usage: 'config:get APP KEY',
  summary: 'Print one env var of the app',
  help: 'Prints the value exactly as stored, followed by a newline.',
  args: { min: 2, max: 2 },
  run({ args, io, services }) {
    const app = assertAppName(args[0] as string);
    const key = assertConfigKey(args[1] as string);
    const env = services.ops.config(app);
    if (!(key in env))
      throw new GokuError('GOKU_ERR_INVALID_CONFIG', `${key} is not set for ${app}; see goku config ${app}`);
    io.out(`${env[key]}\n`);
    return 0;
  },
};
