/**
 * The authorization endpoint over real HTTP (RFC 6749 section 4.1 under OAuth 2.1 and RFC 9700):
 * every bad request gets its specified answer. When the client or the redirection URI is in
 * doubt, the user sees a page and the browser goes nowhere (section 4.1.2.1); otherwise the error
 * goes to the redirection URI with `state` and `iss` (RFC 9207). Never a 500.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../../support/harness.ts';
import { authorizeUrl, codeRequest, interactionOf, loginPage, pkce, visit } from '../../support/authorize.ts';

describe('authorization endpoint', () => {
  let h: Harness;
  const { challenge } = pkce();
  const web = 'https://app.example/cb';

  before(async () => {
    h = await startHarness({ interactionUrl: loginPage });
    await h.client({ clientId: 'web', scope: 'openid offline_access profile', redirectUris: [web, 'https://app.example/cb?tenant=7'] });
    await h.client({ clientId: 'native', authMethod: 'none', redirectUris: ['http://127.0.0.1/callback', 'com.example.app:/oauth'] });
    await h.client({ clientId: 'par-only', redirectUris: [web], requirePushedAuthorizationRequests: true });
    await h.client({ clientId: 'refresh-only', redirectUris: [web], grantTypes: ['refresh_token'] });
    await h.client({ clientId: 'api', resources: ['https://api.example/'], redirectUris: [web] });
  });
  after(() => h.close());

  const ok = (extra: Record<string, string | undefined> = {}, clientId = 'web', redirectUri = web) => codeRequest(clientId, redirectUri, challenge, extra);

  const shown: Array<{ name: string; params: Record<string, string | undefined> | string; error: string; status?: number }> = [
    { name: 'no client_id', params: ok({ client_id: undefined }), error: 'invalid_request' },
    { name: 'an unknown client_id', params: ok({ client_id: 'nobody' }), error: 'invalid_client' },
    { name: 'client_id twice', params: 'client_id=web&client_id=web&response_type=code', error: 'invalid_request' },
    { name: 'no redirect_uri', params: ok({ redirect_uri: undefined }), error: 'invalid_request' },
    { name: 'an unregistered redirect_uri', params: ok({ redirect_uri: 'https://evil.example/cb' }), error: 'invalid_request' },
    { name: 'a redirect_uri differing by a trailing slash', params: ok({ redirect_uri: web + '/' }), error: 'invalid_request' },
    { name: 'a redirect_uri differing in case', params: ok({ redirect_uri: 'https://APP.example/cb' }), error: 'invalid_request' },
    { name: 'a redirect_uri with an extra query', params: ok({ redirect_uri: web + '?tenant=8' }), error: 'invalid_request' },
    { name: "another client's redirect_uri", params: ok({}, 'native', web), error: 'invalid_request' },
    { name: 'a loopback redirect on another path', params: ok({}, 'native', 'http://127.0.0.1:4000/elsewhere'), error: 'invalid_request' },
    { name: 'a loopback redirect on another host', params: ok({}, 'native', 'http://127.0.0.2:4000/callback'), error: 'invalid_request' },
    { name: 'redirect_uri twice', params: `client_id=web&redirect_uri=${encodeURIComponent(web)}&redirect_uri=${encodeURIComponent(web)}`, error: 'invalid_request' },
    { name: 'an unknown request_uri', params: { client_id: 'web', request_uri: 'urn:ietf:params:oauth:request_uri:nope' }, error: 'invalid_request_uri' },
    { name: 'a request_uri that is not a PAR URN', params: { client_id: 'web', request_uri: 'https://evil.example/request' }, error: 'invalid_request_uri' },
    { name: 'an oversized query (over 8 KiB)', params: ok({ login_hint: 'x'.repeat(9000) }), error: 'invalid_request', status: 414 },
  ];

  for (const t of shown) {
    it(`shows ${t.error} to the user for ${t.name}, redirecting nowhere`, async () => {
      const url = typeof t.params === 'string' ? new URL(`${h.issuer}/authorize?${t.params}`) : authorizeUrl(h, t.params);
      const res = await visit(url);
      assert.equal(res.status, t.status ?? 400, res.text);
      assert.equal(res.location, undefined);
      assert.match(res.headers.get('content-type')!, /^text\/html/);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.match(res.text, new RegExp(`<code>${t.error}</code>`));
    });
  }

  const redirected: Array<{ name: string; params: Record<string, string | undefined>; error: string; clientId?: string; keepsState?: false }> = [
    { name: 'no response_type', params: { response_type: undefined }, error: 'invalid_request' },
    { name: 'response_type=token (implicit)', params: { response_type: 'token' }, error: 'unsupported_response_type' },
    { name: 'response_type=code id_token (hybrid)', params: { response_type: 'code id_token' }, error: 'unsupported_response_type' },
    { name: 'no code_challenge (PKCE missing)', params: { code_challenge: undefined, code_challenge_method: undefined }, error: 'invalid_request' },
    { name: 'code_challenge_method=plain', params: { code_challenge_method: 'plain' }, error: 'invalid_request' },
    { name: 'a code_challenge without its method (defaults to plain)', params: { code_challenge_method: undefined }, error: 'invalid_request' },
    { name: 'a malformed code_challenge', params: { code_challenge: 'short' }, error: 'invalid_request' },
    { name: 'a scope beyond the client', params: { scope: 'openid admin' }, error: 'invalid_scope' },
    { name: 'a malformed scope', params: { scope: 'openid "quoted"' }, error: 'invalid_scope' },
    { name: 'prompt=none with login', params: { prompt: 'none login' }, error: 'invalid_request' },
    { name: 'an unknown prompt', params: { prompt: 'create' }, error: 'invalid_request' },
    { name: 'a negative max_age', params: { max_age: '-1' }, error: 'invalid_request' },
    { name: 'a request object (JAR)', params: { request: 'eyJhbGciOiJub25lIn0.e30.' }, error: 'request_not_supported' },
    { name: 'response_mode=fragment', params: { response_mode: 'fragment' }, error: 'invalid_request' },
    { name: 'a relative resource', params: { resource: 'api' }, error: 'invalid_target' },
    { name: 'a resource the client may not have', params: { resource: 'https://other.example/' }, error: 'invalid_target', clientId: 'api' },
    { name: 'a malformed dpop_jkt', params: { dpop_jkt: 'abc' }, error: 'invalid_request' },
    { name: 'a state over 1024 characters', params: { state: 's'.repeat(1025) }, error: 'invalid_request', keepsState: false },
    { name: 'a client registered to require PAR', params: {}, error: 'invalid_request', clientId: 'par-only' },
    { name: 'a client not allowed the authorization code grant', params: {}, error: 'unauthorized_client', clientId: 'refresh-only' },
  ];

  for (const t of redirected) {
    it(`redirects ${t.error} with state and iss for ${t.name}`, async () => {
      const params = ok(t.params, t.clientId ?? 'web');
      const res = await visit(authorizeUrl(h, params));
      assert.equal(res.status, 303, res.text);
      const to = res.location!;
      assert.equal(to.origin + to.pathname, web);
      assert.equal(to.searchParams.get('error'), t.error);
      assert.equal(typeof to.searchParams.get('error_description'), 'string');
      assert.equal(to.searchParams.get('state'), t.keepsState === false ? null : params.state);
      // RFC 9207: iss in every authorization response, errors included.
      assert.equal(to.searchParams.get('iss'), h.issuer);
      assert.equal(to.searchParams.get('code'), null);
    });
  }

  it('duplicated parameters other than client_id and redirect_uri are redirected invalid_request', async () => {
    const url = authorizeUrl(h, ok());
    url.searchParams.append('scope', 'openid');
    const res = await visit(url);
    assert.equal(res.location?.searchParams.get('error'), 'invalid_request');
  });

  it('sends a valid request to the sign-in page with a sealed interaction reference', async () => {
    const ref = interactionOf(await visit(authorizeUrl(h, ok({ nonce: 'n-1', login_hint: 'alice@example.com', max_age: '300' }))));
    // Sealed: nothing of the request is readable in it.
    assert.doesNotMatch(Buffer.from(ref, 'base64url').toString('latin1'), /alice|app\.example/);
    const details = await h.server.interactions.get(ref);
    assert.equal(details.step, 'login');
    assert.equal(details.clientId, 'web');
    assert.deepEqual(details.scope, ['openid', 'offline_access']);
    assert.equal(details.loginHint, 'alice@example.com');
    assert.equal(details.maxAge, 300);
  });

  it('keeps the query of a registered redirect_uri when answering there', async () => {
    const res = await visit(authorizeUrl(h, ok({ response_type: 'token' }, 'web', 'https://app.example/cb?tenant=7')));
    assert.equal(res.location?.searchParams.get('tenant'), '7');
    assert.equal(res.location?.searchParams.get('error'), 'unsupported_response_type');
  });

  it('accepts a loopback redirect on any port (RFC 8252 section 7.3) and a private-use scheme', async () => {
    for (const uri of ['http://127.0.0.1:49152/callback', 'http://127.0.0.1/callback', 'com.example.app:/oauth']) {
      interactionOf(await visit(authorizeUrl(h, ok({}, 'native', uri))));
    }
  });

  it('accepts the request as a form POST (OIDC Core section 3.1.2.1)', async () => {
    const params = Object.fromEntries(Object.entries(ok()).filter((e): e is [string, string] => e[1] !== undefined));
    interactionOf(await visit(`${h.issuer}/authorize`, { form: params }));
    const wrongType = await visit(`${h.issuer}/authorize`, { form: params, headers: { 'content-type': 'application/json' } });
    assert.equal(wrongType.status, 400);
    assert.equal(wrongType.location, undefined);
  });

  it('an oversized form gets 413, as a page (over 8 KiB) or, past the 64 KiB body limit, as JSON; a query past Node\'s header limit 431', async () => {
    const params = Object.fromEntries(Object.entries(ok({ login_hint: 'x'.repeat(9000) })).filter((e): e is [string, string] => e[1] !== undefined));
    const page = await visit(`${h.issuer}/authorize`, { form: params });
    assert.equal(page.status, 413);
    assert.match(page.headers.get('content-type')!, /text\/html/);
    const huge = await visit(`${h.issuer}/authorize`, { form: { ...params, login_hint: 'x'.repeat(70_000) } });
    assert.equal(huge.status, 413);
    assert.equal(JSON.parse(huge.text).error, 'invalid_request');
    const longQuery = await visit(authorizeUrl(h, ok({ login_hint: 'x'.repeat(20_000) })));
    assert.equal(longQuery.status, 431);
    // The server still answers afterwards.
    interactionOf(await visit(authorizeUrl(h, ok())));
  });

  it('escapes nothing it did not write: the error page never reflects request input', async () => {
    const res = await visit(authorizeUrl(h, ok({ client_id: '<script>alert(1)</script>' })));
    assert.equal(res.status, 400);
    assert.doesNotMatch(res.text, /<script>/);
  });

  it('without a sign-in page configured, answers server_error at the redirection URI', async () => {
    const bare = await startHarness();
    try {
      await bare.client({ clientId: 'web', redirectUris: [web] });
      const res = await visit(authorizeUrl(bare, codeRequest('web', web, challenge)));
      assert.equal(res.location?.searchParams.get('error'), 'server_error');
      assert.equal(res.location?.searchParams.get('iss'), bare.issuer);
    } finally {
      await bare.close();
    }
  });
});
