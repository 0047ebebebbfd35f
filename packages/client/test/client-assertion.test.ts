import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import { ClientSecretJwt, PrivateKeyJwt } from '../src/client-assertion.ts';
import type { ServerMetadata } from '../src/configuration.ts';

const as: ServerMetadata = { issuer: 'https://as.example', token_endpoint: 'https://as.example/token' };
const client = { client_id: 'client-1' };

async function assertion(auth: ReturnType<typeof ClientSecretJwt>) {
  const body = new URLSearchParams();
  const headers = new Headers();
  await auth(as, client, body, headers);
  assert.equal(headers.has('authorization'), false);
  assert.equal(body.get('client_id'), 'client-1');
  assert.equal(body.get('client_assertion_type'), 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
  return body.get('client_assertion')!;
}

function checkClaims(payload: Record<string, unknown>) {
  assert.equal(payload.iss, 'client-1');
  assert.equal(payload.sub, 'client-1');
  assert.equal(payload.aud, 'https://as.example');
  assert.equal(typeof payload.jti, 'string');
  const now = Math.floor(Date.now() / 1000);
  assert.ok(Math.abs((payload.iat as number) - now) <= 5);
  assert.equal((payload.exp as number) - (payload.iat as number), 60);
}

test('ClientSecretJwt signs an HS256 assertion (RFC 7523) with the client secret', async () => {
  const jwt = await assertion(ClientSecretJwt('a-long-enough-shared-secret-0123456789'));
  const { payload, protectedHeader } = await jwtVerify(jwt, new TextEncoder().encode('a-long-enough-shared-secret-0123456789'));
  assert.equal(protectedHeader.alg, 'HS256');
  checkClaims(payload);
  await assert.rejects(jwtVerify(jwt, new TextEncoder().encode('another-secret-0123456789-0123456789')));
});

test('assertions carry a fresh jti each time', async () => {
  const auth = ClientSecretJwt('secret-secret-secret-secret-secret');
  const a = await assertion(auth);
  const b = await assertion(auth);
  const jti = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString()).jti;
  assert.notEqual(jti(a), jti(b));
});

const keys: Array<[string, RsaHashedKeyGenParams | EcKeyGenParams | { name: string }]> = [
  ['RS256', { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }],
  ['PS384', { name: 'RSA-PSS', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-384' }],
  ['ES256', { name: 'ECDSA', namedCurve: 'P-256' }],
  ['ES384', { name: 'ECDSA', namedCurve: 'P-384' }],
  ['ES512', { name: 'ECDSA', namedCurve: 'P-521' }],
  ['Ed25519', { name: 'Ed25519' }],
];

for (const [alg, params] of keys) {
  test(`PrivateKeyJwt signs with the key's algorithm: ${alg}`, async () => {
    const { privateKey, publicKey } = (await crypto.subtle.generateKey(params, false, ['sign', 'verify'])) as CryptoKeyPair;
    const jwt = await assertion(PrivateKeyJwt({ key: privateKey, kid: 'k-1' }));
    assert.deepEqual(decodeProtectedHeader(jwt), { alg, kid: 'k-1' });
    const { payload } = await jwtVerify(jwt, publicKey, { algorithms: [alg] });
    checkClaims(payload);
  });
}

test('PrivateKeyJwt takes a bare CryptoKey (no kid) and lets modifyAssertion change claims', async () => {
  const { privateKey, publicKey } = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  const jwt = await assertion(
    PrivateKeyJwt(privateKey, { modifyAssertion: (header, payload) => ((header.typ = 'JWT'), (payload.aud = as.token_endpoint)) }),
  );
  assert.deepEqual(decodeProtectedHeader(jwt), { alg: 'ES256', typ: 'JWT' });
  const { payload } = await jwtVerify(jwt, publicKey);
  assert.equal(payload.aud, 'https://as.example/token');
});

test('PrivateKeyJwt refuses a public key or a non-key', async () => {
  const { publicKey } = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  assert.throws(() => PrivateKeyJwt(publicKey), TypeError);
  assert.throws(() => PrivateKeyJwt({ key: 'nope' as unknown as CryptoKey }), TypeError);
  const hmac = await crypto.subtle.generateKey({ name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  assert.throws(() => PrivateKeyJwt(hmac), TypeError);
});

test('the audience option: the issuer by default, or the token endpoint (Authlib, glewlwyd), for both helpers', async () => {
  const secret = 'a-long-enough-shared-secret-0123456789';
  const key = new TextEncoder().encode(secret);
  const aud = async (auth: ReturnType<typeof ClientSecretJwt>) => (await jwtVerify(await assertion(auth), key)).payload.aud;
  assert.equal(await aud(ClientSecretJwt(secret)), 'https://as.example');
  assert.equal(await aud(ClientSecretJwt(secret, { audience: 'issuer' })), 'https://as.example');
  assert.equal(await aud(ClientSecretJwt(secret, { audience: 'token_endpoint' })), 'https://as.example/token');
  const { privateKey, publicKey } = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  const jwt = await assertion(PrivateKeyJwt(privateKey, { audience: 'token_endpoint' }));
  assert.equal((await jwtVerify(jwt, publicKey)).payload.aud, 'https://as.example/token');
});
