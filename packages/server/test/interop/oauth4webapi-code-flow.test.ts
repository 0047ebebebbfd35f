/**
 * Interop: oauth4webapi (not written here) runs the whole authorization code flow against our
 * server with its strict processing: discovery, a pushed authorization request, the development
 * login over HTTP, validateAuthResponse (iss, state), the code exchange with id_token claims and
 * nonce, UserInfo, refreshes; and a DPoP-bound public client.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as oauth from 'oauth4webapi';
import { calculateJwkThumbprint, exportJWK } from 'jose';
import { startHarness, type Harness } from '../support/harness.ts';
import { devLoginSignIn } from '../support/authorize.ts';

describe('interop: oauth4webapi authorization code flow against our server', () => {
  let h: Harness;
  let as: oauth.AuthorizationServer;
  const redirectUri = 'http://127.0.0.1:47002/callback';
  const insecure = { [oauth.allowInsecureRequests]: true };

  before(async () => {
    h = await startHarness({ devLogin: true, userClaims: async (sub) => ({ email: `${sub}@example.com`, email_verified: true }) });
    const issuer = new URL(h.issuer);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...insecure, algorithm: 'oidc' }));
  });
  after(() => h.close());

  async function flow(client: oauth.Client, auth: oauth.ClientAuth, options: { par: boolean; subject: string; dpop?: oauth.DPoPHandle }) {
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const nonce = oauth.generateRandomNonce();
    const params = new URLSearchParams({
      client_id: client.client_id,
      redirect_uri: redirectUri,
      response_type: 'code',
      scope: 'openid offline_access email',
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    const url = new URL(as.authorization_endpoint!);
    if (options.par) {
      const pushed = await oauth.pushedAuthorizationRequest(as, client, auth, params, { ...insecure, DPoP: options.dpop });
      const { request_uri } = await oauth.processPushedAuthorizationResponse(as, client, pushed);
      url.searchParams.set('client_id', client.client_id);
      url.searchParams.set('request_uri', request_uri);
    } else {
      for (const [k, v] of params) url.searchParams.set(k, v);
    }
    const callback = await devLoginSignIn(url, options.subject);
    const callbackParams = oauth.validateAuthResponse(as, client, callback, state);
    const exchange = () => oauth.authorizationCodeGrantRequest(as, client, auth, callbackParams, redirectUri, verifier, { ...insecure, DPoP: options.dpop });
    let response = await exchange();
    let result: oauth.TokenEndpointResponse;
    try {
      result = await oauth.processAuthorizationCodeResponse(as, client, response, { expectedNonce: nonce, requireIdToken: true });
    } catch (error) {
      // A server nonce on a DPoP exchange: retry once with it (oauth4webapi's documented pattern).
      if (!(options.dpop && oauth.isDPoPNonceError(error))) throw error;
      response = await exchange();
      result = await oauth.processAuthorizationCodeResponse(as, client, response, { expectedNonce: nonce, requireIdToken: true });
    }
    const claims = oauth.getValidatedIdTokenClaims(result)!;
    assert.equal(claims.sub, options.subject);
    assert.equal(claims.nonce, nonce);
    assert.equal(result.token_type, options.dpop ? 'dpop' : 'bearer');

    const info = await oauth.processUserInfoResponse(as, client, options.subject, await oauth.userInfoRequest(as, client, result.access_token, { ...insecure, DPoP: options.dpop }));
    assert.equal(info.email, `${options.subject}@example.com`);

    let refreshToken = result.refresh_token!;
    for (let i = 0; i < 2; i++) {
      const refreshed = await oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, auth, refreshToken, { ...insecure, DPoP: options.dpop }));
      assert.notEqual(refreshed.refresh_token, refreshToken);
      refreshToken = refreshed.refresh_token!;
    }
  }

  it('discovers the authorization endpoint, PAR, PKCE S256 and RFC 9207 support', () => {
    assert.equal(as.authorization_endpoint, `${h.issuer}/authorize`);
    assert.deepEqual(as.code_challenge_methods_supported, ['S256']);
    assert.equal(as.authorization_response_iss_parameter_supported, true);
  });

  it('a confidential client with PAR', async () => {
    const { clientSecret } = await h.client({ clientId: 'o4-web', authMethod: 'client_secret_post', redirectUris: [redirectUri] });
    await flow({ client_id: 'o4-web' }, oauth.ClientSecretPost(clientSecret), { par: true, subject: 'quinn' });
  });

  it('a public client, front channel', async () => {
    await h.client({ clientId: 'o4-spa', authMethod: 'none', redirectUris: [redirectUri] });
    await flow({ client_id: 'o4-spa' }, oauth.None(), { par: false, subject: 'rosa' });
  });

  it('a public client with DPoP: its family is bound to the key', async () => {
    await h.client({ clientId: 'o4-dpop', authMethod: 'none', redirectUris: [redirectUri] });
    const key = await oauth.generateKeyPair('ES256');
    const dpop = oauth.DPoP({}, key);
    await flow({ client_id: 'o4-dpop' }, oauth.None(), { par: true, subject: 'sam', dpop });
    const grant = (await h.store.listGrants({ clientId: 'o4-dpop' }))[0];
    assert.equal(grant.dpopJkt, await calculateJwkThumbprint(await exportJWK(key.publicKey)));
  });

  it('its validateAuthResponse sees our errors with iss: prompt=none without a session is login_required', async () => {
    const client = { client_id: 'o4-spa' };
    const url = new URL(as.authorization_endpoint!);
    const state = oauth.generateRandomState();
    for (const [k, v] of Object.entries({ client_id: 'o4-spa', redirect_uri: redirectUri, response_type: 'code', scope: 'openid', code_challenge: await oauth.calculatePKCECodeChallenge(oauth.generateRandomCodeVerifier()), code_challenge_method: 'S256', state, prompt: 'none' })) {
      url.searchParams.set(k, v);
    }
    const toLogin = await fetch(url, { redirect: 'manual' });
    const back = await fetch(new URL(toLogin.headers.get('location')!), { redirect: 'manual' });
    const callback = new URL(back.headers.get('location')!);
    assert.throws(() => oauth.validateAuthResponse(as, client, callback, state), (err: oauth.AuthorizationResponseError) => err.error === 'login_required');
  });
});
