import { json } from '../cli/format.js';
import type { Command, Services } from './types.js';

/** The three webhook URLs with this server's secret, at the HTTP port. */
export function webhookUrls(services: Services): Record<'dockerhub' | 'registry' | 'deploy', string> {
  const s = services.settings;
  // Over TLS (GOKU_HTTP_TLS_*) at the name its certificate is for, when goku knows it.
  const scheme = s.GOKU_HTTP_TLS_CERT || s.GOKU_HTTP_TLS_DOMAIN ? 'https' : 'http';
  const base = `${scheme}://${s.GOKU_HTTP_TLS_DOMAIN ?? s.GOKU_DOMAIN ?? 'SERVER'}:${s.GOKU_HTTP_PORT}/hooks`;
  const secret = services.webhooks.secret();
  return {
    dockerhub: `${base}/dockerhub/${secret}`,
    registry: `${base}/registry/${secret}`,
    deploy: `${base}/deploy/${secret}`,
  };
}

export const webhooks: Command = {
  name: 'webhooks',
  usage: 'webhooks [--json]',
  summary: "Print this server's webhook URLs (Docker Hub, registry notifications, deploy), with their secret",
  help: 'POST /hooks/dockerhub/SECRET takes Docker Hub payloads, /hooks/registry/SECRET a registry\'s notifications, /hooks/deploy/SECRET {"service": "APP", "tag"?: "TAG"}. Each redeploys the image apps that follow what was pushed; the digest is asked of the registry, never taken from the payload. The secret is 256 random bits in GOKU_HOME/webhook-secret (0600); webhooks:rotate replaces it.',
  options: { json: { type: 'boolean' } },
  args: { min: 0, max: 0 },
  run({ flags, io, services }) {
    const urls = webhookUrls(services);
    if (flags.json) {
      io.out(json(urls));
      return 0;
    }
    io.out(listing(urls));
    return 0;
  },
};

function listing(urls: Record<'dockerhub' | 'registry' | 'deploy', string>): string {
  return `Docker Hub:             ${urls.dockerhub}\nRegistry notifications: ${urls.registry}\nDeploy {"service"}:     ${urls.deploy}\n`;
}

export const webhooksRotate: Command = {
  name: 'webhooks:rotate',
  usage: 'webhooks:rotate',
  summary: 'Replace the webhook secret: the old URLs stop working at once',
  help: 'Makes a new 256-bit secret and prints the new URLs; a hook sent to an old URL answers 404 and changes nothing.',
  args: { min: 0, max: 0 },
  async run({ io, services }) {
    await services.webhooks.rotate();
    io.out(`Webhook secret replaced; the old URLs no longer work.\n${listing(webhookUrls(services))}`);
    return 0;
  },
};
