import { assertAppName } from '../core/names.js';
import { GokuError } from '../errors.js';
import type { Command } from './types.js';

export const logs: Command = {
  name: 'logs',
  usage: 'logs APP [-t] [-n LINES] [-p TYPE]',
  summary: "Show the app's container logs; -t follows them",
  help: 'Lines of every running container of the app, prefixed with the container name when there are several. -n sets how many past lines (default 100); -t keeps streaming until you stop it; -p TYPE shows only that process type (web, worker, ...).',
  options: {
    tail: { type: 'boolean', short: 't' },
    num: { type: 'string', short: 'n' },
    process: { type: 'string', short: 'p' },
  },
  args: { min: 1, max: 1 },
  async run({ args, flags, io, services }) {
    const app = assertAppName(args[0] as string);
    const raw = flags.num === undefined ? '100' : String(flags.num);
    if (!/^\d{1,6}$/.test(raw)) {
      throw new GokuError(
        'GOKU_ERR_USAGE',
        `-n takes a number of lines (0 to 999999), not ${JSON.stringify(raw)}`,
      );
    }
    await services.ops.logs(
      app,
      {
        tail: Number(raw),
        follow: flags.tail === true,
        signal: io.signal,
        ...(typeof flags.process === 'string' ? { process: flags.process } : {}),
      },
      (line) => io.out(`${line}\n`),
    );
    return 0;
  },
};
