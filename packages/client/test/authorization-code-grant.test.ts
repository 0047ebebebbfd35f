/**
 * authorizationCodeGrant against a small authorization server on loopback HTTP that enforces what
 * a real one does at the exchange (RFC 6749 section 4.1.3, RFC 7636 section 4.6): single-use
 * codes bound to the client, the redirect URI and the S256 challenge; id_tokens signed with a key
 * from its JWKS; refresh tokens that rotate.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import { decodeJwt, EmbeddedJWK, exportJWK, generateKeyPair, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import { authorizationCodeGrant, type AuthorizationCodeGrantChecks } from '../src/authorization-code-grant.ts';
import { AuthorizationResponseError } from '../src/authorization-response.ts';
import { buildAuthorizationUrl } from '../src/authorization-url.ts';
import { ClientSecretBasic, None } from '../src/client-auth.ts';
import { Configuration, type ClientMetadata } from '../src/configuration.ts';
import { getDPoPHandle, randomDPoPKeyPair } from '../src/dpop.ts';
import { InvalidResponseError, OAuthResponseError } from '../src/errors.ts';
import { createMemoryStore } from '../src/memory-store.ts';
import { calculatePKCECodeChallenge, randomNonce, randomPKCECodeVerifier, randomState } from '../src/pkce.ts';
import { createTokenManager } from '../src/token-manager.ts';
import { json, startServer, type TestServer } from './helpers/http-server.ts';

interface Code {
  clientId: string;
  redirectUri: string;
  challenge: string;
  /** Claims of the id_token issued for it; none without `openid`. */
  idToken?: JWTPayload;
  /** Sign the id_token with this key instead of the published one. */
  signWith?: CryptoKey;
  used?: boolean;
}

let server: TestServer;
let signingKey: CryptoKey;
let strangerKey: CryptoKey;
const codes = new Map<string, Code>();
let issued = 0;
/** Answer use_dpop_nonce to DPoP proofs without this nonce (when set). */
let dpopNonce: string | undefined;
const redirectUri = 'http://127.0.0.1:9/callback';
const now = () => Math.floor(Date.now() / 1000);
const s256 = (verifier: string) => createHash('sha256').update(verifier).digest('base64url');

before(async () => {
  const pair = await generateKeyPair('ES256');
  signingKey = pair.privateKey;
  strangerKey = (await generateKeyPair('ES256')).privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  server = await startServer(async (req, res) => {
    if (req.path === '/jwks') return json(res, 200, { keys: [jwk] });
    const form = req.form;
    const clientId = req.headers.authorization ? atob(req.headers.authorization.slice(6)).split(':')[0] : form.get('client_id');
    if (req.headers.dpop && dpopNonce && decodeJwt(String(req.headers.dpop)).nonce !== dpopNonce) {
      return json(res, 400, { error: 'use_dpop_nonce' }, { 'dpop-nonce': dpopNonce });
    }
    const tokenType = req.headers.dpop ? 'DPoP' : 'Bearer';
    if (form.get('grant_type') === 'refresh_token') {
      return json(res, 200, { access_token: `at-${++issued}`, token_type: tokenType, expires_in: 600, refresh_token: `rt-${issued}` });
    }
    if (form.get('grant_type') !== 'authorization_code') return json(res, 400, { error: 'unsupported_grant_type' });
    const code = codes.get(form.get('code') ?? '');
    // RFC 6749 section 4.1.3 and RFC 7636 section 4.6: the code is single use, bound to the client, the redirect URI and the challenge.
    if (!code || code.used || code.clientId !== clientId || code.redirectUri !== form.get('redirect_uri')) return json(res, 400, { error: 'invalid_grant' });
    code.used = true;
    const verifier = form.get('code_verifier');
    if (!verifier) return json(res, 400, { error: 'invalid_request', error_description: 'code_verifier required' });
    if (s256(verifier) !== code.challenge) return json(res, 400, { error: 'invalid_grant', error_description: 'PKCE verification failed' });
    issued++;
    const body: Record<string, unknown> = { access_token: `at-${issued}`, token_type: tokenType, expires_in: 600, refresh_token: `rt-${issued}`, scope: 'openid offline_access' };
    if (code.idToken) {
      const claims = { iss: server.url, sub: 'alice', aud: clientId, iat: now(), exp: now() + 300, ...code.idToken };
      body.id_token = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).sign(code.signWith ?? signingKey);
    }
    return json(res, 200, body);
  });
});
after(() => server.close());

