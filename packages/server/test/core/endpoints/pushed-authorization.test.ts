/**
 * Pushed authorization requests (RFC 9126) over real HTTP: the client pushes its request
 * (authenticated), gets a one-time `request_uri`, and the authorization endpoint uses the
 * pushed request alone; clients registered so must push; errors at the PAR endpoint are JSON.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../../support/harness.ts';
import { authorizeUrl, codeRequest, exchange, interactionOf, loginPage, pkce, visit } from '../../support/authorize.ts';
import { proof, proofKey } from '../../support/dpop.ts';

describe('pushed authorization requests (RFC 9126)', () => {
  let h: Harness;
  let auth: Record<string, string>;
  const redirectUri = 'https://app.example/cb';
  const { verifier, challenge } = pkce();

  before(async () => {
    h = await startHarness({ interactionUrl: loginPage });
    const c = await h.client({ clientId: 'par-only', scope: 'openid offline_access', redirectUris: [redirectUri], requirePushedAuthorizationRequests: true });
    auth = h.basic(c.clientId, c.clientSecret);
    await h.client({ clientId: 'spa', authMethod: 'none', redirectUris: [redirectUri] });
  });
  after(() => h.close());

  const fields = (extra: Record<string, string | undefined> = {}) =>
    Object.fromEntries(Object.entries(codeRequest('par-only', redirectUri, challenge, extra)).filter((e): e is [string, string] => e[1] !== undefined));

  it('pushes, signs in with the request_uri, and exchanges the code', async () => {
    const pushed = await h.post('/par', fields({ nonce: 'n-par' }), auth);
    assert.equal(pushed.status, 201, pushed.text);
    assert.equal(pushed.headers.get('cache-control'), 'no-store');
    assert.match(pushed.json.request_uri, /^urn:ietf:params:oauth:request_uri:[A-Za-z0-9_-]{43}$/);
    assert.equal(pushed.json.expires_in, 60);
    // The query has only client_id and request_uri; anything else is ignored.
    const ref = interactionOf(await visit(authorizeUrl(h, { client_id: 'par-only', request_uri: pushed.json.request_uri, scope: 'ignored' })));
    const details = await h.server.interactions.get(ref);
    assert.deepEqual(details.scope, ['openid', 'offline_access']);
    let next = new URL((await h.server.interactions.finishLogin(ref, { subject: 'pat' })).redirectTo);
    next = new URL((await h.server.interactions.finishConsent(next.searchParams.get('interaction'))).redirectTo);
    const tokens = await exchange(h, { code: next.searchParams.get('code')!, redirect_uri: redirectUri, code_verifier: verifier }, auth);
    assert.equal(tokens.status, 200, tokens.text);
    assert.equal(JSON.parse(Buffer.from(tokens.json.id_token.split('.')[1], 'base64url').toString()).nonce, 'n-par');
  });

  it('a request_uri works once, and not after it expired, nor for another client', async () => {
    const once = (await h.post('/par', fields(), auth)).json.request_uri;
    interactionOf(await visit(authorizeUrl(h, { client_id: 'par-only', request_uri: once })));
    const again = await visit(authorizeUrl(h, { client_id: 'par-only', request_uri: once }));
    assert.equal(again.status, 400);
    assert.match(again.text, /invalid_request_uri/);

    const late = (await h.post('/par', fields(), auth)).json.request_uri;
    h.advance(61);
    try {
      assert.match((await visit(authorizeUrl(h, { client_id: 'par-only', request_uri: late }))).text, /invalid_request_uri/);
    } finally {
      h.advance(-61);
    }

    const foreign = (await h.post('/par', fields(), auth)).json.request_uri;
    const stolen = await visit(authorizeUrl(h, { client_id: 'spa', request_uri: foreign }));
    assert.equal(stolen.status, 400);
    assert.equal(stolen.location, undefined);
    const noClient = await visit(authorizeUrl(h, { request_uri: (await h.post('/par', fields(), auth)).json.request_uri }));
    assert.equal(noClient.status, 400);
  });

  const refusals: Array<{ name: string; form: Record<string, string>; headers?: Record<string, string>; status: number; error: string }> = [
    { name: 'no client authentication', form: { ...fields(), client_id: 'par-only' }, headers: {}, status: 401, error: 'invalid_client' },
    { name: 'a request_uri in the pushed request', form: { ...fields(), request_uri: 'urn:ietf:params:oauth:request_uri:x' }, status: 400, error: 'invalid_request' },
    { name: 'an unregistered redirect_uri', form: { ...fields(), redirect_uri: 'https://evil.example/cb' }, status: 400, error: 'invalid_request' },
    { name: 'no PKCE', form: Object.fromEntries(Object.entries(fields()).filter(([k]) => !k.startsWith('code_challenge'))), status: 400, error: 'invalid_request' },
    { name: 'plain PKCE', form: { ...fields(), code_challenge_method: 'plain' }, status: 400, error: 'invalid_request' },
    { name: 'response_type=token', form: { ...fields(), response_type: 'token' }, status: 400, error: 'unsupported_response_type' },
    { name: 'a scope beyond the client', form: { ...fields(), scope: 'admin' }, status: 400, error: 'invalid_scope' },
    { name: 'a client_id of another client', form: { ...fields(), client_id: 'spa' }, status: 400, error: 'invalid_request' },
  ];
  for (const t of refusals) {
    it(`refuses ${t.name}: ${t.status} ${t.error} as JSON`, async () => {
      const res = await h.post('/par', t.form, t.headers ?? auth);
      assert.equal(res.status, t.status, res.text);
      assert.equal(res.json.error, t.error);
    });
  }

  it('a DPoP proof at the PAR endpoint binds the code to its key (RFC 9449 section 10.1)', async () => {
    const key = await proofKey();
    const other = await proofKey();
    const mismatch = await h.post('/par', fields({ dpop_jkt: other.jkt }), { ...auth, dpop: await proof(key, 'POST', `${h.issuer}/par`) });
    assert.equal(mismatch.json.error, 'invalid_request');
    const pushed = await h.post('/par', fields(), { ...auth, dpop: await proof(key, 'POST', `${h.issuer}/par`) });
    assert.equal(pushed.status, 201, pushed.text);
    const ref = interactionOf(await visit(authorizeUrl(h, { client_id: 'par-only', request_uri: pushed.json.request_uri })));
    const to = new URL((await h.server.interactions.finishLogin(ref, { subject: 'pat' })).redirectTo);
    const code = to.searchParams.get('code')!;
    assert.ok(code, to.href);
    const base = { code, redirect_uri: redirectUri, code_verifier: verifier };
    assert.equal((await exchange(h, base, auth)).json.error, 'invalid_grant');
    const ok = await exchange(h, base, { ...auth, dpop: await proof(key, 'POST', h.tokenEndpoint) });
    assert.equal(ok.status, 200, ok.text);
  });
});
