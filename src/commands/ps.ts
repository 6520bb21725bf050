import { json, state, table } from '../cli/format.js';
import { assertAppName } from '../core/names.js';
import type { Command } from './types.js';

export const ps: Command = {
  name: 'ps',
  usage: 'ps APP [--json]',
  summary: "List the app's containers with their deployment, process type, state and release",
  help: "Every container of the app, across its deployments (one per pushed branch) and process types (web, and the Procfile's others).",
  options: { json: { type: 'boolean' } },
  args: { min: 1, max: 1 },
  async run({ args, flags, io, services }) {
    const list = await services.ops.ps(assertAppName(args[0] as string));
    if (flags.json) {
      io.out(json(list));
      return 0;
    }
    if (list.length === 0) {
      const app = args[0] as string;
      io.out(
        services.ops.scaleOf(app) === 0
          ? `${app} is scaled to zero: no containers (goku ps:scale ${app} 1 starts it again).\n`
          : 'No containers: push the app to deploy it.\n',
      );
      return 0;
    }
    io.out(
      table(
        ['NAME', 'DEPLOYMENT', 'TYPE', 'STATE', 'STATUS', 'RELEASE'],
        list.map((i) => [i.name, i.deployment, i.process, state(i.state, io.color), i.status, i.release]),
        io.color,
      ),
    );
    return 0;
  },
};