const metadata = () => ({
  issuer: server.url,
  authorization_endpoint: `${server.url}/authorize`,
  token_endpoint: `${server.url}/token`,
  jwks_uri: `${server.url}/jwks`,
  authorization_response_iss_parameter_supported: true,
  id_token_signing_alg_values_supported: ['ES256'],
});
const configure = (client: Partial<ClientMetadata> = {}) => new Configuration(metadata(), 'web', client, ClientSecretBasic('s3cret'));

/** An authorization request as the user agent would make it, and the server's redirect back with a fresh code. */
async function authorize(options: { clientId?: string; idToken?: JWTPayload; signWith?: CryptoKey; query?: (code: string, state: string) => string } = {}) {
  const verifier = randomPKCECodeVerifier();
  const state = randomState();
  const code = `code-${codes.size + 1}`;
  codes.set(code, { clientId: options.clientId ?? 'web', redirectUri, challenge: await calculatePKCECodeChallenge(verifier), idToken: options.idToken, signWith: options.signWith });
  const query = options.query?.(code, state) ?? `code=${code}&state=${state}&iss=${encodeURIComponent(server.url)}`;
  return { verifier, state, code, callback: new URL(`${redirectUri}?${query}`) };
}

test('the whole flow: PKCE, state, iss, nonce; the exchange as RFC 6749 section 4.1.3 specifies; tokens with helpers and claims', async () => {
  const config = configure();
  const nonce = randomNonce();
  const verifier = randomPKCECodeVerifier();
  const state = randomState();
  const url = buildAuthorizationUrl(config, { redirect_uri: redirectUri, scope: 'openid offline_access', state, nonce, code_challenge: await calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
  // The server keeps what the request carried and redirects back with a code, the state and its issuer.
  codes.set('code-flow', { clientId: url.searchParams.get('client_id')!, redirectUri: url.searchParams.get('redirect_uri')!, challenge: url.searchParams.get('code_challenge')!, idToken: { nonce: url.searchParams.get('nonce')!, auth_time: now() - 5 } });
  const callback = new URL(`${redirectUri}?code=code-flow&state=${state}&iss=${encodeURIComponent(server.url)}`);

  const tokens = await authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce }, { resource: 'https://api.example' });
  const req = server.requests.findLast((r) => r.path === '/token')!;
  assert.equal(req.headers.authorization, `Basic ${btoa('web:s3cret')}`);
  assert.deepEqual(Object.fromEntries(req.form), { resource: 'https://api.example', grant_type: 'authorization_code', code: 'code-flow', redirect_uri: redirectUri, code_verifier: verifier });
  assert.match(tokens.access_token, /^at-/);
  assert.equal(tokens.token_type, 'bearer');
  assert.match(tokens.refresh_token!, /^rt-/);
  assert.ok(tokens.expiresIn()! <= 600 && tokens.expiresIn()! > 500);
  assert.equal(tokens.claims()!.sub, 'alice');
  assert.equal(tokens.claims()!.nonce, nonce);
  assert.deepEqual(Object.keys(tokens).sort(), ['access_token', 'expires_in', 'id_token', 'refresh_token', 'scope', 'token_type']);
  // The code is single use at the server: a second exchange is refused there.
  await assert.rejects(authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce }), (e) => e instanceof OAuthResponseError && e.error === 'invalid_grant');
});

test('a plain OAuth flow without an id_token', async () => {
  const { verifier, state, callback } = await authorize();
  const tokens = await authorizationCodeGrant(configure(), callback, { pkceCodeVerifier: verifier, expectedState: state });
  assert.equal(tokens.id_token, undefined);
  assert.equal(tokens.claims(), undefined);
});

