import { assertAppName } from '../core/names.js';
import { attachedIO } from './run.js';
import type { Command } from './types.js';

export const enter: Command = {
  name: 'enter',
  usage: 'enter APP [INSTANCE] [COMMAND...]',
  summary: 'Run a command (default /bin/sh) inside a running container of the app',
  help: "docker exec into a running container, attached to your terminal like run (ssh -t for a tty). INSTANCE is a container's name (APP, APP.2, APP-worker) or a process type (its first container); without it, the default deployment's first web container. Its exit status is goku's. Admin keys only.",
  passThrough: true,
  interactive: true,
  args: { min: 1, max: 1000 },
  async run({ args, io, services }) {
    const app = assertAppName(args[0] as string);
    const code = await services.ops.enter(app, args.slice(1), attachedIO(io));
    return code ?? 1;
  },
};
