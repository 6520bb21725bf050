import { assertAppName } from '../core/names.js';
import type { Command } from './types.js';

export const configKeys: Command = {
  name: 'config:keys',
  usage: 'config:keys APP',
  summary: "List the names of the app's env vars",
  help: 'One key per line, sorted; no values (safe to paste).',
  args: { min: 1, max: 1 },
  run({ args, io, services }) {
    const keys = Object.keys(services.ops.config(assertAppName(args[0] as string))).sort();
    io.out(keys.map((k) => `${k}\n`).join(''));
    return 0;
  },
};
