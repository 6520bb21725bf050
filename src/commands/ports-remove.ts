import { assertAppName } from '../core/names.js';
import type { Command } from './types.js';

export const portsRemove: Command = {
  name: 'ports:remove',
  usage: 'ports:remove APP HOSTPORT',
  summary: 'Stop publishing a host port',
  help: 'Removes the mapping of HOSTPORT (tcp and udp) and closes the port.',
  args: { min: 2, max: 2 },
  async run({ args, io, services }) {
    const app = assertAppName(args[0] as string);
    const gone = await services.ops.removePort(app, args[1] as string);
    io.out(`Removed ${gone.map((m) => `${m.host}/${m.proto}`).join(', ')} from ${app}\n`);
    return 0;
  },
};
