/**
 * Interop: our client runs the whole authorization code + PKCE flow against oidc-provider v9 (npm),
 * a server nobody here wrote: discovery, the authorization request (plain and pushed, RFC 9126),
 * oidc-provider's development login and consent pages driven over HTTP with their cookies, the
 * authorization response's iss (RFC 9207) and state, the code exchange (with DPoP for a public
 * client), oidc-provider's id_token checked for our nonce, then refreshes by the token manager
 * seeded from the result.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { authorizationCodeGrant } from '../../src/authorization-code-grant.ts';
import { AuthorizationResponseError } from '../../src/authorization-response.ts';
import { buildAuthorizationUrl, buildAuthorizationUrlWithPAR } from '../../src/authorization-url.ts';
import { None } from '../../src/client-auth.ts';
import { customFetch } from '../../src/configuration.ts';
import { discovery } from '../../src/discovery.ts';
import { getDPoPHandle, randomDPoPKeyPair } from '../../src/dpop.ts';
import { InvalidResponseError, OAuthResponseError } from '../../src/errors.ts';
import { createMemoryStore } from '../../src/memory-store.ts';
import { calculatePKCECodeChallenge, randomNonce, randomPKCECodeVerifier, randomState } from '../../src/pkce.ts';
import { refreshTokenGrant } from '../../src/refresh-token-grant.ts';
import { createTokenManager } from '../../src/token-manager.ts';
import { codeClient, signInThroughDevInteractions, startOidcProvider, type Landing, type RunningProvider } from '../helpers/oidc-provider.ts';

let op: RunningProvider;
const secret = 'web-secret-0123456789-0123456789-0123456789';
const redirectUri = codeClient.redirect_uris[0];
const scope = 'openid offline_access';

before(async () => {
  op = await startOidcProvider({
    clients: [
      { ...codeClient, client_id: 'web', client_secret: secret, token_endpoint_auth_method: 'client_secret_basic' },
      { ...codeClient, client_id: 'spa', token_endpoint_auth_method: 'none' },
      { ...codeClient, client_id: 'pushed-only', client_secret: secret, token_endpoint_auth_method: 'client_secret_basic', require_pushed_authorization_requests: true },
    ],
    scopes: ['openid', 'offline_access'],
    features: {
      devInteractions: { enabled: true },
      // RFC 9449 section 8: every proof must carry one of its nonces.
      dPoP: { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true },
    },
  });
});

after(() => op.close());

const discover = (clientId: string, clientSecret?: string) => discovery(new URL(op.issuer), clientId, clientSecret, clientSecret ? undefined : None());

/** A fresh authorization request's secrets and parameters (offline_access needs prompt=consent at oidc-provider, as OIDC Core section 11 says). */
async function request(extra: Record<string, string> = {}) {
  const codeVerifier = randomPKCECodeVerifier();
  const state = randomState();
  const nonce = randomNonce();
  const parameters = { redirect_uri: redirectUri, scope, prompt: 'consent', state, nonce, code_challenge: await calculatePKCECodeChallenge(codeVerifier), code_challenge_method: 'S256', ...extra };
  return { codeVerifier, state, nonce, parameters };
}

const landedAt = (landing: Landing): URL => {
  assert.ok('url' in landing, 'redirected to the redirect URI');
  return landing.url;
};

test('discovery: oidc-provider advertises the authorization endpoint, PAR and RFC 9207', async () => {
  const server = (await discover('web', secret)).serverMetadata();
  assert.equal(server.authorization_endpoint, `${op.issuer}/auth`);
  assert.equal(server.pushed_authorization_request_endpoint, `${op.issuer}/request`);
  assert.equal(server.authorization_response_iss_parameter_supported, true);
});

