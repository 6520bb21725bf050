import { json, table } from '../cli/format.js';
import { assertAppName } from '../core/names.js';
import type { Command } from './types.js';

export const proxyPorts: Command = {
  name: 'proxy:ports',
  usage: 'proxy:ports APP [--json]',
  summary: "List the app's HTTP port mappings (SCHEME HOST CONTAINER), as Dokku's",
  help: "The default mapping (http, GOKU_PROXY_PORT, the web process's port) first, then the extra HTTP ports added with proxy:ports-add. Plain TCP and UDP ports are ports'.",
  options: { json: { type: 'boolean' } },
  args: { min: 1, max: 1 },
  run({ args, flags, io, services }) {
    const list = services.ops.proxyPorts(assertAppName(args[0] as string));
    if (flags.json) {
      io.out(json(list));
      return 0;
    }
    io.out(
      table(
        ['SCHEME', 'HOST PORT', 'CONTAINER PORT'],
        list.map((p) => [
          p.scheme,
          String(p.host),
          p.container === null ? '(not routed)' : String(p.container),
        ]),
        io.color,
      ),
    );
    return 0;
  },
};

export const proxyPortsAdd: Command = {
  name: 'proxy:ports-add',
  usage: 'proxy:ports-add APP http:HOSTPORT:CONTAINERPORT...',
  summary: "Serve the app's domains on another HTTP port too, sent to a container port",
  help: "Dokku's proxy:ports-add: requests for the default deployment's domains on host port HOSTPORT go to CONTAINERPORT of its web instances, through every deploy. Several apps may share an extra port (by host name); it must not be goku's own, the default proxy port (change PORT for that), a ports:add port, or taken by another program. The change is confirmed with a request through the new port. Only http (https comes with TLS).",
  args: { min: 2, max: 20 },
  async run({ args, io, services }) {
    const app = assertAppName(args[0] as string);
    for (const spec of args.slice(1)) {
      const m = await services.ops.addProxyPort(app, spec);
      io.out(`-----> ${app} is served on port ${m.host} too (http:${m.host}:${m.container})\n`);
    }
    return 0;
  },
};

export const proxyPortsRemove: Command = {
  name: 'proxy:ports-remove',
  usage: 'proxy:ports-remove APP http:HOSTPORT:CONTAINERPORT|HOSTPORT...',
  summary: 'Stop serving the app on an extra HTTP port',
  help: 'Removes mappings added with proxy:ports-add (named as SCHEME:HOST:CONTAINER or by host port). The default mapping stays.',
  args: { min: 2, max: 20 },
  async run({ args, io, services }) {
    const app = assertAppName(args[0] as string);
    for (const spec of args.slice(1)) {
      const gone = await services.ops.removeProxyPort(app, spec);
      for (const m of gone) io.out(`-----> ${app} is no longer served on port ${m.host}\n`);
    }
    return 0;
  },
};
