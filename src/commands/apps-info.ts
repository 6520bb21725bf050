import { heldLine } from '../app/watch.js';
import { json } from '../cli/format.js';
import { assertAppName } from '../core/names.js';
import type { Command } from './types.js';

export const appsInfo: Command = {
  name: 'apps:info',
  usage: 'apps:info APP [--json]',
  summary: 'Show an app: its source (git or image), deployments, domains, instances, release, dates',
  help: "One block per deployment (one per pushed branch) with its release, image, port, domains and running instances; a compose app's also lists each service (containers running, image, port and domains) and its named volumes.",
  options: { json: { type: 'boolean' } },
  args: { min: 1, max: 1 },
  async run({ args, flags, io, services }) {
    const info = await services.ops.info(assertAppName(args[0] as string));
    if (flags.json) {
      io.out(json(info));
      return 0;
    }
    const img = info.image;
    const lines = [
      `=== ${info.name}`,
      ...(img
        ? [
            `Source:         image ${img.ref}`,
            `Digest:         ${img.digest ?? 'none deployed yet'}`,
            `Pulled:         ${img.pulledAt ?? '-'}`,
            ...(img.held ? [`Pending:        ${heldLine(img.held)}`] : []),
          ]
        : [`Source:         git`, `Default branch: ${info.defaultBranch ?? '-'}`]),
      `Created:        ${info.createdAt}`,
      `Updated:        ${info.updatedAt}`,
      `Extra domains:  ${info.domains.join(', ') || '-'}`,
    ];
    if (info.deployments.length === 0)
      lines.push(`Deployments:    none yet (${img ? `goku deploy ${info.name}` : 'git push'} to deploy)`);
    for (const d of info.deployments) {
      lines.push(
        '',
        `--- ${d.name} (${img ? 'image' : d.branch})`,
        `Release:    ${d.release}`,
        img ? `Digest:     sha256:${d.commit}` : `Commit:     ${d.commit}`,
        `Image:      ${d.image}`,
        `Port:       ${d.port ?? 'none (not routed)'}`,
        `Domains:    ${d.domains.join(', ') || '-'}`,
        `Instances:  ${d.instances} running`,
        `Services:   ${info.servicesError ? `unknown: ${info.servicesError}` : d.services.join(', ') || '-'}`,
        `Deployed:   ${d.deployedAt}`,
      );
      if (d.compose) {
        lines.push('Compose services:');
        for (const c of d.compose.services) {
          const where = c.port ? `port ${c.port} at ${c.domains.join(', ') || '-'}` : 'not routed';
          lines.push(`  ${c.name.padEnd(12)} ${c.running}/${c.containers} running  ${c.image}  ${where}`);
        }
        lines.push(`Volumes:    ${d.compose.volumes.join(', ') || '-'}`);
      }
    }
    io.out(`${lines.join('\n')}\n`);
    return 0;
  },
};
