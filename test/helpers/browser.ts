import type { Page } from 'playwright-core';

/**
 * page.goto, again when chromium reports ERR_NETWORK_CHANGED (or shows its error page for
 * it): it watches the host's network interfaces, and Docker adds and removes them as goku
 * starts and stops containers.
 */
export async function gotoSettled(target: Page, url: string) {
  for (let i = 0; ; i++) {
    try {
      return await target.goto(url);
    } catch (err) {
      if (i >= 5 || !/ERR_NETWORK_CHANGED|chrome-error|interrupted by another navigation/.test(String(err)))
        throw err;
      // Chromium reloads its error page by itself when the network settles: let it.
      await target.waitForLoadState('load').catch(() => undefined);
      if (target.url() === url && (await target.locator('main').count()) > 0) return null;
    }
  }
}
