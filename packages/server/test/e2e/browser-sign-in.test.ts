/**
 * Sign-in through the authorization endpoint in real headless Chromium (Debian's
 * `/usr/bin/chromium`, driven by playwright-core): the example SPA (`examples/spa`) sends the
 * browser to our authorization endpoint, which hands it to the application's own sign-in page and
 * a consent page for `offline_access`; back at the app, our client checks iss, state and nonce,
 * exchanges the code with PKCE and a DPoP proof, and refreshes. `prompt=none` without a session
 * ends at the redirection URI with `login_required`; with a session and consent it needs no page.
 * Screenshots go to `.artifacts/browser-sign-in/`.
 *
 * Without Chromium the suite is skipped locally, and fails under CI (`CI=true`): `.ci/run` installs it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startExampleServer, type ExampleServer } from '../../../../examples/spa/server.ts';
import { markStale, nextDocument, ready, signInThroughPages, startSignIn } from './support/example-sign-in.ts';
import { chromiumSkip, launchChromium } from './support/chromium.ts';

const artifacts = fileURLToPath(new URL('../../../../.artifacts/browser-sign-in/', import.meta.url));

describe('example SPA in headless Chromium: sign-in through the authorization endpoint', { skip: chromiumSkip }, () => {
  let app: ExampleServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  /** Every URL the page navigated to, in order. */
  const visited: string[] = [];

  const shot = (name: string) => page.screenshot({ path: `${artifacts}${name}.png`, fullPage: true });
  const count = (type: string) => app.events.filter((e) => e.type === type).length;

  before(async () => {
    mkdirSync(artifacts, { recursive: true });
    app = await startExampleServer({ port: 0 });
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 900, height: 700 } });
    page = await context.newPage();
    page.on('pageerror', (error) => console.error('page error:', error));
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) visited.push(frame.url());
    });
    await page.goto(app.url);
    await ready(page);
  });

  after(async () => {
    await context?.close();
    await browser?.close();
    await app?.close();
  });

  it('prompt=none without a session ends at the redirection URI with login_required (and iss)', async () => {
    const from = visited.length;
    await startSignIn(page, 'none');
    assert.deepEqual(await page.evaluate(() => window.demo.lastSignIn), { error: 'login_required' });
    const back = visited.slice(from).map((u) => new URL(u)).find((u) => u.searchParams.get('error') === 'login_required')!;
    assert.ok(back, visited.slice(from).join('\n'));
    assert.equal(back.origin + back.pathname, app.url);
    assert.equal(back.searchParams.get('iss'), app.issuer);
    // The sign-in page was never shown.
    assert.ok(visited.slice(from).every((u) => new URL(u).pathname === '/'), visited.slice(from).join(' '));
    assert.equal(await page.evaluate(() => window.demo.tokens()), undefined);
    await shot('1-prompt-none-login-required');
  });

  it('signs in on the application\'s own page, consents to offline_access, exchanges the code and refreshes', async () => {
    await startSignIn(page);
    assert.equal(new URL(page.url()).pathname, '/login');
    await page.waitForSelector('#username');
    await shot('2-sign-in-page');
    await page.fill('#username', 'walter');
    await markStale(page);
    await page.click('#sign-in');
    await nextDocument(page, ['#allow']);
    const scopes = await page.textContent('#scopes');
    assert.match(scopes!, /offline_access: stay signed in/);
    await shot('3-consent-page');
    await markStale(page);
    await page.click('#allow');
    await nextDocument(page);
    assert.deepEqual(await page.evaluate(() => window.demo.lastSignIn), { subject: 'walter' });
    assert.equal(new URL(page.url()).search, '', 'the code is gone from the address bar');

    const tokens = (await page.evaluate(() => window.demo.tokens()))!;
    assert.match(tokens.refreshToken!, /^rg_rt_/);
    assert.equal(tokens.tokenType, 'dpop');
    const grant = (await app.store.listGrants({ subject: 'walter' }))[0];
    const { jkt } = await page.evaluate(() => window.demo.keyCheck());
    assert.equal(grant.dpopJkt, jkt, 'the exchange bound the family to the browser key');
    assert.equal((await app.store.getConsent('example-spa', 'walter'))?.scope, 'openid offline_access api');
    assert.equal((await page.evaluate(() => window.demo.callApi())).status, 200);
    await shot('4-signed-in');

    const rotations = count('refresh_token.rotated');
    const before = tokens.refreshToken;
    await page.evaluate(() => window.demo.refresh());
    const after = (await page.evaluate(() => window.demo.tokens()))!;
    assert.notEqual(after.refreshToken, before, 'rotated');
    assert.equal(count('refresh_token.rotated') - rotations, 1);
    assert.equal((await page.evaluate(() => window.demo.callApi())).status, 200);
  });

  it('with the application\'s session and a remembered consent, signing in again shows no page', async () => {
    const issued = count('authorization_code.issued');
    const from = visited.length;
    const result = await signInThroughPages(page, 'ignored');
    assert.deepEqual(result, { subject: 'walter', consented: false });
    await startSignIn(page, 'none');
    assert.deepEqual(await page.evaluate(() => window.demo.lastSignIn), { subject: 'walter' });
    assert.equal(count('authorization_code.issued') - issued, 2);
    // Redirected through the authorization endpoint and /login, but no document other than the app loaded.
    const urls = visited.slice(from).map((u) => new URL(u));
    assert.equal(urls.filter((u) => u.searchParams.has('code')).length, 2, urls.join(' '));
    assert.ok(urls.every((u) => u.pathname === '/'), urls.join(' '));
    await shot('5-silent-sign-in');
  });

  it('a user who denies the consent comes back with access_denied and no tokens', async () => {
    const other = await browser.newContext();
    try {
      const tab = await other.newPage();
      await tab.goto(app.url);
      await ready(tab);
      await startSignIn(tab);
      await tab.fill('#username', 'xena');
      await markStale(tab);
      await tab.click('#sign-in');
      await nextDocument(tab, ['#deny']);
      await markStale(tab);
      await tab.click('#deny');
      await nextDocument(tab);
      assert.deepEqual(await tab.evaluate(() => window.demo.lastSignIn), { error: 'access_denied' });
      assert.equal(await tab.evaluate(() => window.demo.tokens()), undefined);
      assert.equal((await app.store.listGrants({ subject: 'xena' })).length, 0);
    } finally {
      await other.close();
    }
  });
});
