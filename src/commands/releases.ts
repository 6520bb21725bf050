import { json, state, table } from '../cli/format.js';
import { assertAppName } from '../core/names.js';
import type { Command } from './types.js';

export const releases: Command = {
  name: 'releases',
  usage: 'releases APP [--json]',
  summary: "List the app's releases, newest first",
  help: 'Every change (push, restart, rollback) is a release vN: its kind, deployment, commit, status, who caused it and when. Failed attempts are listed too.',
  options: { json: { type: 'boolean' } },
  args: { min: 1, max: 1 },
  run({ args, flags, io, services }) {
    const list = services.ops.releases(assertAppName(args[0] as string));
    if (flags.json) {
      io.out(json(list.map(({ log: _log, ...r }) => r)));
      return 0;
    }
    if (list.length === 0) {
      io.out('No releases yet: push the app to deploy it.\n');
      return 0;
    }
    io.out(
      table(
        ['VERSION', 'KIND', 'DEPLOYMENT', 'COMMIT', 'STATUS', 'BY', 'STARTED'],
        list.map((r) => [
          `v${r.version}`,
          r.rollbackOf ? `rollback to v${r.rollbackOf}` : r.kind,
          r.deployment,
          r.commit.slice(0, 7),
          state(r.status, io.color),
          r.by,
          r.startedAt,
        ]),
        io.color,
      ),
    );
    return 0;
  },
};
