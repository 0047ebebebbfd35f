/**
 * Interop: openid-client v6 (not written here) refreshes against our server over HTTP with
 * each client authentication method; its own response and id_token validation must pass.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import { exportJWK, generateKeyPair } from 'jose';
import { startHarness, type Harness } from '../support/harness.ts';

describe('interop: openid-client refreshTokenGrant against our server', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());

  async function discover(clientId: string, auth: client.ClientAuth, metadata: Partial<client.ClientMetadata> = {}) {
    return client.discovery(new URL(h.issuer), clientId, metadata, auth, { execute: [client.allowInsecureRequests] });
  }

  async function exercise(config: client.Configuration, clientId: string) {
    const first = await h.server.issueGrant({ clientId, subject: 'alice', scope: 'openid offline_access read', authTime: 1_700_000_000 });
    const tokens = await client.refreshTokenGrant(config, first.tokens.refresh_token!);
    assert.match(tokens.refresh_token!, /^rg_rt_/);
    assert.notEqual(tokens.refresh_token, first.tokens.refresh_token);
    assert.equal(tokens.token_type.toLowerCase(), 'bearer');
    assert.equal(tokens.scope, 'openid offline_access read');
    assert.ok(tokens.expiresIn()! > 0);
    const claims = tokens.claims()!;
    assert.equal(claims.sub, 'alice');
    assert.equal(claims.iss, h.issuer);
    assert.equal(claims.auth_time, 1_700_000_000);
    // Narrowed scope with openid-client's parameters argument.
    const narrowed = await client.refreshTokenGrant(config, tokens.refresh_token!, { scope: 'read' });
    assert.equal(narrowed.scope, 'read');
    assert.equal(narrowed.id_token, undefined);
    // Its error handling sees our section 5.2 errors.
    await assert.rejects(client.refreshTokenGrant(config, first.tokens.refresh_token! + 'x'), (err: client.ResponseBodyError) => {
      assert.equal(err.error, 'invalid_grant');
      assert.equal(err.status, 400);
      return true;
    });
  }

  it('client_secret_basic', async () => {
    const { clientId, clientSecret } = await h.client({ clientId: 'oc-basic', authMethod: 'client_secret_basic' });
    await exercise(await discover(clientId, client.ClientSecretBasic(clientSecret)), clientId);
  });

  it('client_secret_post', async () => {
    const { clientId, clientSecret } = await h.client({ clientId: 'oc-post', authMethod: 'client_secret_post' });
    await exercise(await discover(clientId, client.ClientSecretPost(clientSecret)), clientId);
  });

  it('client_secret_jwt', async () => {
    const { clientId, clientSecret } = await h.client({ clientId: 'oc-jwt', authMethod: 'client_secret_jwt' });
    await exercise(await discover(clientId, client.ClientSecretJwt(clientSecret)), clientId);
  });

  it('private_key_jwt', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' };
    await h.server.registerClient({ clientId: 'oc-pkjwt', authMethod: 'private_key_jwt', jwks: { keys: [jwk as never] } });
    await exercise(await discover('oc-pkjwt', client.PrivateKeyJwt({ key: privateKey, kid: 'k1' })), 'oc-pkjwt');
  });

  it('none (public client)', async () => {
    await h.client({ clientId: 'oc-public', authMethod: 'none' });
    await exercise(await discover('oc-public', client.None()), 'oc-public');
  });

  it('a lost response retried by openid-client gets the same successor', async () => {
    const { clientId, clientSecret } = await h.client({ clientId: 'oc-retry' });
    const config = await discover(clientId, client.ClientSecretBasic(clientSecret));
    const rt = (await h.server.issueGrant({ clientId, subject: 'bob', scope: 'read' })).tokens.refresh_token!;
    const [a, b] = await Promise.all([client.refreshTokenGrant(config, rt), client.refreshTokenGrant(config, rt)]);
    assert.equal(a.refresh_token, b.refresh_token);
  });
});
