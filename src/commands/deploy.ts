import { assertAppName } from '../core/names.js';
import type { Command } from './types.js';

export const deploy: Command = {
  name: 'deploy',
  usage: 'deploy APP [REF] [--force]',
  summary: "Pull and deploy an image app's image now (with REF: switch it to that image)",
  help: 'Asks the registry which digest the image reference names now, pulls that digest, and deploys it without downtime as a release of kind image (health-checked, one rollback away). An app already running that digest gets no release. With REF ([REGISTRY/]REPO[:TAG|@DIGEST]) the app follows that reference from then on. A deploy still waiting for another deploy of the app is replaced by a newer one. --force: do it now although the app may not run two copies (schedule:set --downtime) and its schedule does not allow deploys now.',
  options: { force: { type: 'boolean' } },
  args: { min: 1, max: 2 },
  async run({ args, flags, io, caller, services }) {
    await services.ops.deploy(
      assertAppName(args[0] as string),
      args[1] ?? null,
      caller.keyName ?? 'cli',
      (l) => io.out(`${l}\n`),
      flags.force === true,
    );
    return 0;
  },
};