test('checks at the exchange: table (PKCE, nonce, auth_time, the id_token itself)', async () => {
  type Case = [name: string, setup: { idToken?: JWTPayload; signWith?: CryptoKey; client?: Partial<ClientMetadata> }, checks: (verifier: string) => Omit<AuthorizationCodeGrantChecks, 'expectedState'>, expected: RegExp | 'ok'];
  const table: Case[] = [
    ['the right verifier', {}, (verifier) => ({ pkceCodeVerifier: verifier }), 'ok'],
    ['a wrong verifier: the server refuses the code (RFC 7636 section 4.6)', {}, () => ({ pkceCodeVerifier: randomPKCECodeVerifier() }), /^invalid_grant: PKCE verification failed$/],
    ['no verifier though a challenge was sent', {}, () => ({}), /^invalid_request/],
    ['nonce as sent', { idToken: { nonce: 'n-1' } }, (verifier) => ({ pkceCodeVerifier: verifier, expectedNonce: 'n-1' }), 'ok'],
    ['nonce mismatch', { idToken: { nonce: 'n-other' } }, (verifier) => ({ pkceCodeVerifier: verifier, expectedNonce: 'n-1' }), /"nonce" does not match/],
    ['nonce missing from the id_token', { idToken: {} }, (verifier) => ({ pkceCodeVerifier: verifier, expectedNonce: 'n-1' }), /"nonce" does not match/],
    ['nonce in the id_token though none was sent', { idToken: { nonce: 'n-1' } }, (verifier) => ({ pkceCodeVerifier: verifier }), /"nonce" is present but none was sent/],
    ['a nonce was sent but no id_token came back', {}, (verifier) => ({ pkceCodeVerifier: verifier, expectedNonce: 'n-1' }), /no id_token/],
    ['idTokenExpected without an id_token', {}, (verifier) => ({ pkceCodeVerifier: verifier, idTokenExpected: true }), /no id_token/],
    ['maxAge met', { idToken: { auth_time: now() - 60 } }, (verifier) => ({ pkceCodeVerifier: verifier, maxAge: 300 }), 'ok'],
    ['maxAge without auth_time', { idToken: {} }, (verifier) => ({ pkceCodeVerifier: verifier, maxAge: 300 }), /"auth_time" is missing/],
    ['maxAge exceeded', { idToken: { auth_time: now() - 3600 } }, (verifier) => ({ pkceCodeVerifier: verifier, maxAge: 300 }), /older than max_age/],
    ['the client\'s default_max_age applies', { idToken: { auth_time: now() - 3600 }, client: { default_max_age: 300 } }, (verifier) => ({ pkceCodeVerifier: verifier }), /older than max_age/],
    ['auth_time that is not a number', { idToken: { auth_time: 'yesterday' as unknown as number } }, (verifier) => ({ pkceCodeVerifier: verifier }), /"auth_time" is not a number/],
    ['an id_token signed by a key not in the JWKS', { idToken: {}, signWith: strangerKey }, (verifier) => ({ pkceCodeVerifier: verifier }), /id_token is invalid/],
    ['an id_token for another audience', { idToken: { aud: 'someone-else' } }, (verifier) => ({ pkceCodeVerifier: verifier }), /id_token is invalid.*aud/],
    ['an id_token from another issuer', { idToken: { iss: 'https://evil.example' } }, (verifier) => ({ pkceCodeVerifier: verifier }), /id_token is invalid.*iss/],
  ];
  for (const [name, setup, checks, expected] of table) {
    const { verifier, state, callback } = await authorize(setup);
    const outcome = authorizationCodeGrant(configure(setup.client), callback, { ...checks(verifier), expectedState: state });
    if (expected === 'ok') {
      assert.match((await outcome).access_token, /^at-/, name);
      continue;
    }
    await assert.rejects(outcome, (e) => {
      assert.match((e as Error).message, expected, name);
      if (e instanceof InvalidResponseError) {
        // A failed check keeps what the server sent (its refresh token included) out of sight but at hand.
        assert.match(String(e.body?.refresh_token), /^rt-/, name);
        assert.equal(e.retryable, false, name);
      } else assert.ok(e instanceof OAuthResponseError && !e.retryable, name);
      return true;
    }, name);
  }
});

test('authorization response failures stop before the token endpoint: no request is sent', async () => {
  const config = configure();
  const table: Array<[string, (code: string, state: string) => string, (e: unknown) => boolean]> = [
    ['state mismatch', (code) => `code=${code}&state=forged&iss=${encodeURIComponent(server.url)}`, (e) => e instanceof InvalidResponseError && /"state"/.test(e.message)],
    ['iss missing (the server advertises it)', (code, state) => `code=${code}&state=${state}`, (e) => e instanceof InvalidResponseError && /"iss" is missing/.test(e.message)],
    ['iss of another server', (code, state) => `code=${code}&state=${state}&iss=https%3A%2F%2Fevil.example`, (e) => e instanceof InvalidResponseError && /not the issuer/.test(e.message)],
    ['an error response', (_code, state) => `error=access_denied&error_description=denied&state=${state}&iss=${encodeURIComponent(server.url)}`, (e) =>
      e instanceof AuthorizationResponseError && e.kind === 'authorization' && e.error === 'access_denied' && e.errorDescription === 'denied'],
    ['no code', (_code, state) => `state=${state}&iss=${encodeURIComponent(server.url)}`, (e) => e instanceof InvalidResponseError && /no "code"/.test(e.message)],
  ];
  for (const [name, query, check] of table) {
    const { verifier, state, code, callback } = await authorize({ query });
    const sent = server.requests.length;
    await assert.rejects(authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state }), check, name);
    assert.equal(server.requests.length, sent, name);
    assert.equal(codes.get(code)!.used, undefined, name);
  }
});

