import { assertAppName } from '../core/names.js';
import type { Command } from './types.js';

export const appsCreate: Command = {
  name: 'apps:create',
  usage: 'apps:create APP [--image REF]',
  summary: 'Create an app (a first git push creates it too); --image: an app that deploys a registry image',
  help: 'Creates the app and its git repository, so that its remote exists before the first push. With --image REF ([REGISTRY/]REPO[:TAG|@DIGEST]; tag latest and Docker Hub by default) the app deploys that image instead of git pushes: goku deploy APP pulls and deploys it.',
  options: { image: { type: 'string' } },
  args: { min: 1, max: 1 },
  async run({ args, flags, io, services }) {
    const app = assertAppName(args[0] as string);
    const image = typeof flags.image === 'string' ? flags.image : undefined;
    await services.ops.create(app, image);
    io.out(
      image === undefined
        ? `Created ${app}. Deploy it with: git push ssh://git@HOST:${services.settings.GOKU_SSH_PORT}/${app} master\n`
        : `Created ${app}, an image app following ${services.ops.get(app).image?.ref}. Deploy it with: goku deploy ${app}\n`,
    );
    return 0;
  },
};
