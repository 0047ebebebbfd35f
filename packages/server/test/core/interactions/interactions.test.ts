/**
 * The hand-off to the application's login and consent pages (`server.interactions`), driven as
 * an application drives it, against a real server on loopback: login, consent remembered per
 * client and subject, prompt=consent, prompt=none, prompt=login and max_age, single use of
 * every reference, and references that are forged, expired or for the other step.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { OAuthError } from '../../../src/core/errors.ts';
import { startHarness, type Harness } from '../../support/harness.ts';
import { authorizeUrl, codeRequest, exchange, interactionOf, loginPage, pkce, signIn, visit } from '../../support/authorize.ts';

describe('interactions: the application signs the user in', () => {
  let h: Harness;
  const redirectUri = 'https://app.example/cb';
  const { verifier, challenge } = pkce();
  const request = (extra: Record<string, string | undefined> = {}) => codeRequest('app', redirectUri, challenge, { scope: 'openid offline_access profile', ...extra });
  const start = async (extra: Record<string, string | undefined> = {}) => interactionOf(await visit(authorizeUrl(h, request(extra))));
  const invalidReference = (error: unknown) => error instanceof OAuthError && error.error === 'invalid_request';

  before(async () => {
    // A frozen clock: time moves only through advance(), so exact seconds (auth_time, max_age) never tick by.
    h = await startHarness({ interactionUrl: loginPage, frozenClock: true });
    await h.client({ clientId: 'app', authMethod: 'none', scope: 'openid offline_access profile', redirectUris: [redirectUri] });
  });
  after(() => h.close());

  it('first sign-in: login, then consent for the requested scope, then a code with state and iss', async () => {
    const params = request({ nonce: 'n-42' });
    const ref = interactionOf(await visit(authorizeUrl(h, params)));
    const login = await h.server.interactions.finishLogin(ref, { subject: 'ann', acr: 'urn:x:loa:2', amr: ['pwd'] });
    const consentRef = new URL(login.redirectTo).searchParams.get('interaction')!;
    const details = await h.server.interactions.get(consentRef);
    assert.equal(details.step, 'consent');
    assert.equal(details.subject, 'ann');
    assert.deepEqual(details.scope, ['openid', 'offline_access', 'profile']);
    assert.deepEqual(details.consented, []);
    const done = new URL((await h.server.interactions.finishConsent(consentRef)).redirectTo);
    assert.equal(done.origin + done.pathname, redirectUri);
    assert.match(done.searchParams.get('code')!, /^rg_ac_/);
    assert.equal(done.searchParams.get('state'), params.state);
    assert.equal(done.searchParams.get('iss'), h.issuer);
    assert.deepEqual(await h.store.getConsent('app', 'ann').then((c) => c?.scope), 'openid offline_access profile');

    const tokens = await exchange(h, { client_id: 'app', code: done.searchParams.get('code')!, redirect_uri: redirectUri, code_verifier: verifier });
    assert.equal(tokens.status, 200, tokens.text);
    assert.match(tokens.json.refresh_token, /^rg_rt_/);
    const claims = JSON.parse(Buffer.from(tokens.json.id_token.split('.')[1], 'base64url').toString());
    assert.equal(claims.acr, 'urn:x:loa:2');
    assert.deepEqual(claims.amr, ['pwd']);
  });

  it('remembered consent: the next sign-in of the same subject skips the consent step', async () => {
    const ref = await start();
    const done = new URL((await h.server.interactions.finishLogin(ref, { subject: 'ann' })).redirectTo);
    assert.match(done.searchParams.get('code')!, /^rg_ac_/);
  });

  it('prompt=consent asks again, showing what was consented before', async () => {
    const ref = await start({ prompt: 'consent' });
    const next = new URL((await h.server.interactions.finishLogin(ref, { subject: 'ann' })).redirectTo);
    assert.equal(next.origin + next.pathname, loginPage);
    const details = await h.server.interactions.get(next.searchParams.get('interaction'));
    assert.equal(details.step, 'consent');
    assert.deepEqual(details.consented, ['openid', 'offline_access', 'profile']);
  });

  it('a scope beyond the remembered consent asks again; the new decision replaces the old one for what was asked', async () => {
    // Ann declines offline_access this time: the code has no refresh token, and the consent forgets it.
    const done = await signIn(h, request({ prompt: 'consent', scope: 'openid offline_access' }), { subject: 'ann' }, { scope: 'openid' });
    assert.equal((await h.store.getConsent('app', 'ann'))?.scope, 'profile openid');
    const tokens = await exchange(h, { client_id: 'app', code: done.searchParams.get('code')!, redirect_uri: redirectUri, code_verifier: verifier });
    assert.equal(tokens.status, 200, tokens.text);
    assert.equal(tokens.json.scope, 'openid');
    assert.equal(tokens.json.refresh_token, undefined, 'no offline_access, no refresh token (OIDC Core section 11)');
    // Asking for offline_access again needs consent again.
    const ref = await start({ scope: 'openid offline_access' });
    const next = new URL((await h.server.interactions.finishLogin(ref, { subject: 'ann' })).redirectTo);
    assert.equal(next.origin + next.pathname, loginPage);
  });

  it('consent is per subject and per client', async () => {
    const ref = await start();
    const next = new URL((await h.server.interactions.finishLogin(ref, { subject: 'bob' })).redirectTo);
    assert.equal(next.origin + next.pathname, loginPage, 'bob has not consented');
  });

  it('a granted scope beyond the requested one is the application\'s mistake: TypeError, nothing used', async () => {
    const ref = await start({ prompt: 'consent' });
    const consentRef = new URL((await h.server.interactions.finishLogin(ref, { subject: 'ann' })).redirectTo).searchParams.get('interaction')!;
    await assert.rejects(h.server.interactions.finishConsent(consentRef, { scope: 'openid admin' }), TypeError);
    // The reference was not consumed by the refused call.
    assert.match(new URL((await h.server.interactions.finishConsent(consentRef, { scope: ['openid'] })).redirectTo).searchParams.get('code')!, /^rg_ac_/);
  });

  it('prompt=none: the application without a session aborts with login_required', async () => {
    const params = request({ prompt: 'none' });
    const ref = interactionOf(await visit(authorizeUrl(h, params)));
    assert.deepEqual((await h.server.interactions.get(ref)).prompt, ['none']);
    const to = new URL((await h.server.interactions.abort(ref, 'login_required')).redirectTo);
    assert.equal(to.searchParams.get('error'), 'login_required');
    assert.equal(to.searchParams.get('state'), params.state);
    assert.equal(to.searchParams.get('iss'), h.issuer);
  });

  it('prompt=none with a session but no consent ends with consent_required, without a consent page', async () => {
    const ref = await start({ prompt: 'none' });
    const to = new URL((await h.server.interactions.finishLogin(ref, { subject: 'carol' })).redirectTo);
    assert.equal(to.origin + to.pathname, redirectUri);
    assert.equal(to.searchParams.get('error'), 'consent_required');
  });

  it('prompt=none with a session and consent returns a code silently', async () => {
    // Ann's consent now holds openid only (the previous test's decision replaced the rest).
    assert.equal((await h.store.getConsent('app', 'ann'))?.scope, 'openid');
    const ref = await start({ prompt: 'none', scope: 'openid' });
    const to = new URL((await h.server.interactions.finishLogin(ref, { subject: 'ann' })).redirectTo);
    assert.match(to.searchParams.get('code')!, /^rg_ac_/);
  });

  it('the user denies: access_denied at the redirection URI', async () => {
    const to = await signIn(h, request({ prompt: 'consent' }), { subject: 'ann' }, false);
    assert.equal(to.searchParams.get('error'), 'access_denied');
    assert.equal(to.searchParams.get('code'), null);
    await assert.rejects(h.server.interactions.abort(await start(), 'server_error' as never), TypeError);
  });

  it('prompt=login and max_age: an older authentication is refused (the user signs in again)', async () => {
    const loginRef = await start({ prompt: 'login' });
    const details = await h.server.interactions.get(loginRef);
    // prompt=login: authenticated at or after the request, which arrived at the (frozen) now.
    const now = details.authenticatedAfter!;
    assert.equal(now, (await h.server.interactions.get(await start())).expiresAt - 1800);
    await assert.rejects(h.server.interactions.finishLogin(loginRef, { subject: 'ann', authTime: now - 3600 }), TypeError);
    await h.server.interactions.finishLogin(loginRef, { subject: 'ann', authTime: details.authenticatedAfter! });

    const maxAgeRef = await start({ max_age: '60', scope: 'openid' });
    await assert.rejects(h.server.interactions.finishLogin(maxAgeRef, { subject: 'ann', authTime: now - 120 }), TypeError);
    const to = new URL((await h.server.interactions.finishLogin(maxAgeRef, { subject: 'ann', authTime: now - 30 })).redirectTo);
    const code = to.searchParams.get('code')!;
    const tokens = await exchange(h, { client_id: 'app', code, redirect_uri: redirectUri, code_verifier: verifier });
    const claims = JSON.parse(Buffer.from(tokens.json.id_token.split('.')[1], 'base64url').toString());
    assert.equal(claims.auth_time, now - 30, 'auth_time is the authentication time the application reported');
  });

  it('finishLogin checks what the application passes', async () => {
    const ref = await start();
    for (const bad of [{ subject: '' }, { subject: 'x'.repeat(256) }, { subject: 'a', authTime: Date.now() }, { subject: 'a', amr: 'pwd' }, {}]) {
      await assert.rejects(h.server.interactions.finishLogin(ref, bad as never), TypeError, JSON.stringify(bad));
    }
  });

  it('every reference finishes once', async () => {
    const ref = await start();
    await h.server.interactions.finishLogin(ref, { subject: 'ann' });
    await assert.rejects(h.server.interactions.finishLogin(ref, { subject: 'ann' }), invalidReference);
    await assert.rejects(h.server.interactions.abort(ref), invalidReference);
    // Reading it stays possible (a reload of the page), until it expires.
    assert.equal((await h.server.interactions.get(ref)).step, 'login');
  });

  it('forged, truncated, foreign and expired references are refused with invalid_request', async () => {
    const ref = await start();
    const flipped = ref.slice(0, 20) + (ref[20] === 'A' ? 'B' : 'A') + ref.slice(21);
    for (const bad of [flipped, ref.slice(0, -4), 'not a reference', '', undefined, 42, 'x'.repeat(20_000)]) {
      await assert.rejects(h.server.interactions.get(bad), invalidReference);
      await assert.rejects(h.server.interactions.finishLogin(bad, { subject: 'ann' }), invalidReference);
    }
    // Sealed under another server's key.
    const other = await startHarness({ interactionUrl: loginPage });
    try {
      await assert.rejects(other.server.interactions.get(ref), invalidReference);
    } finally {
      await other.close();
    }
    h.advance(1801);
    try {
      await assert.rejects(h.server.interactions.get(ref), invalidReference);
    } finally {
      h.advance(-1801);
    }
  });

  it('a login reference cannot finish a consent step, nor the other way round', async () => {
    const ref = await start({ prompt: 'consent' });
    await assert.rejects(h.server.interactions.finishConsent(ref), invalidReference);
    const consentRef = new URL((await h.server.interactions.finishLogin(ref, { subject: 'ann' })).redirectTo).searchParams.get('interaction')!;
    await assert.rejects(h.server.interactions.finishLogin(consentRef, { subject: 'mallory' }), invalidReference);
  });

  it('every step of the flow is an event, without the code', async () => {
    const types = new Set(h.events.map((e) => e.type));
    for (const t of ['authorization_code.issued', 'consent.granted', 'authorization.failed', 'grant.issued']) assert.ok(types.has(t as never), t);
    assert.ok(h.events.every((e) => !JSON.stringify(e).includes('rg_ac_')));
  });
});