test('misuse is a TypeError, before any request', async () => {
  const { verifier, state, callback } = await authorize();
  const sent = server.requests.length;
  const table: Array<[string, () => Promise<unknown>]> = [
    ['not a Configuration', () => authorizationCodeGrant({} as Configuration, callback, { pkceCodeVerifier: verifier, expectedState: state })],
    ['a verifier outside RFC 7636', () => authorizationCodeGrant(configure(), callback, { pkceCodeVerifier: 'short', expectedState: state })],
    ['an empty expectedNonce', () => authorizationCodeGrant(configure(), callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: '' })],
    ['a negative maxAge', () => authorizationCodeGrant(configure(), callback, { pkceCodeVerifier: verifier, expectedState: state, maxAge: -1 })],
    ['a string for currentUrl', () => authorizationCodeGrant(configure(), callback.href as unknown as URL, { pkceCodeVerifier: verifier, expectedState: state })],
    ['no token endpoint', () => authorizationCodeGrant(new Configuration({ issuer: server.url }, 'web', 's'), new URL(`${redirectUri}?code=c&state=${state}`), { pkceCodeVerifier: verifier, expectedState: state })],
  ];
  for (const [name, call] of table) await assert.rejects(call(), TypeError, name);
  assert.equal(server.requests.length, sent);
});

test('response_mode=form_post: the incoming POST Request is the response', async () => {
  const { verifier, state, code } = await authorize();
  const request = new Request(redirectUri, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ code, state, iss: server.url }),
  });
  const tokens = await authorizationCodeGrant(configure(), request, { pkceCodeVerifier: verifier, expectedState: state });
  assert.match(tokens.access_token, /^at-/);
  assert.equal(server.requests.at(-1)!.form.get('redirect_uri'), redirectUri);
});

test('DPoP at the exchange: a proof for the token endpoint, a retry with the server nonce, DPoP-bound tokens', async () => {
  const config = new Configuration(metadata(), 'spa', undefined, None());
  const DPoP = getDPoPHandle(config, await randomDPoPKeyPair());
  const { verifier, state, callback } = await authorize({ clientId: 'spa' });
  dpopNonce = 'nonce-1';
  try {
    const tokens = await authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state }, undefined, { DPoP });
    assert.equal(tokens.token_type, 'dpop');
  } finally {
    dpopNonce = undefined;
  }
  const [first, second] = server.requests.slice(-2);
  assert.equal(first.form.get('code'), second.form.get('code'));
  assert.equal(second.form.get('client_id'), 'spa');
  const { payload, protectedHeader } = await jwtVerify(String(second.headers.dpop), EmbeddedJWK, { typ: 'dpop+jwt' });
  assert.equal(payload.htu, `${server.url}/token`);
  assert.equal(payload.htm, 'POST');
  assert.equal(payload.nonce, 'nonce-1');
  assert.equal(protectedHeader.jwk!.kty, 'EC');
  assert.equal(decodeJwt(String(first.headers.dpop)).nonce, undefined);
});

test('the token manager is seeded with the result in one line, and refreshes from there', async () => {
  const { verifier, state, callback } = await authorize({ idToken: {} });
  const tokens = await authorizationCodeGrant(configure(), callback, { pkceCodeVerifier: verifier, expectedState: state });
  let clock = Date.now();
  const store = createMemoryStore();
  const manager = createTokenManager({ config: configure(), store, now: () => clock, random: () => 0 });

  await manager.setTokens(tokens);

  const stored = (await store.get('default'))!;
  assert.equal(stored.refreshToken, tokens.refresh_token);
  assert.equal(stored.idToken, tokens.id_token);
  assert.equal(stored.tokenType, 'bearer');
  assert.ok(stored.expiresAt! <= clock + 600_000 && stored.expiresAt! > clock + 500_000);
  const sent = server.requests.length;
  assert.equal(await manager.getAccessToken(), tokens.access_token);
  assert.equal(server.requests.length, sent, 'no refresh while the access token is fresh');
  clock += 600_000;
  const refreshed = await manager.getAccessToken();
  assert.notEqual(refreshed, tokens.access_token);
  assert.equal(server.requests.at(-1)!.form.get('refresh_token'), tokens.refresh_token);
});
