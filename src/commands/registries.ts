import { json, table } from '../cli/format.js';
import type { Command } from './types.js';

export const registries: Command = {
  name: 'registries',
  usage: 'registries [--json]',
  summary: 'List the registries goku has credentials for (never the secrets)',
  help: 'Shows each registry host with stored credentials, the user name and when they were added. The passwords and tokens are stored encrypted and never shown.',
  options: { json: { type: 'boolean' } },
  args: { min: 0, max: 0 },
  run({ flags, io, services }) {
    const list = services.registries.list();
    if (flags.json) {
      io.out(json(list));
      return 0;
    }
    if (list.length === 0) {
      io.out('No registry credentials. Add some with: goku registries:login HOST USER < secret\n');
      return 0;
    }
    io.out(
      table(
        ['HOST', 'USER', 'ADDED'],
        list.map((r) => [r.host, r.username, r.addedAt]),
        io.color,
      ),
    );
    return 0;
  },
};
