/**
 * Interop: oauth4webapi (not written here) refreshes against our server; its strict
 * response processing (processRefreshTokenResponse, id_token claims) must pass.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as oauth from 'oauth4webapi';
import { exportJWK, generateKeyPair } from 'jose';
import { startHarness, type Harness } from '../support/harness.ts';

describe('interop: oauth4webapi against our server', () => {
  let h: Harness;
  let as: oauth.AuthorizationServer;
  const insecure = { [oauth.allowInsecureRequests]: true };

  before(async () => {
    h = await startHarness();
    const issuer = new URL(h.issuer);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...insecure, algorithm: 'oauth2' }));
  });
  after(() => h.close());

  async function exercise(clientId: string, auth: oauth.ClientAuth) {
    const c: oauth.Client = { client_id: clientId };
    const first = await h.server.issueGrant({ clientId, subject: 'alice', scope: 'openid offline_access read' });
    const res = await oauth.refreshTokenGrantRequest(as, c, auth, first.tokens.refresh_token!, insecure);
    const result = await oauth.processRefreshTokenResponse(as, c, res);
    assert.match(result.refresh_token!, /^rg_rt_/);
    assert.equal(result.token_type, 'bearer');
    const claims = oauth.getValidatedIdTokenClaims(result)!;
    assert.equal(claims.sub, 'alice');
    assert.equal(claims.azp, clientId);
    // Resource indicators and narrowed scope through its additionalParameters.
    const res2 = await oauth.refreshTokenGrantRequest(as, c, auth, result.refresh_token!, { ...insecure, additionalParameters: { scope: 'read' } });
    const narrowed = await oauth.processRefreshTokenResponse(as, c, res2);
    assert.equal(narrowed.scope, 'read');
    // A reused token: its error class carries our section 5.2 error.
    const res3 = await oauth.refreshTokenGrantRequest(as, c, auth, 'rg_rt_unknown', insecure);
    await assert.rejects(oauth.processRefreshTokenResponse(as, c, res3), (err: oauth.ResponseBodyError) => err.error === 'invalid_grant');
  }

  it('discovers our metadata', () => {
    assert.equal(as.issuer, h.issuer);
    assert.equal(as.token_endpoint, `${h.issuer}/token`);
  });

  it('client_secret_basic', async () => {
    const { clientId, clientSecret } = await h.client({ clientId: 'o4-basic' });
    await exercise(clientId, oauth.ClientSecretBasic(clientSecret));
  });

  it('client_secret_post', async () => {
    const { clientId, clientSecret } = await h.client({ clientId: 'o4-post', authMethod: 'client_secret_post' });
    await exercise(clientId, oauth.ClientSecretPost(clientSecret));
  });

  it('private_key_jwt', async () => {
    const { publicKey, privateKey } = await generateKeyPair('EdDSA');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'ed', alg: 'EdDSA' };
    await h.server.registerClient({ clientId: 'o4-pkjwt', authMethod: 'private_key_jwt', jwks: { keys: [jwk as never] } });
    await exercise('o4-pkjwt', oauth.PrivateKeyJwt({ key: privateKey, kid: 'ed' }));
  });

  it('none', async () => {
    await h.client({ clientId: 'o4-public', authMethod: 'none' });
    await exercise('o4-public', oauth.None());
  });
});
