import { assertAppName } from '../core/names.js';
import { GokuError } from '../errors.js';
import type { Command } from './types.js';

export const certsAuto: Command = {
  name: 'certs:auto',
  usage: 'certs:auto APP [on|off]',
  summary:
    "Let goku get and renew the app's certificates by ACME (on by default when GOKU_ACME_EMAIL is set)",
  help: 'on: goku asks the ACME CA (GOKU_ACME_DIRECTORY) for one certificate per deployment covering all its domains (default, CNAME, domains:add), proves them over HTTP-01 at the edge, and renews 30 days before expiry; on again also retries at once after a failure. off: goku stops asking (the current certificate keeps serving until it expires). A certificate of your own (certs:add) pauses ACME for the app until certs:remove. Without on|off: shows the state.',
  args: { min: 1, max: 2 },
  async run({ args, io, services }) {
    const app = assertAppName(args[0] as string);
    const want = args[1];
    if (want === undefined) {
      const info = services.certs.info(app);
      const state = !info.acme.server
        ? 'off (ACME is off for the server: GOKU_ACME_EMAIL)'
        : !info.acme.auto
          ? 'off'
          : info.acme.paused
            ? 'on, paused while its own certificate is installed'
            : 'on';
      io.out(`${app}: ACME ${state}\n`);
      return 0;
    }
    if (want !== 'on' && want !== 'off')
      throw new GokuError('GOKU_ERR_USAGE', `certs:auto takes on or off, not ${JSON.stringify(want)}`);
    const info = await services.certs.auto(app, want === 'on');
    io.out(
      want === 'off'
        ? `${app}: ACME off (its current certificate serves until it expires)\n`
        : info.cert
          ? `${app}: ACME on, paused while its own certificate is installed (certs:remove hands over)\n`
          : `${app}: ACME on; goku asks for its certificates now (see goku certs ${app})\n`,
    );
    return 0;
  },
};
