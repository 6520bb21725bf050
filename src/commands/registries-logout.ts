import type { Command } from './types.js';

export const registriesLogout: Command = {
  name: 'registries:logout',
  usage: 'registries:logout HOST',
  summary: "Forget a registry's credentials",
  help: 'Removes the stored credentials of HOST; pulls from it are anonymous again.',
  args: { min: 1, max: 1 },
  async run({ args, io, services }) {
    await services.registries.logout(args[0] as string);
    io.out(`Logged out of ${args[0]}\n`);
    return 0;
  },
};
