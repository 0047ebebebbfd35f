/**
 * Expiry on the wire (finding 3): draft-ietf-oauth-refresh-token-expiration's
 * `refresh_token_timeout` (idle) and `authorization_expires_in` (absolute) in every token response
 * that carries a refresh token, in refresh token introspection (which never resets the idle
 * clock), and `refresh_token_expiration_types_supported` in the metadata. Real HTTP, real SQLite.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../../support/harness.ts';

describe('refresh token and authorization expiry on the wire', () => {
  let h: Harness;
  let auth: Record<string, string>;

  before(async () => {
    h = await startHarness({ signingThread: false, frozenClock: true });
    const c = await h.client({ clientId: 'app', idleTtl: 600, absoluteTtl: 3600, scope: 'openid offline_access read', introspection: true });
    auth = h.basic(c.clientId, c.clientSecret);
    const k = await h.client({ clientId: 'keeper', idleTtl: 600, absoluteTtl: 3600, rotation: false, introspection: true });
    keeper = h.basic(k.clientId, k.clientSecret);
  });
  after(() => h.close());
  let keeper: Record<string, string>;

  const refresh = (rt: string, headers = auth) => h.post('/token', { grant_type: 'refresh_token', refresh_token: rt }, headers);
  const introspect = (token: string, headers = auth) => h.post('/introspect', { token }, headers);

  it('metadata declares refresh_token_expiration_types_supported', async () => {
    const res = await fetch(`${h.issuer}/.well-known/oauth-authorization-server`);
    assert.deepEqual((await res.json()).refresh_token_expiration_types_supported, ['authorization', 'token_timeout']);
  });

  it('the first grant, a rotation, a lost-response replay: refresh_token_timeout (idle) and authorization_expires_in (absolute), counted down', async () => {
    const issued = await h.server.issueGrant({ clientId: 'app', subject: 'alice', scope: 'read' });
    assert.equal(issued.tokens.refresh_token_timeout, 600);
    assert.equal(issued.tokens.authorization_expires_in, 3600);
    h.advance(500);
    try {
      const rotated = await refresh(issued.tokens.refresh_token!);
      assert.equal(rotated.status, 200, rotated.text);
      // The successor's idle clock starts now; the authorization keeps counting down.
      assert.equal(rotated.json.refresh_token_timeout, 600);
      assert.equal(rotated.json.authorization_expires_in, 3100);
      h.advance(10);
      const replayed = await refresh(issued.tokens.refresh_token!);
      assert.equal(replayed.json.refresh_token, rotated.json.refresh_token);
      assert.equal(replayed.json.refresh_token_timeout, 590, 'the same successor: its idle clock did not restart');
      assert.equal(replayed.json.authorization_expires_in, 3090);
    } finally {
      h.advance(-510);
    }
  });

  it('the timeout never exceeds the authorization (near the absolute expiry)', async () => {
    let rt = (await h.server.issueGrant({ clientId: 'app', subject: 'bob', scope: 'read' })).tokens.refresh_token!;
    let elapsed = 0;
    try {
      for (const step of [500, 500, 500, 500, 500, 500, 300, 250]) {
        h.advance(step);
        elapsed += step;
        const res = await refresh(rt);
        assert.equal(res.status, 200, res.text);
        assert.equal(res.json.authorization_expires_in, 3600 - elapsed);
        assert.equal(res.json.refresh_token_timeout, Math.min(600, 3600 - elapsed));
        rt = res.json.refresh_token;
      }
      assert.equal(elapsed, 3550);
    } finally {
      h.advance(-elapsed);
    }
  });

  it('rotation off: the kept token’s timeout slides on each use', async () => {
    const rt = (await h.server.issueGrant({ clientId: 'keeper', subject: 'carol', scope: '' })).tokens.refresh_token!;
    h.advance(100);
    try {
      const res = await refresh(rt, keeper);
      assert.equal(res.json.refresh_token, rt);
      assert.equal(res.json.refresh_token_timeout, 600);
      assert.equal(res.json.authorization_expires_in, 3500);
    } finally {
      h.advance(-100);
    }
  });

  it('no refresh token (openid without offline_access): neither field', async () => {
    const tokens = (await h.server.issueGrant({ clientId: 'app', subject: 'dan', scope: 'openid read' })).tokens;
    assert.equal(tokens.refresh_token, undefined);
    assert.equal('refresh_token_timeout' in tokens, false);
    assert.equal('authorization_expires_in' in tokens, false);
  });

  it('introspection carries both, and never resets the idle clock', async () => {
    const rt = (await h.server.issueGrant({ clientId: 'app', subject: 'erin', scope: 'read' })).tokens.refresh_token!;
    h.advance(400);
    try {
      const first = await introspect(rt);
      assert.equal(first.json.active, true);
      assert.equal(first.json.refresh_token_timeout, 200);
      assert.equal(first.json.authorization_expires_in, 3200);
      h.advance(150);
      const second = await introspect(rt);
      assert.equal(second.json.refresh_token_timeout, 50, 'introspection did not slide the idle expiry');
      assert.equal(second.json.exp, first.json.exp);
      h.advance(51);
      // Introspected twice, unused for 601 s: expired.
      assert.equal((await introspect(rt)).json.active, false);
      assert.equal((await refresh(rt)).json.error, 'invalid_grant');
    } finally {
      h.advance(-601);
    }
  });
});
