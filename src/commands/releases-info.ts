import { json } from '../cli/format.js';
import { assertAppName } from '../core/names.js';
import { parseVersion } from './release-version.js';
import type { Command } from './types.js';

export const releasesInfo: Command = {
  name: 'releases:info',
  usage: 'releases:info APP vN [--json]',
  summary: 'Show one release with its build/deploy log',
  help: 'Kind, commit, image id, config keys, who caused it, start and end, status (with the reason when it failed) and the output it produced.',
  options: { json: { type: 'boolean' } },
  args: { min: 2, max: 2 },
  run({ args, flags, io, services }) {
    const r = services.ops.release(assertAppName(args[0] as string), parseVersion(args[1] as string));
    if (flags.json) {
      io.out(json(r));
      return 0;
    }
    io.out(
      [
        `=== ${args[0]} v${r.version}`,
        `Kind:        ${r.rollbackOf ? `rollback to v${r.rollbackOf}` : r.kind}`,
        `Deployment:  ${r.deployment} (${r.branch || 'image'})`,
        r.source ? `Source:      ${r.source}` : `Commit:      ${r.commit}`,
        `Image:       ${r.image || '-'} ${r.imageId || ''}`.trimEnd(),
        `Digest:      ${r.digest ? `${r.digest}${r.registry ? ` (pushed to ${r.registry})` : ''}` : '- (built here)'}`,
        // Values stay out of listings; the keys say which config it ran with.
        `Config keys: ${Object.keys(r.config).sort().join(', ') || '-'}`,
        `By:          ${r.by}`,
        `Started:     ${r.startedAt}`,
        `Finished:    ${r.finishedAt ?? '-'}`,
        `Status:      ${r.status}${r.reason ? `: ${r.reason}` : ''}`,
        '',
        '--- log',
        r.log,
        '',
      ].join('\n'),
    );
    return 0;
  },
};
