/**
 * The development login over real HTTP, driven the way curl drives it (plain GETs and form
 * POSTs, no script): the demo client's start page, the sign-in form with its one `subject`
 * field, the consent page listing the scopes, the callback that shows a refresh token, and
 * refreshes that rotate it. Also with a client of one's own, and prompt=none.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../../support/harness.ts';
import { authorizeUrl, codeRequest, exchange, interactionField, pkce, visit, type Answer } from '../../support/authorize.ts';

/** The JSON token response a tokens page shows. */
function shownTokens(page: Answer): Record<string, string> {
  const match = /<pre id="tokens">([\s\S]*?)<\/pre>/.exec(page.text);
  assert.ok(match, page.text);
  return JSON.parse(match[1].replaceAll('&quot;', '"').replaceAll('&amp;', '&'));
}

describe('development login (serve --dev-login)', () => {
  let h: Harness;
  const redirectUri = 'https://app.example/cb';

  before(async () => {
    h = await startHarness({ devLogin: true });
    await h.client({ clientId: 'mine', authMethod: 'none', redirectUris: [redirectUri] });
  });
  after(() => h.close());

  it('registers its demo client, a public client redirecting to /dev-login/callback', async () => {
    const demo = await h.store.getClient('dev-login-demo');
    assert.equal(demo?.authMethod, 'none');
    assert.deepEqual(demo?.redirectUris, [`${h.issuer}/dev-login/callback`]);
  });

  it('start, sign in, consent, callback: a refresh token that rotates on every refresh', async () => {
    const start = await visit(`${h.issuer}/dev-login/start`);
    assert.equal(start.status, 303);
    const cookie = start.headers.get('set-cookie')!.split(';')[0];
    assert.equal(start.location!.origin + start.location!.pathname, `${h.issuer}/authorize`);

    const toLogin = await visit(start.location!);
    assert.equal(toLogin.location!.origin + toLogin.location!.pathname, `${h.issuer}/dev-login`);
    const form = await visit(toLogin.location!);
    assert.equal(form.status, 200);
    assert.match(form.text, /not for production/);
    assert.match(form.text, /<input type="text" name="subject"/);

    const consentStep = await visit(`${h.issuer}/dev-login`, { form: { interaction: interactionField(form), subject: 'dev-user', decision: 'sign-in' } });
    assert.equal(consentStep.status, 303);
    const consent = await visit(consentStep.location!);
    assert.match(consent.text, /Allow dev-login-demo access\?/);
    for (const scope of ['openid', 'offline_access', 'profile']) assert.match(consent.text, new RegExp(`<code>${scope}</code>`));

    const back = await visit(`${h.issuer}/dev-login`, { form: { interaction: interactionField(consent), decision: 'allow' } });
    assert.equal(back.location!.origin + back.location!.pathname, `${h.issuer}/dev-login/callback`);
    assert.equal(back.location!.searchParams.get('iss'), h.issuer);

    const done = await visit(back.location!, { headers: { cookie } });
    assert.equal(done.status, 200, done.text);
    const tokens = shownTokens(done);
    assert.match(tokens.refresh_token, /^rg_rt_/);
    assert.equal(tokens.scope, 'openid offline_access profile');

    // The Refresh button: a form POST with the refresh token; each one rotates it.
    const first = shownTokens(await visit(`${h.issuer}/dev-login/callback`, { form: { refresh_token: tokens.refresh_token } }));
    assert.match(first.refresh_token, /^rg_rt_/);
    assert.notEqual(first.refresh_token, tokens.refresh_token);
    const second = shownTokens(await visit(`${h.issuer}/dev-login/callback`, { form: { refresh_token: first.refresh_token } }));
    assert.notEqual(second.refresh_token, first.refresh_token);
    // The curl printed on the page refreshes too (the same request, over HTTP).
    const curl = await h.post('/token', { grant_type: 'refresh_token', client_id: 'dev-login-demo', refresh_token: second.refresh_token });
    assert.equal(curl.status, 200, curl.text);
  });

  it('the callback refuses a state this browser did not start, and shows errors as pages', async () => {
    const start = await visit(`${h.issuer}/dev-login/start`);
    const toLogin = await visit(start.location!);
    const form = await visit(toLogin.location!);
    const consentStep = await visit(`${h.issuer}/dev-login`, { form: { interaction: interactionField(form), subject: 'dev-user', decision: 'sign-in' } });
    // dev-user consented before: straight back to the callback.
    assert.equal(consentStep.location!.pathname, '/dev-login/callback');
    const withoutCookie = await visit(consentStep.location!);
    assert.equal(withoutCookie.status, 400);
    assert.match(withoutCookie.headers.get('content-type')!, /text\/html/);
    assert.match(withoutCookie.text, /state/);
  });

  it('works for any client: a curl-style flow with a client of one\'s own', async () => {
    const { verifier, challenge } = pkce();
    const toLogin = await visit(authorizeUrl(h, codeRequest('mine', redirectUri, challenge, { scope: 'openid offline_access' })));
    const form = await visit(toLogin.location!);
    const consent = await visit(`${h.issuer}/dev-login`, { form: { interaction: interactionField(form), subject: 'curl-user' } });
    const back = await visit(`${h.issuer}/dev-login`, { form: { interaction: interactionField(await visit(consent.location!)), decision: 'allow' } });
    const code = back.location!.searchParams.get('code')!;
    const tokens = await exchange(h, { client_id: 'mine', code, redirect_uri: redirectUri, code_verifier: verifier });
    assert.equal(tokens.status, 200, tokens.text);
    assert.match(tokens.json.refresh_token, /^rg_rt_/);
  });

  it('Cancel and Deny end with access_denied; an empty subject shows the form again', async () => {
    const { challenge } = pkce();
    const start = () => visit(authorizeUrl(h, codeRequest('mine', redirectUri, challenge, { prompt: 'consent' }))).then((r) => visit(r.location!));
    const cancelled = await visit(`${h.issuer}/dev-login`, { form: { interaction: interactionField(await start()), decision: 'deny' } });
    assert.equal(cancelled.location!.searchParams.get('error'), 'access_denied');

    const form = await start();
    const empty = await visit(`${h.issuer}/dev-login`, { form: { interaction: interactionField(form), subject: '  ' } });
    assert.equal(empty.status, 400);
    assert.match(empty.text, /Enter a subject/);
    const consent = await visit(`${h.issuer}/dev-login`, { form: { interaction: interactionField(form), subject: 'curl-user' } });
    const denied = await visit(`${h.issuer}/dev-login`, { form: { interaction: interactionField(await visit(consent.location!)), decision: 'deny' } });
    assert.equal(denied.location!.searchParams.get('error'), 'access_denied');
  });

  it('keeps no session: prompt=none ends at the redirection URI with login_required', async () => {
    const { challenge } = pkce();
    const params = codeRequest('mine', redirectUri, challenge, { prompt: 'none' });
    const toLogin = await visit(authorizeUrl(h, params));
    const answer = await visit(toLogin.location!);
    assert.equal(answer.status, 303);
    assert.equal(answer.location!.origin + answer.location!.pathname, redirectUri);
    assert.equal(answer.location!.searchParams.get('error'), 'login_required');
    assert.equal(answer.location!.searchParams.get('state'), params.state);
  });

  it('a bad or used interaction is a page, never a 500', async () => {
    for (const page of [await visit(`${h.issuer}/dev-login`), await visit(`${h.issuer}/dev-login?interaction=forged`), await visit(`${h.issuer}/dev-login`, { form: { interaction: 'x', subject: 'a' } })]) {
      assert.equal(page.status, 400);
      assert.match(page.headers.get('content-type')!, /text\/html/);
    }
  });
});
