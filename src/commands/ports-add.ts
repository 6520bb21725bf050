import { assertAppName } from '../core/names.js';
import type { Command } from './types.js';

export const portsAdd: Command = {
  name: 'ports:add',
  usage: 'ports:add APP HOSTPORT:CONTAINERPORT[/udp]',
  summary: 'Publish a non-HTTP port of the default deployment on the host',
  help: 'goku forwards HOSTPORT on GOKU_PROXY_HOST to CONTAINERPORT through its managed nginx (stream module), so the port keeps answering across deploys. Refused if the host port is taken, and for UDP with GOKU_SCHEDULER=swarm.',
  args: { min: 2, max: 2 },
  async run({ args, io, services }) {
    const app = assertAppName(args[0] as string);
    const m = await services.ops.addPort(app, args[1] as string);
    io.out(`Published ${m.host}/${m.proto} -> ${app}:${m.container}\n`);
    return 0;
  },
};
