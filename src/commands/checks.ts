import { json } from '../cli/format.js';
import { assertAppName } from '../core/names.js';
import type { Command } from './types.js';

const list = (l: string[]) => (l.length ? l.join(',') : 'none');

/** checks:enable, checks:disable and checks:skip differ only in what they do to the lists. */
function checksCommand(
  action: 'enable' | 'disable' | 'skip',
  summary: string,
  help: string,
  said: string,
): Command {
  return {
    name: `checks:${action}`,
    usage: `checks:${action} APP [TYPE[,TYPE...]]`,
    summary,
    help: `${help} Without TYPEs: every process type. Takes effect at the app's next deploy, restart, scale or config change. As Dokku's.`,
    args: { min: 1, max: 2 },
    async run({ args, io, services }) {
      const app = assertAppName(args[0] as string);
      const r = await services.ops.setChecks(app, action, args[1]);
      io.out(
        `-----> ${said} for ${app} (${args[1] ?? 'all process types'}); disabled: ${list(r.disabled)}, skipped: ${list(r.skipped)}\n`,
      );
      return 0;
    },
  };
}

export const checksEnable = checksCommand(
  'enable',
  'Turn the zero-downtime checks of process types back on',
  'New containers of these types are health-checked again and start beside the old ones.',
  'Checks enabled',
);

export const checksDisable = checksCommand(
  'disable',
  'Deploy process types without checks, stopping the old containers first (downtime)',
  'New containers of these types get no health check, and the old ones are stopped before the new ones start (for apps that may not run two copies; nginx answers 502 meanwhile). A failed start brings the old ones back.',
  'Checks disabled',
);

export const checksSkip = checksCommand(
  'skip',
  'Deploy process types without waiting for their checks',
  'New containers of these types start beside the old ones and take traffic as soon as they run, without a health check.',
  'Checks skipped',
);

export const checksReport: Command = {
  name: 'checks:report',
  usage: 'checks:report APP [--json]',
  summary: "Show which process types' checks are disabled or skipped",
  help: "Dokku's checks report: the disabled list and the skipped list (`_all_`: every type; none: checks on).",
  options: { json: { type: 'boolean' } },
  args: { min: 1, max: 1 },
  async run({ args, flags, io, services }) {
    const app = assertAppName(args[0] as string);
    const r = services.ops.checksReport(app);
    if (flags.json) {
      io.out(json(r));
      return 0;
    }
    io.out(
      `=====> ${app} checks information\n       Checks disabled list: ${list(r.disabled)}\n       Checks skipped list:  ${list(r.skipped)}\n`,
    );
    return 0;
  },
};
