/**
 * Interop: openid-client v6 (not written here) runs the whole authorization code flow against our
 * server: discovery, PKCE, state, nonce, a pushed authorization request, the development login
 * driven over HTTP, the code exchange with its own checks (iss per RFC 9207, state, PKCE,
 * id_token signature and claims, nonce), UserInfo, then refreshes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import { startHarness, type Harness } from '../support/harness.ts';
import { devLoginSignIn } from '../support/authorize.ts';

describe('interop: openid-client authorization code flow against our server', () => {
  let h: Harness;
  const redirectUri = 'http://127.0.0.1:47001/callback';
  const insecure = { execute: [client.allowInsecureRequests] };

  before(async () => {
    h = await startHarness({ devLogin: true, userClaims: async (sub) => ({ name: `User ${sub}`, email: `${sub}@example.com` }) });
  });
  after(() => h.close());

  async function flow(config: client.Configuration, options: { par: boolean; subject: string }) {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const parameters = {
      redirect_uri: redirectUri,
      scope: 'openid offline_access profile',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    };
    const url = options.par ? await client.buildAuthorizationUrlWithPAR(config, parameters) : client.buildAuthorizationUrl(config, parameters);
    if (options.par) assert.match(url.searchParams.get('request_uri')!, /^urn:ietf:params:oauth:request_uri:/);
    const callback = await devLoginSignIn(url, options.subject);
    const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true });
    const claims = tokens.claims()!;
    assert.equal(claims.sub, options.subject);
    assert.equal(claims.iss, h.issuer);
    assert.equal(claims.nonce, nonce);
    assert.equal(typeof claims.auth_time, 'number');
    assert.match(tokens.refresh_token!, /^rg_rt_/);

    const info = await client.fetchUserInfo(config, tokens.access_token, options.subject);
    assert.equal(info.name, `User ${options.subject}`);
    assert.equal(info.email, undefined, 'email was not in the scope');

    let refreshToken = tokens.refresh_token!;
    for (let i = 0; i < 3; i++) {
      const refreshed = await client.refreshTokenGrant(config, refreshToken);
      assert.notEqual(refreshed.refresh_token, refreshToken, 'rotated');
      assert.equal(refreshed.claims()!.sub, options.subject);
      refreshToken = refreshed.refresh_token!;
    }
  }

  it('discovers everything the flow needs', async () => {
    const config = await client.discovery(new URL(h.issuer), 'anyone', undefined, client.None(), insecure);
    const md = config.serverMetadata();
    assert.equal(md.authorization_endpoint, `${h.issuer}/authorize`);
    assert.equal(md.pushed_authorization_request_endpoint, `${h.issuer}/par`);
    assert.equal(md.authorization_response_iss_parameter_supported, true);
    assert.ok(md.supportsPKCE());
  });

  it('a public client, front channel', async () => {
    await h.client({ clientId: 'oc-spa', authMethod: 'none', redirectUris: [redirectUri] });
    const config = await client.discovery(new URL(h.issuer), 'oc-spa', undefined, client.None(), insecure);
    await flow(config, { par: false, subject: 'olive' });
  });

  it('a confidential client with a pushed authorization request', async () => {
    const { clientSecret } = await h.client({ clientId: 'oc-web', authMethod: 'client_secret_basic', redirectUris: [redirectUri], requirePushedAuthorizationRequests: true });
    const config = await client.discovery(new URL(h.issuer), 'oc-web', undefined, client.ClientSecretBasic(clientSecret), insecure);
    await flow(config, { par: true, subject: 'otto' });
  });

  it('its checks see our errors: a reused code is refused with invalid_grant', async () => {
    const config = await client.discovery(new URL(h.issuer), 'oc-spa', undefined, client.None(), insecure);
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(config, { redirect_uri: redirectUri, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state });
    const callback = await devLoginSignIn(url, 'olive');
    await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
    await assert.rejects(client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state }), (err: client.ResponseBodyError) => err.error === 'invalid_grant');
  });
});
