import { json } from '../cli/format.js';
import { assertAppName } from '../core/names.js';
import type { Command } from './types.js';

export const psReport: Command = {
  name: 'ps:report',
  usage: 'ps:report APP [--json]',
  summary: "Report the app's processes, as Dokku's ps:report does",
  help: "Whether the app is deployed and running, whether it comes back at a restart (not after ps:stop), its restart policy, its scale per process type and each container's state (by deployment, process type and instance). --json for the same as an object.",
  options: { json: { type: 'boolean' } },
  args: { min: 1, max: 1 },
  async run({ args, flags, io, services }) {
    const app = assertAppName(args[0] as string);
    const r = await services.ops.psReport(app);
    if (flags.json) {
      io.out(json(r));
      return 0;
    }
    const rows: [string, string][] = [
      ['Deployed', String(r.deployed)],
      ['Processes', String(r.processes)],
      ['Running', r.running],
      ['Restore', String(r.restore)],
      ['Restart policy', r.restartPolicy],
      [
        'Scale',
        Object.entries(r.formation)
          .map(([t, n]) => `${t}=${n}`)
          .join(' '),
      ],
      ...r.status.map((s): [string, string] => [
        `Status ${s.deployment} ${s.process} ${s.instance}`,
        `${s.state} (CID: ${s.id})`,
      ]),
    ];
    const width = Math.max(...rows.map(([k]) => k.length)) + 1;
    io.out(
      `=====> ${app} ps information\n${rows.map(([k, v]) => `       ${`${k}:`.padEnd(width)} ${v}\n`).join('')}`,
    );
    return 0;
  },
};
