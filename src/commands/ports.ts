import { json, table } from '../cli/format.js';
import { assertAppName } from '../core/names.js';
import type { Command } from './types.js';

export const ports: Command = {
  name: 'ports',
  usage: 'ports APP [--json]',
  summary: "List the app's published non-HTTP ports",
  help: 'Host ports that goku forwards (through its nginx) to a port of the default deployment.',
  options: { json: { type: 'boolean' } },
  args: { min: 1, max: 1 },
  run({ args, flags, io, services }) {
    const list = services.ops.ports(assertAppName(args[0] as string));
    if (flags.json) {
      io.out(json(list));
      return 0;
    }
    if (list.length === 0) {
      io.out('No published ports. Add one with: goku ports:add APP HOSTPORT:CONTAINERPORT[/udp]\n');
      return 0;
    }
    io.out(
      table(
        ['HOST', 'CONTAINER', 'PROTO'],
        list.map((p) => [String(p.host), String(p.container), p.proto]),
        io.color,
      ),
    );
    return 0;
  },
};
