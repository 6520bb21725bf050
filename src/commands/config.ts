import { json } from '../cli/format.js';
import { assertAppName } from '../core/names.js';
import type { Command } from './types.js';

export const config: Command = {
  name: 'config',
  aliases: ['config:show'],
  usage: 'config APP [--json]',
  summary: "Show the app's env vars",
  help: 'Env vars of every deployment of the app, one KEY=VALUE per line (values as stored; --json for exact values with newlines). Also: goku config:show.',
  options: { json: { type: 'boolean' } },
  args: { min: 1, max: 1 },
  run({ args, flags, io, services }) {
    const env = services.ops.config(assertAppName(args[0] as string));
    if (flags.json) {
      io.out(json(env));
      return 0;
    }
    const keys = Object.keys(env).sort();
    if (keys.length === 0) {
      io.out(`No config vars. Set one with: goku config:set ${args[0]} KEY=VALUE\n`);
      return 0;
    }
    io.out(keys.map((k) => `${k}=${env[k]}\n`).join(''));
    return 0;
  },
};
