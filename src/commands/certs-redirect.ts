import { assertAppName } from '../core/names.js';
import { GokuError } from '../errors.js';
import type { Command } from './types.js';

export const certsRedirect: Command = {
  name: 'certs:redirect',
  usage: 'certs:redirect APP on|off [--hsts]',
  summary: 'Send plain HTTP requests of the app to HTTPS (308); --hsts adds Strict-Transport-Security',
  help: "on: nginx answers every plain HTTP request for the app's domains with a 308 to the same URL over HTTPS (the request method and body are kept). --hsts: HTTPS answers also carry Strict-Transport-Security: max-age=31536000 (browsers then refuse plain HTTP for a year: only when every domain has a certificate). off: both stop.",
  options: { hsts: { type: 'boolean' } },
  args: { min: 2, max: 2 },
  async run({ args, flags, io, services }) {
    const app = assertAppName(args[0] as string);
    const want = args[1];
    if (want !== 'on' && want !== 'off')
      throw new GokuError('GOKU_ERR_USAGE', `certs:redirect takes on or off, not ${JSON.stringify(want)}`);
    await services.certs.redirect(app, want === 'on', flags.hsts === true);
    io.out(
      want === 'on'
        ? `${app}: plain HTTP is redirected to HTTPS${flags.hsts ? ', with HSTS' : ''}\n`
        : `${app}: no redirect to HTTPS\n`,
    );
    return 0;
  },
};
