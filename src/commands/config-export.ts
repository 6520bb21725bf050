import { assertAppName } from '../core/names.js';
import type { Command } from './types.js';

export const configExport: Command = {
  name: 'config:export',
  usage: 'config:export APP',
  summary: "Print the app's env vars as shell export lines",
  help: 'One `export KEY=VALUE` line per var, each value quoted for a POSIX shell (newlines and quotes included), so `eval "$(goku config:export APP)"` sets exactly what the app gets.',
  args: { min: 1, max: 1 },
  run({ args, io, services }) {
    const env = services.ops.config(assertAppName(args[0] as string));
    io.out(
      Object.keys(env)
        .sort()
        .map((k) => `export ${k}=${shellValue(env[k] as string)}\n`)
        .join(''),
    );
    return 0;
  },
};

/** A value a POSIX shell reads back exactly: in single quotes (nothing expands), each ' as '\''. */
function shellValue(v: string): string {
  return `'${v.replaceAll("'", `'\\''`)}'`;
}
