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
  /** A resource server registered under its resource indicator, allowed to introspect. */
  let rs: Record<string, string>;
  /** A confidential client not registered for introspection. */
  let noPermission: Record<string, string>;
  const resource = 'https://rs.example/';

  before(async () => {
    h = await startHarness();
    const c = await h.client({ clientId: 'app', introspection: true });
    auth = h.basic(c.clientId, c.clientSecret);
    const o = await h.client({ clientId: 'other', introspection: true });
    other = h.basic(o.clientId, o.clientSecret);
    const r = await h.client({ clientId: resource, introspection: true });
    rs = h.basic(r.clientId, r.clientSecret);
    const n = await h.client({ clientId: 'plain' });
    noPermission = h.basic(n.clientId, n.clientSecret);
    await h.client({ clientId: 'spa', authMethod: 'none' });
    await h.client({ clientId: 'app-opaque', accessTokenFormat: 'opaque' });
  });
  after(() => h.close());

  const issue = async (resources?: string[], clientId = 'app') => (await h.server.issueGrant({ clientId, subject: 'alice', scope: 'read', resources })).tokens;

  // Finding 3 of issue 11: any client, even a public one, could read any token's subject and scope.
  describe('who may introspect what (RFC 7662 sections 2.1 and 4)', () => {
    type Token = 'access token for the issuer' | 'access token for the resource' | 'opaque access token for the resource' | 'refresh token';
    const table: Array<{ caller: string; token: Token; status: number; active?: boolean; error?: string }> = [
      { caller: 'nobody', token: 'access token for the resource', status: 401, error: 'invalid_client' },
      { caller: 'public client', token: 'access token for the resource', status: 401, error: 'invalid_client' },
      { caller: 'client not registered for it', token: 'access token for the resource', status: 403, error: 'unauthorized_client' },
      { caller: 'the client it was issued to', token: 'access token for the issuer', status: 200, active: true },
      { caller: 'the client it was issued to', token: 'refresh token', status: 200, active: true },
      { caller: 'the resource server in its audience', token: 'access token for the resource', status: 200, active: true },
      { caller: 'the resource server in its audience', token: 'opaque access token for the resource', status: 200, active: true },
      { caller: 'the resource server in its audience', token: 'access token for the issuer', status: 200, active: false },
      { caller: 'the resource server in its audience', token: 'refresh token', status: 200, active: false },
      { caller: 'another registered client', token: 'access token for the resource', status: 200, active: false },
      { caller: 'another registered client', token: 'opaque access token for the resource', status: 200, active: false },
      { caller: 'another registered client', token: 'refresh token', status: 200, active: false },
    ];
    for (const row of table) {
      it(`${row.caller}, ${row.token}: ${row.status} ${row.error ?? (row.active ? 'active' : '{"active": false}')}`, async () => {
        const forResource = await issue([resource]);
        const forIssuer = await issue();
        const opaque = await issue([resource], 'app-opaque');
        const token = {
          'access token for the issuer': forIssuer.access_token,
          'access token for the resource': forResource.access_token,
          'opaque access token for the resource': opaque.access_token,
          'refresh token': forResource.refresh_token!,
        }[row.token];
        const callers: Record<string, { headers?: Record<string, string>; form?: Record<string, string> }> = {
          nobody: {},
          'public client': { form: { client_id: 'spa' } },
          'client not registered for it': { headers: noPermission },
          'the client it was issued to': { headers: row.token.startsWith('opaque') ? undefined : auth },
          'the resource server in its audience': { headers: rs },
          'another registered client': { headers: other },
        };
        const caller = callers[row.caller];
        const res = await h.post('/introspect', { token, ...caller.form }, caller.headers);
        assert.equal(res.status, row.status, res.text);
        if (row.error) {
          assert.equal(res.json.error, row.error);
          assert.equal(res.json.sub, undefined);
          return;
        }
        // RFC 7662 section 2.2: an inactive token is {"active": false} and nothing else.
        if (!row.active) return assert.deepEqual(res.json, { active: false });
        assert.equal(res.json.active, true);
        assert.equal(res.json.sub, 'alice');
        assert.equal(res.json.client_id, row.token.startsWith('opaque') ? 'app-opaque' : 'app');
      });
    }

    it('a public client cannot be registered for introspection', async () => {
      await assert.rejects(h.server.registerClient({ clientId: 'spa2', authMethod: 'none', introspection: true }), /public client/);
    });
  });

  it('introspects an active JWT access token and a refresh token', async () => {
    const t = await issue([resource]);
    const at = await h.post('/introspect', { token: t.access_token }, rs);
    assert.equal(at.status, 200);
    assert.equal(at.json.active, true);
    assert.equal(at.json.client_id, 'app');
    assert.equal(at.json.sub, 'alice');
    assert.equal(at.json.aud, resource);
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
