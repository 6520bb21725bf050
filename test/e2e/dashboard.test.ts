import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, adminToken } from '../helpers/api.js';
import { gotoSettled } from '../helpers/browser.js';
import {
  AppRepo,
  eventually,
  freePort,
  GokuServer,
  httpGet,
  makeKey,
  type SshKey,
  uniquePrefix,
} from '../helpers/goku.js';

const CHROMIUM = '/usr/bin/chromium';
/** Screenshots go here (GOKU_SCREENSHOT_DIR=docs/screenshots keeps the README's up to date). */
const SHOTS = process.env.GOKU_SCREENSHOT_DIR ?? mkdtempSync(join(tmpdir(), 'goku-shots-'));

const XSS_SCRIPT = '<script>window.__xss=1</script>';
const XSS_ATTR = '"><img src=x onerror="window.__xss=1">';

/** An app that serves HTTP and prints a line every 0.5 s; RUN lines put hostile text in its build log. */
const app = (body: string, extra = '') => ({
  Dockerfile: `FROM goku-test/busybox:1\nCOPY www /www\n${extra}EXPOSE 8000\nCMD ["sh", "-c", "httpd -p 8000 -h /www; i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.5; done"]\n`,
  'www/index.html': `${body}\n`,
});

// The dashboard in Debian's chromium, driven by playwright-core the way an admin uses it:
// log in, watch a real git push deploy live, change config, roll back, scale, manage keys
// (and push with them), follow logs and stats; hostile values never run; CSRF is refused.
describe('dashboard in a real browser', () => {
  const server = new GokuServer();
  const p = uniquePrefix();
  const name = `${p}-dash`;
  let key: SshKey;
  let repo: AppRepo;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const base = () => `http://127.0.0.1:${server.httpPort}`;
  const dialogs: string[] = [];

  const shot = async (file: string) => {
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: join(SHOTS, file), fullPage: true });
  };
  const noInjection = async () => {
    const found = await page.evaluate(() => ({
      flag: (window as unknown as { __xss?: number }).__xss ?? null,
      imgs: document.querySelectorAll('img[src="x"]').length,
      scripts: [...document.scripts].filter((s) => !s.src.includes('/assets/dashboard.js')).length,
    }));
    expect(found).toEqual({ flag: null, imgs: 0, scripts: 0 });
    expect(dialogs.filter((d) => d.includes('xss'))).toEqual([]);
  };
  const go = (target: Page, path: string) => gotoSettled(target, `${base()}${path}`);
  const login = async () => {
    await go(page, '/');
    await page.fill('#token', adminToken(server));
    await Promise.all([page.waitForURL(`${base()}/`), page.click('button[type=submit]')]);
  };

  beforeAll(async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(`${CHROMIUM} is missing: ./install.sh --deps-only installs chromium`);
    key = await server.startWithKey();
    repo = new AppRepo(server.tmp, name, server, key);
    repo.write({ ...app('dashboard v1', `RUN echo '${XSS_SCRIPT}' '${XSS_ATTR}'\n`) });
    repo.commit(`first ${XSS_SCRIPT}`);
    expect((await repo.push()).code).toBe(0);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.accept();
    });
  });
  afterAll(async () => {
    await browser?.close();
    await server.cleanup();
  });

  it('logs in with the admin token into an HttpOnly, SameSite=Strict session; a wrong token is refused', async () => {
    await go(page, `/apps/${name}`);
    expect(new URL(page.url()).pathname).toBe('/login');
    await shot('login.png');
    await page.fill('#token', 'wrong-token');
    await page.click('button[type=submit]');
    await expect.poll(() => page.textContent('#login-error')).toContain('not the admin token');
    await login();
    expect(page.url()).not.toContain(adminToken(server));
    const cookie = (await context.cookies()).find((c) => c.name === 'goku_session');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', secure: false });
    const row = page.locator(`li.app-row[data-app="${name}"]`);
    await expect.poll(() => row.locator('.state').textContent()).toBe('running');
    expect(await row.locator('a[href^="http://"]').first().textContent()).toBe(`${name}.goku.test`);
    expect(await row.textContent()).toContain('v1');
    await shot('apps.png');
  });

  it("shows a git push's progress live, then its release", async () => {
    await go(page, `/apps/${name}`);
    repo.write(app('dashboard v2'));
    repo.commit('second');
    const pushed = repo.push();
    await page.waitForFunction(
      () => document.getElementById('progress')?.textContent?.includes('Building'),
      null,
      {
        timeout: 20_000,
      },
    );
    expect((await pushed).code).toBe(0);
    await page.waitForFunction(() => document.querySelector('#releases li[data-version="2"]'), null, {
      timeout: 20_000,
    });
    expect(await page.textContent('#releases li[data-version="2"]')).toContain('push');
    await noInjection();
  });

  it('sets a config value (masked until revealed) as a new release, and rolls back', async () => {
    await go(page, `/apps/${name}`);
    await page.fill('#config-form input[name=key]', 'GREETING');
    await page.fill('#config-form textarea[name=value]', `hello ${XSS_SCRIPT} ${XSS_ATTR}`);
    await page.click('#config-form button[type=submit]');
    await page.waitForSelector('#releases li[data-version="3"]', { timeout: 30_000 });
    expect(await page.textContent('#releases li[data-version="3"]')).toContain('config');
    const row = page.locator('#config tr[data-key="GREETING"]');
    expect(await row.locator('.value').textContent()).toBe('••••••');
    await row.locator('button.reveal').click();
    await expect.poll(() => row.locator('.value').textContent()).toBe(`hello ${XSS_SCRIPT} ${XSS_ATTR}`);
    await noInjection();

    await page.locator('#releases li[data-version="2"] form button').click();
    await page.waitForSelector('#releases li[data-version="4"]', { timeout: 30_000 });
    expect(await page.textContent('#releases li[data-version="4"]')).toContain('rollback to v2');
    expect(dialogs.some((d) => d.includes('Roll back to v2'))).toBe(true);
    expect((await server.get(`${name}.goku.test`)).body).toBe('dashboard v2\n');
  });

  it('scales to 2 and shows both instances with live stats; live logs show a line printed after the page opened', async () => {
    await go(page, `/apps/${name}`);
    await page.fill('#scale-form input[name="formation.web"]', '2');
    await page.click('#scale-form button[type=submit]');
    // The table follows the instances live (stats every 2 s): through the switch (new ones
    // named APP--RELEASE, old ones exiting) to exactly APP and APP.2, both running.
    await page.waitForFunction(
      (n) =>
        [...document.querySelectorAll('#instances tr[data-instance]')]
          .map((r) => `${(r as HTMLElement).dataset.instance} ${r.querySelector('td.st')?.textContent}`)
          .join(', ') === `${n} running, ${n}.2 running`,
      name,
      { timeout: 30_000 },
    );
    await page.waitForFunction(
      () => [...document.querySelectorAll('#instances .cpu')].every((c) => c.textContent?.endsWith('%')),
      null,
      { timeout: 15_000 },
    );
    expect(await page.textContent('#instances .mem')).toMatch(/\d+(\.\d)? (B|KB|MB)/);

    const marker = `printed-after-open-${Date.now()} ${XSS_SCRIPT} ${XSS_ATTR}`;
    await page.waitForFunction(
      () => /tick \d+/.test(document.getElementById('logs')?.textContent ?? ''),
      null,
      {
        timeout: 15_000,
      },
    );
    const r = await server.cli(['enter', name, 'sh', '-c', `echo '${marker}' > /proc/1/fd/1`]);
    expect(r.code, r.stderr).toBe(0);
    await page.waitForFunction((m) => document.getElementById('logs')?.textContent?.includes(m), marker, {
      timeout: 15_000,
    });
    // Two instances: each line carries its instance's name.
    expect(await page.textContent('#logs')).toMatch(new RegExp(`${name}(\\.2)?: tick \\d+`));
    await noInjection();
    await shot('app.png');
  });

  it('adds an ssh key in the page, which can then push; removed, its push is refused', async () => {
    const laptop = makeKey(server.tmp, 'laptop');
    await go(page, `/keys`);
    await page.fill('#key-name', 'laptop');
    await page.fill('#key-text', laptop.pub);
    await page.click('#key-form button[type=submit]');
    await page.waitForSelector('#keys tr[data-key="laptop"]');
    expect(await page.textContent('#keys tr[data-key="laptop"]')).toContain('deploy');
    expect(await page.textContent('#keys tr[data-key="laptop"] .fp')).toMatch(/^SHA256:/);
    await shot('keys.png');

    const other = new AppRepo(server.tmp, name, server, laptop);
    other.write(app('pushed with the new key'));
    other.commit('from laptop');
    const ok = await other.push('master', ['--force']);
    expect(ok.code, ok.stderr).toBe(0);
    expect((await server.get(`${name}.goku.test`)).body).toBe('pushed with the new key\n');

    await page.locator('#keys tr[data-key="laptop"] button').click();
    await page.waitForFunction(() => !document.querySelector('#keys tr[data-key="laptop"]'));
    other.write(app('must not deploy'));
    other.commit('refused');
    const refused = await other.push('master', ['--force']);
    expect(refused.code).not.toBe(0);
    expect((await server.get(`${name}.goku.test`)).body).toBe('pushed with the new key\n');
  });

  it("escapes a failed build's reason and log; hostile names and domains never get in", async () => {
    repo.write({ Dockerfile: `FROM goku-test/busybox:1\nRUN echo '${XSS_ATTR}' && false\n` });
    repo.commit('broken');
    // --force: the laptop's push replaced master.
    const broken = await repo.push('master', ['--force']);
    expect(broken.code).not.toBe(0);
    expect(broken.stderr).toContain('docker build failed');
    await go(page, `/apps/${name}`);
    const failed = page.locator('#releases li.status-failed').first();
    expect(await failed.textContent()).toContain('failed');
    await failed.locator('summary').click();
    expect(await failed.locator('pre').textContent()).toContain(XSS_ATTR);
    await noInjection();
    const api = new Api(server);
    for (const [path, body] of [
      ['/api/keys', { name: XSS_ATTR, key: makeKey(server.tmp, 'x').pub }],
      ['/api/apps', { name: XSS_SCRIPT }],
      [`/api/apps/${name}/domains`, { domains: [XSS_ATTR] }],
    ] as const) {
      const r = await api.json('POST', path, body);
      expect(r.status, path).toBe(400);
    }
    repo.remove('Dockerfile');
    repo.write(app('dashboard back'));
    repo.commit('fixed');
    expect((await repo.push('master', ['--force'])).code).toBe(0);
  });

  it('adds and removes a domain and an extra HTTP port in the page', async () => {
    await go(page, `/apps/${name}`);
    await page.fill('input[name=domains]', 'www.dash.example');
    await page.locator('input[name=domains] + button').click();
    await page.waitForSelector('a[href="http://www.dash.example/"]');
    const port = await freePort();
    await page.fill('input[name=mappings]', `http:${port}:8000`);
    await page.locator('input[name=mappings] + button').click();
    await page.waitForFunction(
      (p) => document.getElementById('ports')?.textContent?.includes(`http:${p}:8000`),
      port,
      {
        timeout: 30_000,
      },
    );
    expect((await httpGet(port, `${name}.goku.test`)).status).toBe(200);
    await page
      .locator('#ports li', { hasText: `http:${port}:8000` })
      .locator('button')
      .click();
    await page.waitForFunction(
      (p) => !document.getElementById('ports')?.textContent?.includes(`http:${p}:`),
      port,
      {
        timeout: 30_000,
      },
    );
    await page.locator('li', { hasText: 'www.dash.example' }).locator('button').click();
    await page.waitForFunction(() => !document.querySelector('a[href="http://www.dash.example/"]'));
  });

  it("shows an image app's watcher policy and deploy window, and changes them", async () => {
    const image = `${p}-img`;
    const created = await new Api(server).json('POST', '/api/apps', {
      name: image,
      image: '127.0.0.1:1/team/web:1.2.0',
    });
    expect(created.status, created.text).toBe(200);
    await go(page, `/apps/${image}`);
    expect(await page.textContent('main')).toContain('127.0.0.1:1/team/web:1.2.0');
    expect(await page.textContent('main')).toContain('newest semver tag');
    await page.fill('input[name=window]', '02:00-03:00');
    await page.locator('input[name=window] + button').click();
    await page.waitForFunction(() =>
      document.querySelector('main')?.textContent?.includes('02:00-03:00 UTC'),
    );
    await page.locator('form[data-api="/watch/auto"] button').click();
    await page.waitForFunction(() =>
      document.querySelector('main')?.textContent?.includes('Turn auto-deploy on'),
    );
    expect((await new Api(server).json('GET', `/api/apps/${image}/watch`)).json.autoDeploy).toBe(false);
    await go(page, '/settings');
    expect(await page.textContent('main')).toContain(image);
    expect(await page.textContent('main')).toMatch(/\/hooks\/deploy\/[0-9a-f]{64}/);
  });

  it("answers an unknown app's page with a page that says so", async () => {
    const res = await go(page, '/apps/no-such-app');
    expect(res?.status()).toBe(404);
    expect(await page.textContent('#page-error')).toContain('app no-such-app does not exist');
    // Refused cleanly: no promise of the page's was left to reject unhandled.
    await new Promise((r) => setTimeout(r, 200));
    expect(server.log).not.toContain('unhandled rejection');
  });

  it('refuses a change without the CSRF token, even with the session cookie', async () => {
    await go(page, `/apps/${name}`);
    const before = (await new Api(server).json('GET', `/api/apps/${name}/releases`)).json.length;
    const answers = await page.evaluate(async (app) => {
      const post = (headers: Record<string, string>) =>
        fetch(`/api/apps/${app}/restart`, { method: 'POST', headers, body: '{}' }).then(async (r) => ({
          status: r.status,
          code: (await r.json()).code,
        }));
      return [await post({ 'content-type': 'application/json' }), await post({ 'x-csrf-token': 'forged' })];
    }, name);
    expect(answers).toEqual([
      { status: 403, code: 'GOKU_ERR_CSRF' },
      { status: 403, code: 'GOKU_ERR_CSRF' },
    ]);
    expect((await new Api(server).json('GET', `/api/apps/${name}/releases`)).json.length).toBe(before);
    // A read with the cookie alone works (no token needed to look).
    expect(await page.evaluate(async () => (await fetch('/api/apps')).status)).toBe(200);
  });

  it('reads well on a phone-sized screen', async () => {
    const phone = await context.newPage();
    await phone.setViewportSize({ width: 390, height: 844 });
    for (const path of ['/', `/apps/${name}`, '/keys', '/settings']) {
      await go(phone, `${path}`);
      const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow, path).toBeLessThanOrEqual(0);
    }
    await go(phone, `/apps/${name}`);
    await phone.screenshot({ path: join(SHOTS, 'app-phone.png'), fullPage: false });
    await phone.close();
  });

  it('logs out, after which the cookie opens nothing; login attempts are rate limited', async () => {
    await go(page, `/`);
    await Promise.all([page.waitForURL(`${base()}/login`), page.click('form.logout button')]);
    expect(await page.evaluate(async () => (await fetch('/api/apps')).status)).toBe(401);
    let last = 0;
    for (let i = 0; i < 12; i++) {
      const res = await fetch(`${base()}/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'token=guess',
        redirect: 'manual',
      });
      last = res.status;
      if (last === 429) {
        expect(await res.text()).toContain('retry');
        break;
      }
      expect(last).toBe(401);
    }
    expect(last).toBe(429);
    await eventually(
      async () => (await fetch(`${base()}/login`, { method: 'POST', body: 'token=x' })).status,
      (s) => s === 429,
    );
  });
});
