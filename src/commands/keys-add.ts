import { GokuError } from '../errors.js';
import { KEY_NAME, parsePublicKey } from '../ssh/keys.js';
import type { Command } from './types.js';

export const keysAdd: Command = {
  name: 'keys:add',
  usage: 'keys:add NAME [--admin] < key.pub',
  summary: 'Store an OpenSSH public key (read from stdin) that may push; --admin also runs commands',
  help: 'Reads one OpenSSH public key line on stdin (a private key is refused, saying so). Deploy keys may git push and fetch; admin keys may also run every goku command over ssh.',
  options: { admin: { type: 'boolean' } },
  args: { min: 1, max: 1 },
  stdin: true,
  async run({ args, flags, io, services }) {
    const name = args[0] as string;
    if (!KEY_NAME.test(name)) {
      throw new GokuError(
        'GOKU_ERR_INVALID_KEY_NAME',
        `invalid key name ${JSON.stringify(name.slice(0, 80))}: use letters, digits, '.', '_', '@', '-' (at most 64)`,
      );
    }
    const key = parsePublicKey(io.stdin);
    const admin = flags.admin === true;
    await services.store.update((s) => {
      if (s.keys.some((k) => k.name === name)) {
        throw new GokuError(
          'GOKU_ERR_KEY_EXISTS',
          `a key named ${name} already exists; remove it first with keys:remove ${name}`,
        );
      }
      const same = s.keys.find((k) => k.blob === key.blob);
      if (same) throw new GokuError('GOKU_ERR_KEY_EXISTS', `this key is already stored as ${same.name}`);
      s.keys.push({ name, ...key, admin, addedAt: new Date().toISOString() });
    });
    io.out(`Added ${admin ? 'admin' : 'deploy'} key ${name} (${key.type} ${key.fingerprint})\n`);
    return 0;
  },
};
