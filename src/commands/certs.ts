import type { AcmeInfo, CertInfo } from '../app/certs.js';
import { json } from '../cli/format.js';
import { assertAppName } from '../core/names.js';
import type { Command } from './types.js';

export const certs: Command = {
  name: 'certs',
  usage: 'certs APP [--json]',
  summary:
    "Show the app's HTTPS: its certificates (names, issuer, expiry), which domains they cover, ACME's last and next try, the redirect",
  help: "Each domain the app is served at, and whether a certificate covers it (an uncovered domain gets goku's self-signed default); a certificate of its own (certs:add) with its names, issuer, validity and fingerprint; with ACME (GOKU_ACME_EMAIL), each deployment's names, certificate, last attempt with its error, and next attempt; certs:redirect and HSTS. Never shows a key.",
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
      ...(c || info.acme.auto
        ? []
        : ["Certificate:  none (goku's self-signed default answers; goku certs:add APP < bundle.pem)"]),
      ...(c
        ? [
            `Certificate:  ${c.source}, for ${c.names.join(', ')}`,
            `Issuer:       ${c.issuer}`,
            `Valid:        ${c.notBefore} to ${c.notAfter}`,
            `Fingerprint:  ${c.fingerprint}`,
            `Installed:    ${c.installedAt}`,
          ]
        : []),
      `Redirect:     ${info.redirect ? `HTTP to HTTPS (308)${info.hsts ? ', with HSTS' : ''}` : 'off'}`,
      `ACME:         ${acmeState(info)}`,
      ...(info.acme.auto ? info.acme.deployments.flatMap(acmeLines) : []),
      'Domains:',
      ...info.domains.map((d) => `  ${d.domain}  ${d.covered ? 'covered' : 'not covered'}`),
    ];
    io.out(`${lines.join('\n')}\n`);
    return 0;
  },
};

function acmeState(info: CertInfo): string {
  if (!info.acme.server) return 'off for the server (set GOKU_ACME_EMAIL)';
  if (!info.acme.auto) return 'off (certs:auto APP on)';
  return info.acme.paused ? 'on, paused while the certificate of its own is installed' : 'on';
}

/** One deployment's ACME certificate: what it covers, until when, and how the last attempt went. */
function acmeLines(a: AcmeInfo): string[] {
  const c = a.cert;
  return [
    `  ${a.deployment}: ${a.names.join(', ') || 'no domain a CA can prove'}`,
    c
      ? `    certificate  ${c.names.join(', ')}, by ${c.issuer}, valid to ${c.notAfter}`
      : "    certificate  none yet (goku's self-signed default answers)",
    ...(a.lastAttempt ? [`    last try     ${a.lastAttempt}${a.error ? `: ${a.error}` : ': ok'}`] : []),
    ...(a.nextAttempt ? [`    next try     ${a.nextAttempt}`] : []),
  ];
}
