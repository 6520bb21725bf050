import { json } from '../cli/format.js';
import { assertAppName } from '../core/names.js';
import type { Command } from './types.js';

export const certs: Command = {
  name: 'certs',
  usage: 'certs APP [--json]',
  summary:
    "Show the app's HTTPS: its certificate (names, issuer, expiry), which domains it covers, the redirect",
  help: "Each domain the app is served at, and whether its certificate covers it (an uncovered domain gets goku's self-signed default); the certificate's names, issuer, validity and fingerprint; certs:redirect and HSTS. Never shows the key.",
  options: { json: { type: 'boolean' } },
  args: { min: 1, max: 1 },
  run({ args, flags, io, services }) {
    const info = services.certs.info(assertAppName(args[0] as string));
    if (flags.json) {
      io.out(json(info));
      return 0;
    }
    const c = info.cert;
    const lines = [
      `=== ${info.app} HTTPS${info.httpsPort ? ` (port ${info.httpsPort})` : ': off (GOKU_HTTPS_PORT=0 or system nginx)'}`,
      ...(c
        ? [
            `Certificate:  ${c.source}, for ${c.names.join(', ')}`,
            `Issuer:       ${c.issuer}`,
            `Valid:        ${c.notBefore} to ${c.notAfter}`,
            `Fingerprint:  ${c.fingerprint}`,
            `Installed:    ${c.installedAt}`,
          ]
        : ["Certificate:  none (goku's self-signed default answers; goku certs:add APP < bundle.pem)"]),
      `Redirect:     ${info.redirect ? `HTTP to HTTPS (308)${info.hsts ? ', with HSTS' : ''}` : 'off'}`,
      'Domains:',
      ...info.domains.map((d) => `  ${d.domain}  ${d.covered ? 'covered' : 'not covered'}`),
    ];
    io.out(`${lines.join('\n')}\n`);
    return 0;
  },
};
