/**
 * UserInfo (OIDC Core section 5.3) over real HTTP: claims from the application's callback,
 * released by scope (section 5.4), for JWT and opaque access tokens, Bearer and DPoP-bound;
 * every refusal with its RFC 6750 challenge.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../../support/harness.ts';
import { proof, proofKey } from '../../support/dpop.ts';

describe('UserInfo endpoint', () => {
  let h: Harness;
  const asked: Array<{ subject: string; clientId: string; scope: string[] }> = [];
  const people: Record<string, Record<string, unknown>> = {
    alice: { name: 'Alice Liddell', email: 'alice@example.com', email_verified: true, phone_number: '+1 555', tenant: 'wonderland', sub: 'forged' },
  };

  before(async () => {
    h = await startHarness({
      userClaims: async (subject, context) => {
        asked.push({ subject, ...context });
        return people[subject];
      },
    });
    await h.client({ clientId: 'app', authMethod: 'none' });
    await h.client({ clientId: 'opaque', authMethod: 'none', accessTokenFormat: 'opaque' });
    await h.client({ clientId: 'api', authMethod: 'none', resources: ['https://api.example/'] });
  });
  after(() => h.close());

  const userinfo = (headers: Record<string, string>, init: { method?: string; body?: string } = {}) =>
    fetch(`${h.issuer}/userinfo`, { method: init.method ?? 'GET', headers, body: init.body }).then(async (r) => ({ status: r.status, headers: r.headers, json: await r.json().catch(() => undefined) }));

  it('answers with the claims of the granted scopes, sub always the token\'s', async () => {
    const { tokens } = await h.server.issueGrant({ clientId: 'app', subject: 'alice', scope: 'openid email' });
    const res = await userinfo({ authorization: `Bearer ${tokens.access_token}` });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    // email released, name (profile) and phone_number (phone) not; the application's own claim passes; sub is ours.
    assert.deepEqual(res.json, { email: 'alice@example.com', email_verified: true, tenant: 'wonderland', sub: 'alice' });
    assert.deepEqual(asked.at(-1), { subject: 'alice', clientId: 'app', scope: ['openid', 'email'] });
  });

  it('works with opaque access tokens and with the token in a form body (RFC 6750 section 2.2)', async () => {
    const { tokens } = await h.server.issueGrant({ clientId: 'opaque', subject: 'alice', scope: 'openid profile' });
    assert.match(tokens.access_token, /^rg_at_/);
    const res = await userinfo({ 'content-type': 'application/x-www-form-urlencoded' }, { method: 'POST', body: `access_token=${tokens.access_token}` });
    assert.equal(res.status, 200);
    assert.equal(res.json.name, 'Alice Liddell');
    assert.equal(res.json.email, undefined);
  });

  it('a subject the application does not know gets sub alone', async () => {
    const { tokens } = await h.server.issueGrant({ clientId: 'app', subject: 'ghost', scope: 'openid profile' });
    assert.deepEqual((await userinfo({ authorization: `Bearer ${tokens.access_token}` })).json, { sub: 'ghost' });
  });

  it('DPoP-bound tokens need the DPoP scheme and a proof by their key with ath', async () => {
    const key = await proofKey();
    const { tokens } = await h.server.issueGrant({ clientId: 'app', subject: 'alice', scope: 'openid', dpopJkt: key.jkt });
    assert.equal(tokens.token_type, 'DPoP');
    const url = `${h.issuer}/userinfo`;
    const asBearer = await userinfo({ authorization: `Bearer ${tokens.access_token}` });
    assert.equal(asBearer.status, 401);
    assert.match(asBearer.headers.get('www-authenticate')!, /^DPoP .*error="invalid_token"/);
    const noProof = await userinfo({ authorization: `DPoP ${tokens.access_token}` });
    assert.equal(noProof.status, 401);
    const otherKey = await userinfo({ authorization: `DPoP ${tokens.access_token}`, dpop: await proof(await proofKey(), 'GET', url, tokens.access_token) });
    assert.equal(otherKey.status, 401);
    const noAth = await userinfo({ authorization: `DPoP ${tokens.access_token}`, dpop: await proof(key, 'GET', url) });
    assert.equal(noAth.status, 401);
    const ok = await userinfo({ authorization: `DPoP ${tokens.access_token}`, dpop: await proof(key, 'GET', url, tokens.access_token) });
    assert.equal(ok.status, 200);
    assert.equal(ok.json.sub, 'alice');
  });

  it('with server nonces required, a proof without one gets 401 use_dpop_nonce and a DPoP-Nonce to retry with (RFC 9449 section 9)', async () => {
    const strict = await startHarness({ dpop: { requireNonce: true } });
    try {
      await strict.client({ clientId: 'app', authMethod: 'none' });
      const key = await proofKey();
      const { tokens } = await strict.server.issueGrant({ clientId: 'app', subject: 'alice', scope: 'openid', dpopJkt: key.jkt });
      const url = `${strict.issuer}/userinfo`;
      const ask = (dpop: string) => fetch(url, { headers: { authorization: `DPoP ${tokens.access_token}`, dpop } });
      const first = await ask(await proof(key, 'GET', url, tokens.access_token));
      assert.equal(first.status, 401);
      assert.match(first.headers.get('www-authenticate')!, /^DPoP .*error="use_dpop_nonce"/);
      const nonce = first.headers.get('dpop-nonce')!;
      assert.ok(nonce);
      const retried = await ask(await proof(key, 'GET', url, tokens.access_token, nonce));
      assert.equal(retried.status, 200, await retried.clone().text());
      assert.equal((await retried.json()).sub, 'alice');
    } finally {
      await strict.close();
    }
  });

  it('refusals, each with its status and challenge', async () => {
    const valid = (await h.server.issueGrant({ clientId: 'app', subject: 'alice', scope: 'openid' })).tokens.access_token;
    const noOpenid = (await h.server.issueGrant({ clientId: 'app', subject: 'alice', scope: 'email' })).tokens.access_token;
    const forApi = (await h.server.issueGrant({ clientId: 'api', subject: 'alice', scope: 'openid', resources: ['https://api.example/'] })).tokens.access_token;
    const revoked = await h.server.issueGrant({ clientId: 'app', subject: 'alice', scope: 'openid' });
    await h.server.revokeGrant(revoked.familyId);

    const none = await userinfo({});
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), `Bearer realm="${h.issuer}"`, 'no error code without credentials (RFC 6750 section 3.1)');

    const table: Array<[string, Record<string, string>, number, string, { method?: string; body?: string }?]> = [
      ['a token we never issued', { authorization: 'Bearer rg_at_nope' }, 401, 'invalid_token'],
      ['a garbage JWT', { authorization: 'Bearer a.b.c' }, 401, 'invalid_token'],
      ['a refresh token', { authorization: `Bearer ${revoked.tokens.refresh_token}` }, 401, 'invalid_token'],
      ['a token of a revoked family', { authorization: `Bearer ${revoked.tokens.access_token}` }, 401, 'invalid_token'],
      ['a token for another audience', { authorization: `Bearer ${forApi}` }, 401, 'invalid_token'],
      ['a bearer token with the DPoP scheme', { authorization: `DPoP ${valid}` }, 401, 'invalid_token'],
      ['a token without openid', { authorization: `Bearer ${noOpenid}` }, 403, 'insufficient_scope'],
      ['a malformed Authorization header', { authorization: 'Basic abc' }, 400, 'invalid_request'],
      ['a token in the header and the body', { authorization: `Bearer ${valid}`, 'content-type': 'application/x-www-form-urlencoded' }, 400, 'invalid_request', { method: 'POST', body: `access_token=${valid}` }],
    ];
    for (const [name, headers, status, error, init] of table) {
      const res = await userinfo(headers, init);
      assert.equal(res.status, status, name);
      assert.equal(res.json.error, error, name);
      if (status !== 400) assert.match(res.headers.get('www-authenticate')!, new RegExp(`error="${error}"`), name);
    }
    h.advance(901);
    try {
      assert.equal((await userinfo({ authorization: `Bearer ${valid}` })).status, 401, 'expired');
    } finally {
      h.advance(-901);
    }
  });
});
