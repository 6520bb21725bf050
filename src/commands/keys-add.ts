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
    const key = await services.keys.add(name, io.stdin, flags.admin === true);
    io.out(`Added ${key.role} key ${name} (${key.type} ${key.fingerprint})\n`);
    return 0;
  },
};