test('authorization code + PKCE through the login and consent pages, iss and state checked, then the token manager refreshes', async () => {
  const config = await discover('web', secret);
  const { codeVerifier, state, nonce, parameters } = await request();
  const url = buildAuthorizationUrl(config, parameters);
  const callback = landedAt(await signInThroughDevInteractions(url, redirectUri, { login: 'alice' }));
  // RFC 9207: oidc-provider names itself in the response.
  assert.equal(callback.searchParams.get('iss'), op.issuer);
  assert.equal(callback.searchParams.get('state'), state);

  const tokens = await authorizationCodeGrant(config, callback, { pkceCodeVerifier: codeVerifier, expectedState: state, expectedNonce: nonce });
  assert.equal(tokens.token_type, 'bearer');
  assert.ok(tokens.refresh_token);
  assert.equal(tokens.claims()!.sub, 'alice');
  assert.equal(tokens.claims()!.nonce, nonce);
  assert.deepEqual(tokens.scope!.split(' ').sort(), ['offline_access', 'openid']);

  // The token manager takes it from here, in one line, and keeps the rotating session alive.
  const store = createMemoryStore();
  let clock = Date.now();
  const manager = createTokenManager({ config, store, now: () => clock });
  await manager.setTokens(tokens);
  assert.equal(await manager.getAccessToken(), tokens.access_token);
  clock += 3600_000;
  const refreshed = await manager.getAccessToken();
  assert.notEqual(refreshed, tokens.access_token);
  const afterFirst = (await store.get('default'))!;
  assert.notEqual(afterFirst.refreshToken, tokens.refresh_token, 'oidc-provider rotated the refresh token');
  clock += 3600_000;
  await manager.getAccessToken();
  assert.notEqual((await store.get('default'))!.refreshToken, afterFirst.refreshToken);
  // The refreshed id_tokens were checked against the sign-in's (OIDC Core section 12.2): same subject.
  assert.equal(JSON.parse(atob((await store.get('default'))!.idToken!.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))).sub, 'alice');
});

test('PAR and DPoP, public client: the pushed request and the exchange carry proofs (with oidc-provider\'s nonces), the tokens are bound', async () => {
  const config = await discover('spa');
  const keyPair = await randomDPoPKeyPair();
  const DPoP = getDPoPHandle(config, keyPair);
  const requests: string[] = [];
  config[customFetch] = async (url, options) => {
    requests.push(`${new URL(url).pathname}${options.headers.dpop ? ' +dpop' : ''}`);
    return fetch(url, options);
  };
  const { codeVerifier, state, nonce, parameters } = await request();
  const url = await buildAuthorizationUrlWithPAR(config, parameters, { DPoP });
  // RFC 9126 section 4: only client_id and request_uri travel through the browser.
  assert.deepEqual([...url.searchParams.keys()].sort(), ['client_id', 'request_uri']);
  assert.match(url.searchParams.get('request_uri')!, /^urn:ietf:params:oauth:request_uri:/);
  const callback = landedAt(await signInThroughDevInteractions(url, redirectUri, { login: 'bob' }));

  const tokens = await authorizationCodeGrant(config, callback, { pkceCodeVerifier: codeVerifier, expectedState: state, expectedNonce: nonce }, undefined, { DPoP });
  assert.equal(tokens.token_type, 'dpop');
  assert.equal(tokens.claims()!.sub, 'bob');
  // The first proof had no nonce: oidc-provider asked for one at the pushed request, which was retried
  // once; the exchange's proof already carried the nonce remembered for the origin.
  assert.deepEqual(requests.filter((r) => !r.startsWith('/jwks')), ['/request +dpop', '/request +dpop', '/token +dpop']);

  // A public client's refresh token is bound to the key (RFC 9449 section 5): without a proof it is refused.
  await assert.rejects(refreshTokenGrant(config, tokens.refresh_token!), (e) => e instanceof OAuthResponseError && e.error === 'invalid_grant');
  const manager = createTokenManager({ config, store: createMemoryStore(), DPoP, now: () => Date.now() + 3600_000 });
  await manager.setTokens(tokens);
  const stored = await manager.refresh();
  assert.equal(stored.tokenType, 'dpop');
  assert.notEqual(stored.refreshToken, tokens.refresh_token);
});

