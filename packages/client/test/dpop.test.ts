/**
 * The client's DPoP (RFC 9449): proofs checked with jose (a verifier we did not write), nonces per
 * origin, one retry on use_dpop_nonce at the token endpoint (with a fresh client assertion), and
 * the token manager's fetch wrapper sending DPoP-bound tokens with `ath` proofs.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, test } from 'node:test';
import { calculateJwkThumbprint, decodeJwt, EmbeddedJWK, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import { PrivateKeyJwt } from '../src/client-assertion.ts';
import { None } from '../src/client-auth.ts';
import { Configuration } from '../src/configuration.ts';
import { getDPoPHandle, randomDPoPKeyPair } from '../src/dpop.ts';
import { OAuthResponseError } from '../src/errors.ts';
import { createMemoryStore } from '../src/memory-store.ts';
import { refreshTokenGrant } from '../src/refresh-token-grant.ts';
import { createTokenManager } from '../src/token-manager.ts';
import { json, startServer, type RecordedRequest, type TestServer } from './helpers/http-server.ts';

const servers: TestServer[] = [];
after(() => Promise.all(servers.map((s) => s.close())));
async function server(handler: Parameters<typeof startServer>[0]) {
  const s = await startServer(handler);
  servers.push(s);
  return s;
}

const config = (url: string, auth = None()) => new Configuration({ issuer: url, token_endpoint: `${url}/token` }, 'spa', undefined, auth);
const ath = (token: string) => createHash('sha256').update(token).digest('base64url');

/** Verifies a proof with jose against the key in its own header; returns header, claims and thumbprint. */
async function verify(proof: string) {
  const { payload, protectedHeader } = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt' });
  return { payload, header: protectedHeader, jkt: await calculateJwkThumbprint(protectedHeader.jwk!) };
}

for (const alg of ['ES256', 'ES384', 'Ed25519', 'RS256', 'PS256']) {
  test(`${alg}: a proof jose verifies, public members only in jwk, thumbprint as jose computes it`, async () => {
    const keyPair = await randomDPoPKeyPair(alg);
    assert.equal(keyPair.privateKey.extractable, false);
    const handle = getDPoPHandle(config('https://as.example'), keyPair);
    const headers = new Headers();
    await handle.addProof(new URL('https://as.example/token?x=1#frag'), headers, 'POST');
    const { payload, header, jkt } = await verify(headers.get('dpop')!);
    assert.equal(header.alg, alg);
    assert.equal((header.jwk as Record<string, unknown>).d, undefined);
    assert.deepEqual(Object.keys(header.jwk!).sort(), alg.startsWith('E') ? (alg === 'Ed25519' ? ['crv', 'kty', 'x'] : ['crv', 'kty', 'x', 'y']) : ['e', 'kty', 'n']);
    assert.equal(payload.htm, 'POST');
    assert.equal(payload.htu, 'https://as.example/token');
    assert.equal(typeof payload.jti, 'string');
    assert.ok(Math.abs(payload.iat! - Date.now() / 1000) < 5);
    assert.equal(payload.ath, undefined);
    assert.equal(payload.nonce, undefined);
    assert.equal(await handle.calculateThumbprint(), jkt);
  });
}

test('ath hashes the access token; nonces are remembered per origin', async () => {
  const handle = getDPoPHandle(config('https://as.example'), await randomDPoPKeyPair());
  handle.cacheNonce(new Response(null, { headers: { 'dpop-nonce': 'n-as' } }), new URL('https://as.example/token'));
  handle.cacheNonce(new Response(null, { headers: {} }), new URL('https://as.example/token'));
  const a = new Headers();
  const b = new Headers();
  await handle.addProof(new URL('https://as.example/other'), a, 'GET', 'the-at');
  await handle.addProof(new URL('https://api.example/me'), b, 'GET');
  const first = decodeJwt(a.get('dpop')!);
  assert.equal(first.nonce, 'n-as');
  assert.equal(first.ath, ath('the-at'));
  assert.equal(decodeJwt(b.get('dpop')!).nonce, undefined);
  assert.notEqual(first.jti, decodeJwt(b.get('dpop')!).jti);
});

test('getDPoPHandle refuses what is not a key pair', async () => {
  const keyPair = await randomDPoPKeyPair();
  assert.throws(() => getDPoPHandle(config('https://as.example'), { privateKey: keyPair.privateKey, publicKey: keyPair.privateKey }), TypeError);
  assert.throws(() => getDPoPHandle({} as Configuration, keyPair), TypeError);
  await assert.rejects(randomDPoPKeyPair('HS256'), TypeError);
});

