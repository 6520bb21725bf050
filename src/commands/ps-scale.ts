import { json, table } from '../cli/format.js';
import { assertAppName } from '../core/names.js';
import type { Command } from './types.js';

export const psScale: Command = {
  name: 'ps:scale',
  usage: 'ps:scale APP [N | TYPE=N...] [--force] [--json]',
  summary: 'Show or set how many instances of each process type run (web=2 worker=1; N alone is web)',
  help: "Without counts: each process type of the default deployment (its Procfile's, or web alone) with its instance count. With them: the default deployment runs again with those counts through the zero-downtime switch, as a release. Web instances are named APP, APP.2 ... behind one nginx upstream (web=0 stops serving: nginx answers 503); another type's are APP-TYPE, APP-TYPE.2 ... (unrouted). As Dokku: web runs 1 and every other type 0 until scaled; when app.json's formation gives quantities they set the counts and ps:scale is refused. At most GOKU_MAX_SCALE each and in all. A scale still waiting for another deploy of the app is replaced by a newer one. --force: do it now although the app may not run two copies (schedule:set --downtime) and its schedule does not allow deploys now.",
  options: { force: { type: 'boolean' }, json: { type: 'boolean' } },
  args: { min: 1, max: 31 },
  async run({ args, flags, io, caller, services }) {
    const app = assertAppName(args[0] as string);
    if (args.length === 1) {
      const f = services.ops.formation(app);
      if (flags.json) {
        io.out(json(f.types.map((t) => ({ process_type: t.type, quantity: t.quantity }))));
        return 0;
      }
      io.out(
        table(
          ['TYPE', 'QUANTITY', 'COMMAND'],
          f.types.map((t) => [t.type, String(t.quantity), t.command ?? "(the image's CMD)"]),
          io.color,
        ),
      );
      if (f.appJson) io.out("Set by app.json's formation: change it there and push.\n");
      return 0;
    }
    await services.ops.scale(
      app,
      args.slice(1),
      caller.keyName ?? 'cli',
      (l) => io.out(`${l}\n`),
      flags.force === true,
    );
    return 0;
  },
};
