import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { Configuration, customFetch } from '../src/configuration.ts';
import { InvalidResponseError } from '../src/errors.ts';
import { refreshTokenGrant, validateIdToken } from '../src/refresh-token-grant.ts';
import { json, startServer, type TestServer } from './helpers/http-server.ts';

let server: TestServer;
let key: CryptoKey;
let otherKey: CryptoKey;
let jwksFetches = 0;
/** What the token endpoint answers next. */
let answer: Record<string, unknown> = {};

before(async () => {
  const pair = await generateKeyPair('RS256');
  key = pair.privateKey;
  otherKey = (await generateKeyPair('RS256')).privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  server = await startServer((req, res) => {
    if (req.path === '/jwks') return jwksFetches++, json(res, 200, { keys: [jwk] });
    return json(res, 200, answer);
  });
});
after(() => server.close());

const now = () => Math.floor(Date.now() / 1000);
/**
 * When alice signed in: read once, so that every id_token of the run carries the same `auth_time`
 * (OIDC Core section 12.2 compares it with the original's; read per token, it differed whenever a
 * second ended between two tokens).
 */
const authTime = now() - 1000;
const configure = (metadata: Record<string, unknown> = {}, server_: Record<string, unknown> = {}) =>
  new Configuration({ issuer: server.url, token_endpoint: `${server.url}/token`, jwks_uri: `${server.url}/jwks`, ...server_ }, 'client-1', { client_secret: 's', ...metadata });

function idToken(claims: JWTPayload = {}, options: { key?: CryptoKey; alg?: string; drop?: string[] } = {}) {
  const issuedAt = now(); // one reading of the clock: exp is always iat + 300
  const payload: JWTPayload = { iss: server.url, sub: 'alice', aud: 'client-1', iat: issuedAt, exp: issuedAt + 300, auth_time: authTime, ...claims };
  for (const name of options.drop ?? []) delete payload[name];
  return new SignJWT(payload).setProtectedHeader({ alg: options.alg ?? 'RS256', kid: 'k1' }).sign(options.key ?? key);
}

async function refresh(token: string, original?: string, config = configure()) {
  answer = { access_token: 'at', token_type: 'bearer', refresh_token: 'rt-new', id_token: token };
  return refreshTokenGrant(config, 'rt', undefined, { idToken: original });
}

test('a valid id_token: signature against the JWKS, claims() returns its claims, JWKS cached per Configuration', async () => {
  const config = configure();
  const before = jwksFetches;
  const original = await idToken({ iat: now() - 3600, exp: now() - 3000 });
  const first = await refresh(await idToken(), original, config);
  assert.equal(first.claims()!.sub, 'alice');
  assert.equal(first.claims()!.iss, server.url);
  assert.equal(first.expiresIn(), undefined);
  const second = await refresh(await idToken({ nonce: undefined }), await idToken(), config);
  assert.equal(second.claims()!.aud, 'client-1');
  assert.equal(jwksFetches - before, 1);
  assert.equal(JSON.stringify(Object.keys(second)), JSON.stringify(['access_token', 'token_type', 'refresh_token', 'id_token']));
});