/** A token endpoint that requires nonce `n1` in proofs. */
function nonceEndpoint(requests: RecordedRequest[]) {
  return (req: RecordedRequest, res: Parameters<typeof json>[0]) => {
    requests.push(req);
    const proof = decodeJwt(String(req.headers.dpop));
    if (proof.nonce !== 'n1') return json(res, 400, { error: 'use_dpop_nonce', error_description: 'nonce' }, { 'dpop-nonce': 'n1' });
    return json(res, 200, { access_token: 'at-1', token_type: 'DPoP', expires_in: 60, refresh_token: 'rt-1' }, { 'dpop-nonce': 'n1' });
  };
}

test('refreshTokenGrant with options.DPoP: one retry on use_dpop_nonce, with the nonce and a new client assertion', async () => {
  const requests: RecordedRequest[] = [];
  const s = await server(nonceEndpoint(requests));
  const { privateKey } = await generateKeyPair('ES256');
  const c = config(s.url, PrivateKeyJwt(privateKey));
  const DPoP = getDPoPHandle(c, await randomDPoPKeyPair());
  const tokens = await refreshTokenGrant(c, 'rt-0', undefined, { DPoP });
  assert.equal(tokens.token_type, 'dpop');
  assert.equal(requests.length, 2);
  const [first, second] = requests.map((r) => decodeJwt(String(r.headers.dpop)));
  assert.equal(first.nonce, undefined);
  assert.equal(second.nonce, 'n1');
  assert.notEqual(first.jti, second.jti);
  assert.notEqual(requests[0].form.get('client_assertion'), requests[1].form.get('client_assertion'));
  // The nonce is remembered: the next refresh needs one request.
  await refreshTokenGrant(c, 'rt-1', undefined, { DPoP });
  assert.equal(requests.length, 3);
});

test('a second use_dpop_nonce is thrown; without options.DPoP nothing is retried', async () => {
  const s = await server((_req, res) => json(res, 400, { error: 'use_dpop_nonce' }, { 'dpop-nonce': 'n' }));
  const c = config(s.url);
  const DPoP = getDPoPHandle(c, await randomDPoPKeyPair());
  await assert.rejects(refreshTokenGrant(c, 'rt', undefined, { DPoP }), (e) => e instanceof OAuthResponseError && e.error === 'use_dpop_nonce');
  assert.equal(s.requests.length, 2);
  await assert.rejects(refreshTokenGrant(c, 'rt'), (e) => e instanceof OAuthResponseError && e.error === 'use_dpop_nonce');
  assert.equal(s.requests.length, 3);
  assert.equal(s.requests[2].headers.dpop, undefined);
});

test('token manager: DPoP-bound tokens go out as Authorization: DPoP with an ath proof; nonce and invalid_token retries', async () => {
  const tokenRequests: RecordedRequest[] = [];
  const token = nonceEndpoint(tokenRequests);
  let resourceCalls = 0;
  const s = await server((req, res) => {
    if (req.path === '/token') return token(req, res);
    resourceCalls++;
    const [scheme, at] = String(req.headers.authorization).split(' ');
    const proof = decodeJwt(String(req.headers.dpop));
    assert.equal(scheme, 'DPoP');
    assert.equal(proof.htm, 'GET');
    assert.equal(proof.htu, `${s.url}/api/me`);
    assert.equal(proof.ath, ath(at));
    // RFC 9449 section 9: the resource server's own nonce.
    if (proof.nonce !== 'rs-n') return json(res, 401, {}, { 'www-authenticate': 'DPoP error="use_dpop_nonce"', 'dpop-nonce': 'rs-n' });
    if (at === 'at-0') return json(res, 401, {}, { 'www-authenticate': 'DPoP error="invalid_token", algs="ES256"' });
    return json(res, 200, { at });
  });
  const c = config(s.url);
  const keyPair = await randomDPoPKeyPair();
  const manager = createTokenManager({ config: c, store: createMemoryStore(), DPoP: getDPoPHandle(c, keyPair) });
  await manager.setTokens({ refresh_token: 'rt-0', access_token: 'at-0', token_type: 'DPoP', expires_in: 3600 });
  const response = await manager.fetch(`${s.url}/api/me?q=1`);
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), { at: 'at-1' });
  // Nonce challenge, invalid_token, a refresh (which leaves the token endpoint's nonce cached for
  // this shared origin), the resource server's nonce challenge again, success.
  assert.equal(resourceCalls, 4);
  assert.equal(tokenRequests.length, 2);
  const refreshProof = await verify(String(tokenRequests[1].headers.dpop));
  assert.equal(refreshProof.jkt, await calculateJwkThumbprint(await exportJWK(keyPair.publicKey)));
  // Without a handle, a DPoP-bound token cannot be used.
  const bare = createTokenManager({ config: c, store: createMemoryStore() });
  await bare.setTokens({ refresh_token: 'rt', access_token: 'at', token_type: 'DPoP', expires_in: 3600 });
  await assert.rejects(bare.fetch(`${s.url}/api/me`), TypeError);
});
