/**
 * Revocation (RFC 7009) and introspection (RFC 7662) over real HTTP.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../../support/harness.ts';

describe('revocation and introspection', () => {
  let h: Harness;
  let auth: Record<string, string>;
  let other: Record<string, string>;

  before(async () => {
    h = await startHarness();
    const c = await h.client({ clientId: 'app' });
    auth = h.basic(c.clientId, c.clientSecret);
    const o = await h.client({ clientId: 'rs' });
    other = h.basic(o.clientId, o.clientSecret);
  });
  after(() => h.close());

  const issue = async () => (await h.server.issueGrant({ clientId: 'app', subject: 'alice', scope: 'read' })).tokens;

  it('introspects an active JWT access token and a refresh token', async () => {
    const t = await issue();
    const at = await h.post('/introspect', { token: t.access_token }, other);
    assert.equal(at.status, 200);
    assert.equal(at.json.active, true);
    assert.equal(at.json.client_id, 'app');
    assert.equal(at.json.sub, 'alice');
    assert.equal(at.json.token_type, 'Bearer');
    const rt = await h.post('/introspect', { token: t.refresh_token!, token_type_hint: 'refresh_token' }, auth);
    assert.equal(rt.json.active, true);
    assert.equal(rt.json.token_type, 'refresh_token');
    // A refresh token is only active to the client it belongs to.
    assert.equal((await h.post('/introspect', { token: t.refresh_token! }, other)).json.active, false);
  });

  it('introspection needs client authentication', async () => {
    const res = await h.post('/introspect', { token: 'x' });
    assert.equal(res.status, 401);
    assert.equal(res.json.error, 'invalid_client');
  });

  it('unknown and garbage tokens are inactive', async () => {
    for (const token of ['nope', 'a.b.c', 'rg_at_nope', 'rg_rt_nope', 'eyJhbGciOiJub25lIn0.e30.']) {
      const res = await h.post('/introspect', { token }, auth);
      assert.equal(res.status, 200, token);
      assert.equal(res.json.active, false, token);
    }
  });

  it('revoking a refresh token revokes its family; its access tokens turn inactive', async () => {
    const t = await issue();
    const r = await h.post('/token', { grant_type: 'refresh_token', refresh_token: t.refresh_token! }, auth);
    const res = await h.post('/revoke', { token: r.json.refresh_token, token_type_hint: 'refresh_token' }, auth);
    assert.equal(res.status, 200);
    assert.equal(res.text, '');
    assert.equal((await h.post('/token', { grant_type: 'refresh_token', refresh_token: r.json.refresh_token }, auth)).json.error, 'invalid_grant');
    assert.equal((await h.post('/introspect', { token: r.json.access_token }, auth)).json.active, false);
    assert.equal((await h.post('/introspect', { token: t.access_token }, auth)).json.active, false);
    assert.ok(h.events.some((e) => e.type === 'grant.revoked' && e.reason === 'revocation'));
  });

  it('revoking an access token marks it revoked for introspection, the refresh token lives on', async () => {
    const t = await issue();
    assert.equal((await h.post('/revoke', { token: t.access_token, token_type_hint: 'access_token' }, auth)).status, 200);
    assert.equal((await h.post('/introspect', { token: t.access_token }, auth)).json.active, false);
    assert.equal((await h.post('/token', { grant_type: 'refresh_token', refresh_token: t.refresh_token! }, auth)).status, 200);
  });

  it("a client cannot revoke another client's token, and the answer does not tell", async () => {
    const t = await issue();
    const res = await h.post('/revoke', { token: t.refresh_token! }, other);
    assert.equal(res.status, 200);
    assert.equal((await h.post('/token', { grant_type: 'refresh_token', refresh_token: t.refresh_token! }, auth)).status, 200);
  });

  it('unknown tokens get 200; an unsupported hint is unsupported_token_type; a missing token is invalid_request', async () => {
    assert.equal((await h.post('/revoke', { token: 'whatever' }, auth)).status, 200);
    const hint = await h.post('/revoke', { token: 'x', token_type_hint: 'id_token' }, auth);
    assert.equal(hint.status, 400);
    assert.equal(hint.json.error, 'unsupported_token_type');
    const missing = await h.post('/revoke', {}, auth);
    assert.equal(missing.json.error, 'invalid_request');
  });
});
