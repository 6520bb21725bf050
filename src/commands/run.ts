import { assertAppName } from '../core/names.js';
import { GokuError } from '../errors.js';
import type { AttachedIO } from '../runtime/types.js';
import type { Command, CommandIO } from './types.js';

/** The caller's terminal as a container session sees it (input, output, size, leaving). */
export function attachedIO(io: CommandIO): AttachedIO {
  const t = io.terminal;
  if (!t) {
    throw new GokuError(
      'GOKU_ERR_USAGE',
      'this command needs a terminal session (goku on the server, or ssh)',
    );
  }
  return {
    input: t.input,
    out: (d) => t.write(d),
    err: (d) => t.writeErr(d),
    tty: t.tty,
    onResize: (cb) => t.onResize(cb),
    signal: io.signal,
  };
}

export const run: Command = {
  name: 'run',
  usage: 'run [--detach] APP COMMAND...',
  summary: "Run a one-off command in a new container of the app's current release",
  help: "A container of the default deployment's current image with the app's config (and PORT) runs COMMAND (after the image's ENTRYPOINT; a single word naming a Procfile process type runs that type's command; a compose app's web service, or its first: its image, env, mounts and network, so the command reaches the other services by name), attached to your terminal: over ssh with -t it is interactive (a tty, resizes, Ctrl-C), and its exit status is goku's. It is removed when it exits, or when you disconnect. --detach leaves it running on its own and prints its name (goku logs APP -p run shows its output; it is removed when it exits). Options go before APP; everything after APP is the command. Admin keys only.",
  options: { detach: { type: 'boolean', short: 'd' } },
  passThrough: true,
  interactive: true,
  args: { min: 2, max: 1000 },
  async run({ args, flags, io, services }) {
    const app = assertAppName(args[0] as string);
    const argv = args.slice(1);
    if (flags.detach) {
      const { name } = await services.ops.run(app, argv, null);
      io.out(`=====> ${name} runs detached; goku logs ${app} -p run shows its output\n`);
      return 0;
    }
    const { exitCode } = await services.ops.run(app, argv, attachedIO(io));
    return exitCode ?? 1;
  },
};