test('a tampered iss or state is refused before the exchange: the code is still unused', async () => {
  const config = await discover('web', secret);
  const { codeVerifier, state, nonce, parameters } = await request();
  const callback = landedAt(await signInThroughDevInteractions(buildAuthorizationUrl(config, parameters), redirectUri));
  const mixedUp = new URL(callback);
  mixedUp.searchParams.set('iss', 'https://attacker.example');
  await assert.rejects(authorizationCodeGrant(config, mixedUp, { pkceCodeVerifier: codeVerifier, expectedState: state }), (e) => e instanceof InvalidResponseError && /not the issuer/.test(e.message));
  const withoutIss = new URL(callback);
  withoutIss.searchParams.delete('iss');
  await assert.rejects(authorizationCodeGrant(config, withoutIss, { pkceCodeVerifier: codeVerifier, expectedState: state }), (e) => e instanceof InvalidResponseError && /"iss" is missing/.test(e.message));
  await assert.rejects(authorizationCodeGrant(config, callback, { pkceCodeVerifier: codeVerifier, expectedState: randomState() }), (e) => e instanceof InvalidResponseError && /"state" does not match/.test(e.message));
  // None of those reached oidc-provider's token endpoint: the genuine response still exchanges.
  const tokens = await authorizationCodeGrant(config, callback, { pkceCodeVerifier: codeVerifier, expectedState: state, expectedNonce: nonce });
  assert.ok(tokens.refresh_token);
});

test('a wrong PKCE verifier is refused by oidc-provider', async () => {
  const config = await discover('web', secret);
  const { state, parameters } = await request();
  const callback = landedAt(await signInThroughDevInteractions(buildAuthorizationUrl(config, parameters), redirectUri));
  await assert.rejects(authorizationCodeGrant(config, callback, { pkceCodeVerifier: randomPKCECodeVerifier(), expectedState: state }), (e) =>
    e instanceof OAuthResponseError && e.error === 'invalid_grant' && !e.retryable);
});

test('error responses: the user refuses consent (access_denied), prompt=none without a session (login_required), PAR required but not used', async () => {
  const config = await discover('web', secret);
  const refused = await request();
  const denied = landedAt(await signInThroughDevInteractions(buildAuthorizationUrl(config, refused.parameters), redirectUri, { abort: true }));
  await assert.rejects(authorizationCodeGrant(config, denied, { pkceCodeVerifier: refused.codeVerifier, expectedState: refused.state }), (e) =>
    e instanceof AuthorizationResponseError && e.kind === 'authorization' && e.error === 'access_denied' && e.errorDescription === 'End-User aborted interaction' && !e.retryable);

  const silent = await request({ prompt: 'none', scope: 'openid' });
  const noSession = landedAt(await signInThroughDevInteractions(buildAuthorizationUrl(config, silent.parameters), redirectUri));
  await assert.rejects(authorizationCodeGrant(config, noSession, { pkceCodeVerifier: silent.codeVerifier, expectedState: silent.state }), (e) =>
    e instanceof AuthorizationResponseError && e.error === 'login_required');

  const pushedOnly = await discover('pushed-only', secret);
  const plain = await request();
  const refusedPlain = landedAt(await signInThroughDevInteractions(buildAuthorizationUrl(pushedOnly, plain.parameters), redirectUri));
  await assert.rejects(authorizationCodeGrant(pushedOnly, refusedPlain, { pkceCodeVerifier: plain.codeVerifier, expectedState: plain.state }), (e) =>
    e instanceof AuthorizationResponseError && e.error === 'invalid_request');
  const pushed = await request();
  const callback = landedAt(await signInThroughDevInteractions(await buildAuthorizationUrlWithPAR(pushedOnly, pushed.parameters), redirectUri));
  assert.ok((await authorizationCodeGrant(pushedOnly, callback, { pkceCodeVerifier: pushed.codeVerifier, expectedState: pushed.state, expectedNonce: pushed.nonce })).refresh_token);
});

test('response_mode=form_post: the POST the browser would make to the redirect URI is the response', async () => {
  const config = await discover('web', secret);
  const { codeVerifier, state, nonce, parameters } = await request({ response_mode: 'form_post' });
  const landing = await signInThroughDevInteractions(buildAuthorizationUrl(config, parameters), redirectUri);
  assert.ok('post' in landing, 'an auto-submitting form to the redirect URI');
  const tokens = await authorizationCodeGrant(config, landing.post, { pkceCodeVerifier: codeVerifier, expectedState: state, expectedNonce: nonce });
  assert.equal(tokens.claims()!.nonce, nonce);
});
