import { heldLine, type WatchView } from '../app/watch.js';
import { json } from '../cli/format.js';
import { assertAppName } from '../core/names.js';
import type { Command } from './types.js';

export const watch: Command = {
  name: 'watch',
  usage: 'watch APP [--json]',
  summary: 'Show how the registry watcher follows an image app: policy, deployed and newest tags, last poll',
  help: "Policy (semver: the newest version greater than the deployed one; pinned: the app's own tag, redeployed when its digest changes), auto-deploy on or off, the pinned tag and its digest, the deployed tag and digest, the newest eligible version, known tags (versions newest first), the last poll, its error and outcome, an update the schedule holds, and the schedule. The registry is polled every GOKU_WATCH_INTERVAL seconds.",
  options: { json: { type: 'boolean' } },
  args: { min: 1, max: 1 },
  run({ args, flags, io, services }) {
    const v = services.watch.view(assertAppName(args[0] as string));
    io.out(flags.json ? json(v) : watchText(v));
    return 0;
  },
};

export function watchText(v: WatchView): string {
  const short = (d: string | null) => (d ? d.slice(0, 19) : '-');
  const lines = [
    `=== ${v.app} (${v.ref})`,
    `Policy:          ${v.mode === 'semver' ? 'follow the newest version (semver)' : `pinned to ${v.pinnedTag ?? 'its digest'}`}`,
    `Auto-deploy:     ${v.autoDeploy ? 'on' : 'off'}`,
    ...(v.mode === 'pinned' ? [`Pinned digest:   ${short(v.pinnedDigest)}`] : []),
    `Deployed:        ${v.deployedTag ?? '-'} ${short(v.deployedDigest)}`,
    `Newest eligible: ${v.newestEligible ?? '-'}`,
    `Wanted now:      ${v.desiredTag ?? '-'} ${short(v.desiredDigest)}`,
    `Known tags:      ${v.tags.join(', ') || '-'}`,
    `Last poll:       ${v.lastPoll ?? 'not yet'}${v.lastError ? ` (error: ${v.lastError})` : ''}`,
    `Last outcome:    ${v.lastOutcome}`,
    `Next poll:       ${v.nextPoll ?? 'within GOKU_WATCH_INTERVAL'}`,
    `Pending:         ${heldLine(v.held)}`,
    `Schedule:        ${scheduleLine(v.schedule)}`,
  ];
  return `${lines.join('\n')}\n`;
}

export function scheduleLine(s: WatchView['schedule']): string {
  if (!s) return 'none (updates deploy at once)';
  const what = s.window ? `daily window ${s.window}` : `once at ${s.at}`;
  const stops = s.downtime ? '; deploys stop the old container first (--downtime)' : '';
  return `${what}; ${s.nextDeploy ? `updates wait until ${s.nextDeploy}` : 'updates deploy now'}${stops}`;
}
