/**
 * The authorization code grant at the token endpoint, over real HTTP on a real SQLite file:
 * the exchange and its id_token (nonce, auth_time, at_hash), every refused code with its
 * answer, single use (a replay, sequential or concurrent, revokes the family the code created),
 * DPoP binding at the exchange, and the family rotating as every family does.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { startHarness, type Harness } from '../../support/harness.ts';
import { codeRequest, exchange, loginPage, pkce, signIn } from '../../support/authorize.ts';
import { proof, proofKey } from '../../support/dpop.ts';

describe('authorization_code grant', () => {
  let h: Harness;
  let secret: string;
  const redirectUri = 'https://app.example/cb';
  const nativeRedirect = 'http://127.0.0.1/cb';

  before(async () => {
    h = await startHarness({ interactionUrl: loginPage });
    await h.client({ clientId: 'pub', authMethod: 'none', scope: 'openid offline_access profile', redirectUris: [redirectUri, nativeRedirect] });
    secret = (await h.client({ clientId: 'conf', scope: 'openid offline_access', redirectUris: [redirectUri] })).clientSecret;
    await h.client({ clientId: 'other', authMethod: 'none', redirectUris: [redirectUri] });
  });
  after(() => h.close());

  /** A fresh code for `clientId`, the verifier that goes with it, and its request. */
  async function code(clientId = 'pub', extra: Record<string, string | undefined> = {}, subject = 'alice') {
    const { verifier, challenge } = pkce();
    const params = codeRequest(clientId, extra.redirect_uri ?? redirectUri, challenge, { nonce: 'n-' + verifier.slice(0, 8), ...extra });
    const authTime = Math.floor(Date.now() / 1000) - 7;
    const to = await signIn(h, params, { subject, authTime });
    const value = to.searchParams.get('code');
    assert.ok(value, to.href);
    return { code: value, verifier, params, authTime };
  }

  it('exchanges a code for tokens; the id_token carries nonce, auth_time and at_hash; the family rotates', async () => {
    const c = await code();
    const res = await exchange(h, { client_id: 'pub', code: c.code, redirect_uri: redirectUri, code_verifier: c.verifier });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(res.json.token_type, 'Bearer');
    assert.equal(res.json.scope, 'openid offline_access');
    assert.match(res.json.refresh_token, /^rg_rt_/);
    const { payload } = await jwtVerify(res.json.id_token, createRemoteJWKSet(new URL(`${h.issuer}/jwks`)), { issuer: h.issuer, audience: 'pub' });
    assert.equal(payload.sub, 'alice');
    assert.equal(payload.nonce, c.params.nonce);
    assert.equal(payload.auth_time, c.authTime, 'the authentication time the application reported');
    const digest = createHash('sha256').update(res.json.access_token).digest();
    assert.equal(payload.at_hash, digest.subarray(0, 16).toString('base64url'));

    // The refresh grant rotates this family as any other; a refreshed id_token has no nonce.
    const refreshed = await h.post('/token', { grant_type: 'refresh_token', client_id: 'pub', refresh_token: res.json.refresh_token });
    assert.equal(refreshed.status, 200, refreshed.text);
    assert.notEqual(refreshed.json.refresh_token, res.json.refresh_token);
    assert.equal(JSON.parse(Buffer.from(refreshed.json.id_token.split('.')[1], 'base64url').toString()).nonce, undefined);
  });

  it('a confidential client exchanges with its own authentication', async () => {
    const c = await code('conf');
    const res = await exchange(h, { code: c.code, redirect_uri: redirectUri, code_verifier: c.verifier }, h.basic('conf', secret));
    assert.equal(res.status, 200, res.text);
    const wrong = await code('conf');
    const unauth = await exchange(h, { client_id: 'conf', code: wrong.code, redirect_uri: redirectUri, code_verifier: wrong.verifier });
    assert.equal(unauth.status, 401);
    assert.equal(unauth.json.error, 'invalid_client');
  });

  const refusals: Array<{ name: string; change: (c: { code: string; verifier: string }) => Record<string, string | undefined>; status?: number; error: string }> = [
    { name: 'no code', change: () => ({ code: undefined }), error: 'invalid_request' },
    { name: 'no redirect_uri', change: () => ({ redirect_uri: undefined }), error: 'invalid_request' },
    { name: 'no code_verifier (PKCE)', change: () => ({ code_verifier: undefined }), error: 'invalid_request' },
    { name: 'an unknown code', change: () => ({ code: 'rg_ac_' + 'A'.repeat(43) }), error: 'invalid_grant' },
    { name: 'a wrong code_verifier', change: () => ({ code_verifier: pkce().verifier }), error: 'invalid_grant' },
    { name: 'the code_challenge as verifier (plain)', change: (c) => ({ code_verifier: createHash('sha256').update(c.verifier).digest('base64url') }), error: 'invalid_grant' },
    { name: 'a too short code_verifier', change: () => ({ code_verifier: 'abc' }), error: 'invalid_grant' },
    { name: 'a different redirect_uri', change: () => ({ redirect_uri: 'https://app.example/cb2' }), error: 'invalid_grant' },
    { name: 'a registered but different redirect_uri', change: () => ({ redirect_uri: nativeRedirect }), error: 'invalid_grant' },
  ];

  for (const t of refusals) {
    it(`refuses ${t.name} with ${t.error}, and the code still works afterwards`, async () => {
      const c = await code();
      const fields = { client_id: 'pub', code: c.code, redirect_uri: redirectUri, code_verifier: c.verifier, ...t.change(c) };
      const res = await exchange(h, Object.fromEntries(Object.entries(fields).filter((e): e is [string, string] => e[1] !== undefined)));
      assert.equal(res.status, t.status ?? 400, res.text);
      assert.equal(res.json.error, t.error);
      // A refused attempt does not consume the code: the client with the right values still gets tokens.
      const ok = await exchange(h, { client_id: 'pub', code: c.code, redirect_uri: redirectUri, code_verifier: c.verifier });
      assert.equal(ok.status, 200, ok.text);
    });
  }

  it("refuses another client's code, which its own client can still use", async () => {
    const c = await code();
    const res = await exchange(h, { client_id: 'other', code: c.code, redirect_uri: redirectUri, code_verifier: c.verifier });
    assert.equal(res.json.error, 'invalid_grant');
    assert.equal((await exchange(h, { client_id: 'pub', code: c.code, redirect_uri: redirectUri, code_verifier: c.verifier })).status, 200);
  });

  it('refuses an expired code (60 s)', async () => {
    const c = await code();
    h.advance(61);
    try {
      const res = await exchange(h, { client_id: 'pub', code: c.code, redirect_uri: redirectUri, code_verifier: c.verifier });
      assert.equal(res.json.error, 'invalid_grant');
    } finally {
      h.advance(-61);
    }
  });

  it('a second use is refused and revokes the family the first use created (RFC 6749 section 4.1.2)', async () => {
    const c = await code();
    const fields = { client_id: 'pub', code: c.code, redirect_uri: redirectUri, code_verifier: c.verifier };
    const first = await exchange(h, fields);
    assert.equal(first.status, 200);
    const second = await exchange(h, fields);
    assert.equal(second.status, 400);
    assert.equal(second.json.error, 'invalid_grant');
    const refresh = await h.post('/token', { grant_type: 'refresh_token', client_id: 'pub', refresh_token: first.json.refresh_token });
    assert.equal(refresh.json.error, 'invalid_grant', 'the refresh token of the first exchange is revoked');
    const familyId = h.events.filter((e) => e.type === 'authorization_code.replayed').at(-1)!.familyId!;
    assert.equal((await h.store.getGrant(familyId))?.revokedReason, 'code_replay');
    // Even after the code expired, a used code is remembered.
    h.advance(600);
    try {
      assert.equal((await exchange(h, fields)).json.error, 'invalid_grant');
      assert.equal(h.events.filter((e) => e.type === 'authorization_code.replayed' && e.familyId === familyId).length, 2);
    } finally {
      h.advance(-600);
    }
  });

  it('10 concurrent exchanges of one code: one gets tokens, the others revoke them', async () => {
    const c = await code();
    const fields = { client_id: 'pub', code: c.code, redirect_uri: redirectUri, code_verifier: c.verifier };
    const answers = await Promise.all(Array.from({ length: 10 }, () => exchange(h, fields)));
    assert.deepEqual(answers.map((a) => a.status).sort(), [200, 400, 400, 400, 400, 400, 400, 400, 400, 400]);
    const winner = answers.find((a) => a.status === 200)!;
    const refresh = await h.post('/token', { grant_type: 'refresh_token', client_id: 'pub', refresh_token: winner.json.refresh_token });
    assert.equal(refresh.json.error, 'invalid_grant');
    assert.ok(answers.every((a) => a.status === 200 || a.json.error === 'invalid_grant'));
  });

  it('DPoP at the exchange binds a public client\'s family to the key (RFC 9449 section 5)', async () => {
    const key = await proofKey();
    const c = await code();
    const res = await exchange(h, { client_id: 'pub', code: c.code, redirect_uri: redirectUri, code_verifier: c.verifier }, { dpop: await proof(key, 'POST', h.tokenEndpoint) });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.token_type, 'DPoP');
    const grant = (await h.store.listGrants({ clientId: 'pub' }))[0];
    assert.equal(grant.dpopJkt, key.jkt);
    const withoutProof = await h.post('/token', { grant_type: 'refresh_token', client_id: 'pub', refresh_token: res.json.refresh_token });
    assert.equal(withoutProof.json.error, 'invalid_grant');
    const withProof = await h.post('/token', { grant_type: 'refresh_token', client_id: 'pub', refresh_token: res.json.refresh_token }, { dpop: await proof(key, 'POST', h.tokenEndpoint) });
    assert.equal(withProof.status, 200, withProof.text);
  });

  it('a confidential client\'s proof binds its access token, not its family', async () => {
    const key = await proofKey();
    const c = await code('conf');
    const res = await exchange(h, { code: c.code, redirect_uri: redirectUri, code_verifier: c.verifier }, { ...h.basic('conf', secret), dpop: await proof(key, 'POST', h.tokenEndpoint) });
    assert.equal(res.json.token_type, 'DPoP');
    assert.equal((await h.store.listGrants({ clientId: 'conf' }))[0].dpopJkt, undefined);
  });

  it('dpop_jkt in the authorization request: the exchange needs a proof by that key (RFC 9449 section 10)', async () => {
    const key = await proofKey();
    const other = await proofKey();
    const c = await code('pub', { dpop_jkt: key.jkt });
    const fields = { client_id: 'pub', code: c.code, redirect_uri: redirectUri, code_verifier: c.verifier };
    assert.equal((await exchange(h, fields)).json.error, 'invalid_grant');
    assert.equal((await exchange(h, fields, { dpop: await proof(other, 'POST', h.tokenEndpoint) })).json.error, 'invalid_grant');
    const ok = await exchange(h, fields, { dpop: await proof(key, 'POST', h.tokenEndpoint) });
    assert.equal(ok.status, 200, ok.text);
  });

  it('a loopback redirect on any port is exchanged with that same URI', async () => {
    const c = await code('pub', { redirect_uri: 'http://127.0.0.1:43210/cb' });
    const res = await exchange(h, { client_id: 'pub', code: c.code, redirect_uri: 'http://127.0.0.1:43210/cb', code_verifier: c.verifier });
    assert.equal(res.status, 200, res.text);
  });

  it('a client not allowed the refresh grant gets no refresh token; without offline_access neither', async () => {
    await h.client({ clientId: 'no-refresh', authMethod: 'none', redirectUris: [redirectUri], grantTypes: ['authorization_code'] });
    const c = await code('no-refresh');
    const res = await exchange(h, { client_id: 'no-refresh', code: c.code, redirect_uri: redirectUri, code_verifier: c.verifier });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.refresh_token, undefined);
    const openidOnly = await code('pub', { scope: 'openid profile' });
    const plain = await exchange(h, { client_id: 'pub', code: openidOnly.code, redirect_uri: redirectUri, code_verifier: openidOnly.verifier });
    assert.equal(plain.status, 200, plain.text);
    assert.equal(plain.json.refresh_token, undefined, 'OIDC Core section 11: openid without offline_access');
    assert.ok(plain.json.id_token);
  });

  it('never stores a code: only its hash', async () => {
    const c = await code();
    const { DatabaseSync } = await import('node:sqlite');
    const db = new DatabaseSync(`${h.dir}/test.db`, { readOnly: true });
    try {
      const rows = db.prepare('SELECT * FROM authorization_codes').all();
      assert.ok(rows.length > 0);
      assert.ok(!JSON.stringify(rows).includes(c.code));
      assert.ok(!JSON.stringify(rows).includes(c.verifier));
    } finally {
      db.close();
    }
  });
});