test('OIDC Core section 12.2: the refreshed id_token must match the original', async () => {
  const original = await idToken({ azp: 'client-1', nonce: 'n-1', auth_time: 1000 });
  const ok = await refresh(await idToken({ azp: 'client-1', nonce: 'n-1', auth_time: 1000 }), original);
  assert.equal(ok.claims()!.auth_time, 1000);
  const mismatches: Array<[string, JWTPayload]> = [
    ['sub', { sub: 'mallory', azp: 'client-1', auth_time: 1000 }],
    ['auth_time', { azp: 'client-1', auth_time: 2000 }],
    ['nonce', { azp: 'client-1', auth_time: 1000, nonce: 'n-2' }],
  ];
  for (const [claim, claims] of mismatches) {
    await assert.rejects(refresh(await idToken(claims), original), (e) =>
      e instanceof InvalidResponseError && e.message.includes(`"${claim}" differs`) && e.body?.refresh_token === 'rt-new' && !e.retryable);
  }
  // An original with another audience set or issuer (claims passed as an object work too).
  const claims = { iss: server.url, sub: 'alice', aud: ['client-1', 'other'], exp: 0, iat: 0, azp: 'client-1' };
  await assert.rejects(refresh(await idToken({ azp: 'client-1' }), claims as never), /"aud" differs/);
  await assert.rejects(refresh(await idToken(), { ...claims, aud: 'client-1', iss: 'https://elsewhere' } as never), /"iss" differs/);
  // azp in the new token but not in the original.
  await assert.rejects(refresh(await idToken({ azp: 'client-1' }), await idToken()), /"azp" differs/);
  // A malformed original is caller misuse.
  await assert.rejects(refresh(await idToken(), 'not-a-jwt'), TypeError);
});

const invalid: Array<[string, () => Promise<string>, Record<string, unknown>?]> = [
  ['signed by another key', () => idToken({}, { key: otherKey })],
  ['another issuer', () => idToken({ iss: 'https://evil.example' })],
  ['another audience', () => idToken({ aud: 'client-2' })],
  ['several audiences without azp', () => idToken({ aud: ['client-1', 'api'] })],
  ['azp of another client', () => idToken({ azp: 'client-2' })],
  ['expired', () => idToken({ exp: now() - 120 })],
  ['iat too old for a fresh token', () => idToken({ iat: now() - 3600, exp: now() + 300 })],
  ['iat in the future', () => idToken({ iat: now() + 600 })],
  ['no sub', () => idToken({}, { drop: ['sub'] })],
  ['no iat', () => idToken({}, { drop: ['iat'] })],
  ['an algorithm the client did not register', () => idToken(), { id_token_signed_response_alg: 'ES256' }],
  ['not a JWT', async () => 'abc.def'],
];
for (const [name, make, metadata] of invalid) {
  test(`an id_token that is ${name} is an InvalidResponseError that keeps the body`, async () => {
    await assert.rejects(refresh(await make(), undefined, configure(metadata)), (e) =>
      e instanceof InvalidResponseError && /^id_token is invalid/.test(e.message) && e.body?.refresh_token === 'rt-new' && !e.retryable);
  });
}

test('algorithms default to the server-advertised ones (never none or HS*), else RS256', async () => {
  const es = await generateKeyPair('ES256');
  await assert.rejects(refresh(await idToken({}, { key: es.privateKey, alg: 'ES256' })), /invalid/);
  const config = configure({}, { id_token_signing_alg_values_supported: ['none', 'HS256', 'PS256'] });
  await assert.rejects(refresh(await idToken(), undefined, config), /invalid/);
  assert.ok((await refresh(await idToken(), undefined, configure({}, { id_token_signing_alg_values_supported: ['RS256'] }))).claims());
});

test('no jwks_uri, or an unreachable JWKS: InvalidResponseError (retryable only when unreachable), body kept', async () => {
  await assert.rejects(refresh(await idToken(), undefined, configure({}, { jwks_uri: undefined })), (e) =>
    e instanceof InvalidResponseError && /jwks_uri/.test(e.message) && !e.retryable && e.body?.refresh_token === 'rt-new');
  const dead = await startServer();
  await dead.close();
  const config = configure();
  config[customFetch] = (url, init) => fetch(url.includes('/jwks') ? `${dead.url}/jwks` : url, init);
  await assert.rejects(refresh(await idToken(), undefined, config), (e) =>
    e instanceof InvalidResponseError && /unreachable/.test(e.message) && e.retryable && e.body?.refresh_token === 'rt-new');
});

test('validateIdToken works on its own (with the transport-free layer)', async () => {
  const claims = await validateIdToken(configure(), await idToken({ email: 'a@example.com' }));
  assert.equal(claims.email, 'a@example.com');
});
