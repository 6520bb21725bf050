import type { Command } from './types.js';

export const registriesLogin: Command = {
  name: 'registries:login',
  usage: 'registries:login HOST USER < secret',
  summary: 'Store credentials for a private registry (password or token on stdin)',
  help: 'Checks them against the registry first, as docker login does, then stores them encrypted (AES-256-GCM, key in GOKU_HOME/secrets.key). They are used to ask the registry for digests and to pull. HOST as image references name it: registry.example.com, HOST:PORT, docker.io for Docker Hub. Logging in again replaces them.',
  args: { min: 2, max: 2 },
  stdin: true,
  async run({ args, io, services }) {
    const r = await services.registries.login(args[0] as string, args[1] as string, io.stdin);
    io.out(`Logged in to ${r.host} as ${r.username}\n`);
    return 0;
  },
};
