import { assertAppName } from '../core/names.js';
import type { Command } from './types.js';

export const certsRemove: Command = {
  name: 'certs:remove',
  usage: 'certs:remove APP',
  summary: "Remove the app's own certificate (goku's self-signed default answers HTTPS then)",
  help: "The certificate and its key are deleted; from the next handshake on, the app's domains get goku's self-signed default certificate.",
  args: { min: 1, max: 1 },
  async run({ args, io, services }) {
    const app = assertAppName(args[0] as string);
    await services.certs.remove(app);
    io.out(`Removed the certificate of ${app}\n`);
    return 0;
  },
};
