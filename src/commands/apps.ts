import { table } from '../cli/format.js';
import type { Command } from './types.js';

export const apps: Command = {
  name: 'apps',
  aliases: ['apps:list'],
  usage: 'apps [--json]',
  summary: 'List apps with their deployments',
  help: 'Lists every app, its default branch and its deployments (one per pushed branch). Also: goku apps:list.',
  options: { json: { type: 'boolean' } },
  args: { min: 0, max: 0 },
  run({ flags, io, services }) {
    const list = services.ops.list();
    if (flags.json) {
      io.out(`${JSON.stringify(list, null, 2)}\n`);
      return 0;
    }
    if (list.length === 0) {
      io.out('No apps yet. Push one: git push goku master\n');
      return 0;
    }
    io.out(
      table(
        ['APP', 'DEFAULT BRANCH', 'DEPLOYMENTS'],
        list.map((a) => [a.name, a.defaultBranch ?? '-', a.deployments.map((d) => d.name).join(', ') || '-']),
      ),
    );
    return 0;
  },
};
