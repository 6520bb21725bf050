import { json } from '../cli/format.js';
import { assertAppName } from '../core/names.js';
import type { Command } from './types.js';

export const domains: Command = {
  name: 'domains',
  usage: 'domains APP [--json]',
  summary: 'List the domains the app is served at',
  help: 'Per deployment: DEPLOYMENT.GOKU_DOMAIN, APP-BRANCH.GOKU_DOMAIN for the default one, CNAME file lines, and the domains added with domains:add.',
  options: { json: { type: 'boolean' } },
  args: { min: 1, max: 1 },
  run({ args, flags, io, services }) {
    const d = services.ops.domains(assertAppName(args[0] as string));
    if (flags.json) {
      io.out(json(d));
      return 0;
    }
    const lines = [`=== ${args[0]} added domains`, ...(d.extra.length ? d.extra : ['(none)'])];
    for (const [dep, list] of Object.entries(d.deployments)) lines.push('', `=== ${dep}`, ...list);
    io.out(`${lines.join('\n')}\n`);
    return 0;
  },
};
