/**
 * End to end in real headless Chromium (Debian's `/usr/bin/chromium`, driven by playwright-core):
 * the example SPA (`examples/spa`) holds a DPoP-bound session with our client against our server.
 * Two tabs refreshing at the same moment cause exactly one refresh at the server; the private key
 * cannot be extracted; a refresh token stolen from the browser's storage is refused from Node
 * without the key, and the session survives the attempt. Screenshots go to `.artifacts/`.
 *
 * Without Chromium the suite is skipped locally, and fails under CI (`CI=true`): `.ci/run` installs it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startExampleServer, type ExampleServer } from '../../../../examples/spa/server.ts';
import { None } from '../../../client/src/client-auth.ts';
import { Configuration } from '../../../client/src/configuration.ts';
import { getDPoPHandle, randomDPoPKeyPair } from '../../../client/src/dpop.ts';
import { OAuthResponseError } from '../../../client/src/errors.ts';
import { refreshTokenGrant } from '../../../client/src/refresh-token-grant.ts';
import { ready, signInThroughPages } from './support/example-sign-in.ts';
import { chromiumSkip, launchChromium } from './support/chromium.ts';

const artifacts = fileURLToPath(new URL('../../../../.artifacts/browser-dpop/', import.meta.url));

describe('example SPA in headless Chromium: a DPoP-bound session', { skip: chromiumSkip }, () => {
  let app: ExampleServer;
  let browser: Browser;
  let context: BrowserContext;
  let tabA: Page;
  let tabB: Page;
  let familyId: string;

  const open = async (): Promise<Page> => {
    const page = await context.newPage();
    page.on('pageerror', (error) => console.error('page error:', error));
    await page.goto(app.url);
    await ready(page);
    return page;
  };
  const shot = (page: Page, name: string) => page.screenshot({ path: `${artifacts}${name}.png`, fullPage: true });
  const count = (type: string) => app.events.filter((e) => e.type === type && e.familyId === familyId).length;

  before(async () => {
    mkdirSync(artifacts, { recursive: true });
    app = await startExampleServer({ port: 0 });
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 900, height: 700 } });
    tabA = await open();
  });

  after(async () => {
    await context?.close();
    await browser?.close();
    await app?.close();
  });

  it('signs in with a key the page cannot extract, and calls the resource with DPoP', async () => {
    const key = await tabA.evaluate(() => window.demo.keyCheck());
    assert.equal(key.extractable, false);
    assert.equal(key.exportError, 'InvalidAccessError');
    // Through the authorization endpoint and the application's own sign-in and consent pages.
    assert.equal((await signInThroughPages(tabA, 'demo-user')).subject, 'demo-user');
    const tokens = (await tabA.evaluate(() => window.demo.tokens()))!;
    assert.equal(tokens.tokenType, 'dpop');
    familyId = app.events.find((e) => e.type === 'grant.issued')!.familyId!;
    assert.equal((await app.store.getGrant(familyId))!.dpopJkt, key.jkt, 'the family is bound to the browser key');
    const api = await tabA.evaluate(() => window.demo.callApi());
    assert.equal(api.status, 200, JSON.stringify(api.body));
    assert.deepEqual({ ...(api.body as object), at: undefined }, { sub: 'demo-user', scope: 'openid offline_access api', jkt: key.jkt, at: undefined });
    await shot(tabA, '1-signed-in');
  });

  it('two tabs refreshing at the same moment cause exactly one refresh at the server', async () => {
    tabB = await open();
    assert.equal((await tabB.evaluate(() => window.demo.keyCheck())).jkt, (await tabA.evaluate(() => window.demo.keyCheck())).jkt, 'one key per profile');
    const initial = (await tabB.evaluate(() => window.demo.tokens()))!;
    const rotationsBefore = count('refresh_token.rotated');
    const at = Date.now() + 400;
    const [a, b] = await Promise.all([tabA.evaluate((t) => window.demo.refreshAt(t), at), tabB.evaluate((t) => window.demo.refreshAt(t), at)]);
    assert.equal(a, b, 'both tabs hold the same new access token');
    assert.notEqual(a, initial.accessToken);
    assert.equal(count('refresh_token.rotated') - rotationsBefore, 1, 'exactly one refresh');
    assert.equal(count('refresh_token.replayed') + count('refresh_token.reuse_detected'), 0);
    for (const tab of [tabA, tabB]) assert.equal((await tab.evaluate(() => window.demo.callApi())).status, 200);
    await shot(tabA, '2-tab-a-after-refresh');
    await shot(tabB, '2-tab-b-after-refresh');
  });

  it('a refresh token stolen from the browser is refused from Node without the key; the session lives on', async () => {
    const stolen = (await tabA.evaluate(() => window.demo.tokens()))!;
    const config = new Configuration({ issuer: app.issuer, token_endpoint: `${app.issuer}/token` }, 'example-spa', undefined, None());
    const refused = (e: unknown) => e instanceof OAuthResponseError && e.error === 'invalid_grant';
    // No proof at all.
    await assert.rejects(refreshTokenGrant(config, stolen.refreshToken), refused);
    // A proof by the thief's own key (after the nonce dance, which our client does).
    await assert.rejects(refreshTokenGrant(config, stolen.refreshToken, undefined, { DPoP: getDPoPHandle(config, await randomDPoPKeyPair()) }), refused);
    // The stolen access token is no better at the resource, as Bearer or with another key's proof.
    const api = `${app.url}api/me`;
    assert.equal((await fetch(api, { headers: { authorization: `Bearer ${stolen.accessToken}` } })).status, 401);
    const thief = getDPoPHandle(config, await randomDPoPKeyPair());
    const headers = new Headers({ authorization: `DPoP ${stolen.accessToken}` });
    await thief.addProof(new URL(api), headers, 'GET', stolen.accessToken);
    const answer = await fetch(api, { headers });
    assert.equal(answer.status, 401);
    assert.match(answer.headers.get('www-authenticate')!, /^DPoP error="invalid_dpop_proof"/);

    assert.equal((await app.store.getGrant(familyId))!.revokedAt, undefined, 'the family is not revoked');
    await tabA.evaluate(() => window.demo.refresh());
    assert.equal((await tabA.evaluate(() => window.demo.callApi())).status, 200);
    await shot(tabA, '3-after-theft-attempt');
  });

  it('the key and the session survive a reload (IndexedDB)', async () => {
    const { jkt } = await tabA.evaluate(() => window.demo.keyCheck());
    await tabA.reload();
    await ready(tabA);
    assert.equal((await tabA.evaluate(() => window.demo.keyCheck())).jkt, jkt);
    assert.equal((await tabA.evaluate(() => window.demo.callApi())).status, 200);
    assert.match((await tabA.textContent('#status'))!, /HTTP 200/);
    await shot(tabA, '4-after-reload');
  });
});
