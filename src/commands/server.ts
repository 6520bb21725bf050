import type { Command } from './types.js';

/** Listed for help; main.ts starts the daemon itself (it is the one command that is not sent to a daemon). */
export const serverCommand: Command = {
  name: 'server',
  usage: 'server',
  summary: 'Run the goku daemon in the foreground (settings from GOKU_* environment variables)',
  help: 'Logs to stdout; stops cleanly on SIGTERM/SIGINT. Apps and the managed nginx keep running while it is stopped.',
  args: { min: 0, max: 0 },
  local: true,
  run({ io }) {
    io.err('error: run `goku server` directly on the server host, not through another goku\n');
    return 1;
  },
};
