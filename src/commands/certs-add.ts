import { assertAppName } from '../core/names.js';
import type { Command } from './types.js';

export const certsAdd: Command = {
  name: 'certs:add',
  usage: 'certs:add APP < fullchain-and-key.pem',
  summary: 'Install a certificate of your own for the app (its chain and key in PEM, read from stdin)',
  help: "Reads PEM on stdin: the certificate, its chain and its unencrypted private key, in any order (cat fullchain.pem privkey.pem). Refused, changing nothing, when a certificate does not parse, the key is not the certificate's, the chain is out of order, it is expired or not yet valid, or it covers none of the app's domains. Installed, the edge presents it from the next TLS handshake on: no reload, no connection cut.",
  args: { min: 1, max: 1 },
  stdin: true,
  async run({ args, io, services }) {
    const app = assertAppName(args[0] as string);
    const info = await services.certs.add(app, io.stdin);
    const covered = info.domains.filter((d) => d.covered).map((d) => d.domain);
    const not = info.domains.filter((d) => !d.covered).map((d) => d.domain);
    io.out(`Installed a certificate for ${app}, valid until ${info.cert?.notAfter}\n`);
    io.out(`Covers: ${covered.join(', ')}\n`);
    if (not.length) io.out(`Not covered (the self-signed default answers): ${not.join(', ')}\n`);
    return 0;
  },
};
