import { table } from '../cli/format.js';
import type { Command } from './types.js';

export const keysList: Command = {
  name: 'keys:list',
  usage: 'keys:list [--json]',
  summary: 'List stored public keys with their type, fingerprint and role',
  help: 'Shows every key that may push, its fingerprint (as ssh-keygen -lf prints it) and whether it is an admin key.',
  options: { json: { type: 'boolean' } },
  args: { min: 0, max: 0 },
  run({ flags, io, services }) {
    const keys = services.keys.list();
    if (flags.json) {
      io.out(`${JSON.stringify(keys, null, 2)}\n`);
      return 0;
    }
    if (keys.length === 0) {
      io.out('No keys yet. Add one with: goku keys:add NAME --admin < ~/.ssh/id_ed25519.pub\n');
      return 0;
    }
    io.out(
      table(
        ['NAME', 'TYPE', 'FINGERPRINT', 'ROLE'],
        keys.map((k) => [k.name, k.type, k.fingerprint, k.role]),
        io.color,
      ),
    );
    return 0;
  },
};
