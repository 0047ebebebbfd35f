/**
 * Discovery documents (RFC 8414, OIDC Discovery) and the JWKS endpoint.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../../support/harness.ts';

describe('metadata and JWKS', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());

  it('publishes RFC 8414 and OIDC discovery documents naming every endpoint', async () => {
    for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
      const res = await fetch(h.issuer + path);
      assert.equal(res.status, 200);
      const doc = await res.json();
      assert.equal(doc.issuer, h.issuer);
      assert.equal(doc.token_endpoint, `${h.issuer}/token`);
      assert.equal(doc.jwks_uri, `${h.issuer}/jwks`);
      assert.equal(doc.revocation_endpoint, `${h.issuer}/revoke`);
      assert.equal(doc.introspection_endpoint, `${h.issuer}/introspect`);
      assert.equal(doc.authorization_endpoint, `${h.issuer}/authorize`);
      assert.equal(doc.pushed_authorization_request_endpoint, `${h.issuer}/par`);
      assert.equal(doc.userinfo_endpoint, `${h.issuer}/userinfo`);
      assert.equal(doc.require_pushed_authorization_requests, false);
      assert.deepEqual(doc.grant_types_supported, ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:jwt-bearer', 'password']);
      assert.deepEqual(doc.response_types_supported, ['code']);
      assert.deepEqual(doc.response_modes_supported, ['query']);
      assert.deepEqual(doc.code_challenge_methods_supported, ['S256']);
      assert.equal(doc.authorization_response_iss_parameter_supported, true);
      assert.deepEqual(doc.subject_types_supported, ['public']);
      assert.deepEqual(doc.prompt_values_supported, ['none', 'login', 'consent', 'select_account']);
      for (const scope of ['openid', 'offline_access', 'profile', 'email']) assert.ok(doc.scopes_supported.includes(scope), scope);
      for (const claim of ['sub', 'auth_time', 'nonce', 'at_hash', 'acr', 'amr', 'name', 'email']) assert.ok(doc.claims_supported.includes(claim), claim);
      assert.equal(doc.request_parameter_supported, false);
      assert.equal(doc.request_uri_parameter_supported, false);
      assert.equal(doc.introspection_endpoint_auth_methods_supported.includes('none'), false);
      assert.deepEqual(doc.token_endpoint_auth_methods_supported, ['client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'private_key_jwt', 'none']);
      assert.deepEqual(doc.id_token_signing_alg_values_supported, ['ES256']);
    }
  });

  it('publishes the signing keys by kid, public parts only', async () => {
    const res = await fetch(`${h.issuer}/jwks`);
    assert.equal(res.status, 200);
    const { keys } = await res.json();
    assert.equal(keys.length, 1);
    assert.equal(keys[0].kid, h.server.keys.current.kid);
    assert.equal(keys[0].d, undefined);
  });

  it('keeps the old key published after a rotation; tokens of both verify', async () => {
    const before = h.server.keys.current.kid;
    const { kid } = await h.server.rotateKeys();
    assert.notEqual(kid, before);
    const { keys } = await (await fetch(`${h.issuer}/jwks`)).json();
    assert.deepEqual(new Set(keys.map((k: { kid: string }) => k.kid)), new Set([before, kid]));
  });

  it('publish before activate: a rotated key is published at once and signs only after the activation delay', async () => {
    const kidOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString()).kid;
    await h.server.registerClient({ clientId: 'keys', authMethod: 'none' });
    const signing = h.server.keys.current.kid;
    const { kid, activatesAt } = await h.server.rotateKeys();
    assert.ok(activatesAt >= Math.floor(Date.now() / 1000) + 119);
    const published = (await (await fetch(`${h.issuer}/jwks`)).json()).keys.map((k: { kid: string }) => k.kid);
    assert.ok(published.includes(kid) && published.includes(signing));
    const before = await h.server.issueGrant({ clientId: 'keys', subject: 's', scope: 'a' });
    assert.equal(kidOf(before.tokens.access_token), signing, 'the old key still signs');
    h.advance(121);
    try {
      const after = await h.server.issueGrant({ clientId: 'keys', subject: 's', scope: 'a' });
      assert.equal(kidOf(after.tokens.access_token), kid, 'the new key signs after activation');
      const keys = (await (await fetch(`${h.issuer}/jwks`)).json()).keys.map((k: { kid: string }) => k.kid);
      assert.ok(keys.includes(signing), 'the old key stays published while its tokens live');
    } finally {
      h.advance(-121);
    }
  });

  it('HEAD works on GET endpoints; POST is 405', async () => {
    assert.equal((await fetch(`${h.issuer}/jwks`, { method: 'HEAD' })).status, 200);
    const res = await fetch(`${h.issuer}/jwks`, { method: 'POST' });
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('allow'), 'GET, HEAD');
  });

  it('endpoints answer their methods only: 405 with Allow otherwise', async () => {
    for (const [path, method, allow] of [
      ['/authorize', 'PUT', 'GET, HEAD, POST'],
      ['/userinfo', 'DELETE', 'GET, HEAD, POST'],
      ['/par', 'GET', 'POST'],
      ['/token', 'GET', 'POST'],
    ] as const) {
      const res = await fetch(h.issuer + path, { method });
      assert.equal(res.status, 405, path);
      assert.equal(res.headers.get('allow'), allow, path);
    }
  });

  it('the development login is not mounted unless turned on', async () => {
    for (const path of ['/dev-login', '/dev-login/start', '/dev-login/callback']) {
      assert.equal((await fetch(h.issuer + path)).status, 404, path);
    }
  });
});
