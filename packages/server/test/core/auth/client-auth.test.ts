import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import type { CryptoKey, JWK, JWTPayload } from 'jose';
import { authenticateClient } from '../../../src/core/auth/client-auth.ts';
import type { ClientAuthDeps, ClientAuthRequest } from '../../../src/core/auth/client-auth.ts';
import { randomHandle, randomId, seal, sha256 } from '../../../src/core/crypto.ts';
import { OAuthError } from '../../../src/core/errors.ts';
import type { OAuthErrorCode } from '../../../src/core/errors.ts';
import { clientDefaults } from '../../../src/core/types.ts';
import type { ClientRecord, Jwk, TokenEndpointAuthMethod } from '../../../src/core/types.ts';
import { createRemoteJwksResolver } from '../../../src/jwks-resolver.ts';
import { openSqliteStore } from '../../../src/stores/sqlite-store.ts';
import { openPostgresStore } from '../../../src/stores/postgres-store.ts';
import { startHarness } from '../../support/harness.ts';
import { freshSchema, pgTestOptions, pgUrl } from '../../support/postgres.ts';

const issuer = 'https://as.example.com';
const tokenEndpoint = issuer + '/token';
const audiences = [issuer, tokenEndpoint];
const assertionType = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const kek = new Uint8Array(randomBytes(32));
const now = Math.floor(Date.now() / 1000);

// --- clients ---------------------------------------------------------------------------

function client(clientId: string, authMethod: TokenEndpointAuthMethod, extra: Partial<ClientRecord> = {}): ClientRecord {
  return { clientId, authMethod, scope: '', resources: [], ...clientDefaults, createdAt: now, ...extra };
}

const basicSecret = randomHandle('rg_cs_');
const postSecret = randomHandle('rg_cs_');
const jwtSecret = randomHandle('rg_cs_');
/** A secret full of characters that Basic's form-urlencoding must carry: `+`, space, `:`, `%`. */
const oddSecret = 'a+b c:d%e/f=g';
/** A client id with `:`, space, `+`, `%`, `/` and non-ASCII. */
const oddId = 'app:one two+three%/é';

let ecPrivate: CryptoKey;
let edPrivate: CryptoKey;
let otherEcPrivate: CryptoKey;
let remotePrivate: CryptoKey;
let remoteServer: Server;
let remoteFetches = 0;
let clients: ClientRecord[];

/** The store the unit tests use: just getClient and consumeOnce over Maps. */
function mapStore(records: ClientRecord[]) {
  const byId = new Map(records.map((c) => [c.clientId, c]));
  const seen = new Map<string, number>();
  const calls: { namespace: string; key: string; expiresAt: number }[] = [];
  return {
    calls,
    async getClient(clientId: string) {
      return byId.get(clientId);
    },
    async consumeOnce(namespace: string, key: string, expiresAt: number) {
      calls.push({ namespace, key, expiresAt });
      const k = namespace + '\n' + key;
      if (seen.has(k)) return false;
      seen.set(k, expiresAt);
      return true;
    },
  };
}

let store: ReturnType<typeof mapStore>;
let deps: ClientAuthDeps;

before(async () => {
  const ec = await generateKeyPair('ES256');
  const ed = await generateKeyPair('EdDSA');
  const otherEc = await generateKeyPair('ES256');
  const remote = await generateKeyPair('ES256');
  ecPrivate = ec.privateKey;
  edPrivate = ed.privateKey;
  otherEcPrivate = otherEc.privateKey;
  remotePrivate = remote.privateKey;
  const ecJwk: JWK = { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256' };
  const edJwk: JWK = { ...(await exportJWK(ed.publicKey)), kid: 'ed-1', alg: 'EdDSA' };
  const remoteJwks = JSON.stringify({ keys: [{ ...(await exportJWK(remote.publicKey)), kid: 'remote-1' }] });

  remoteServer = createServer((req, res) => {
    remoteFetches++;
    if (req.url !== '/jwks') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(remoteJwks);
  });
  await new Promise<void>((resolve) => remoteServer.listen(0, '127.0.0.1', resolve));
  const { port } = remoteServer.address() as AddressInfo;

  clients = [
    client('basic', 'client_secret_basic', { secretHash: sha256(basicSecret) }),
    client(oddId, 'client_secret_basic', { secretHash: sha256(oddSecret) }),
    client('post', 'client_secret_post', { secretHash: sha256(postSecret) }),
    client('secret-jwt', 'client_secret_jwt', { secretSealed: seal(kek, jwtSecret, 'client-secret:secret-jwt') }),
    client('pk-jwt', 'private_key_jwt', { jwks: { keys: [ecJwk, edJwk] as Jwk[] } }),
    client('pk-strict', 'private_key_jwt', { jwks: { keys: [ecJwk] as Jwk[] }, assertionMaxLifetime: 120 }),
    client('pk-remote', 'private_key_jwt', { jwksUri: `http://127.0.0.1:${port}/jwks` }),
    client('public', 'none'),
  ];
  store = mapStore(clients);
  deps = { store, kek, resolveRemoteJwks: createRemoteJwksResolver() };
});

after(async () => {
  remoteServer.closeAllConnections();
  await new Promise<void>((resolve) => remoteServer.close(() => resolve()));
});

// --- request helpers -------------------------------------------------------------------

/** RFC 6749 section 2.3.1 encoding: form-urlencode each part, then Basic. */
function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}
function basic(id: string, secret: string, encode: (s: string) => string = formEncode): string {
  return 'Basic ' + Buffer.from(`${encode(id)}:${encode(secret)}`).toString('base64');
}
function rawBasic(text: string): string {
  return 'Basic ' + Buffer.from(text).toString('base64');
}
function req(params: Record<string, string>, authorization?: string): ClientAuthRequest {
  return { authorization, params: new URLSearchParams(params), audiences, now };
}
function claims(clientId: string, overrides: JWTPayload = {}): JWTPayload {
  return { iss: clientId, sub: clientId, aud: tokenEndpoint, jti: randomId(), iat: now, exp: now + 60, ...overrides };
}
async function hsAssertion(secret: string, payload: JWTPayload, alg = 'HS256'): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg }).sign(new TextEncoder().encode(secret));
}
async function pkAssertion(key: CryptoKey, kid: string, payload: JWTPayload, alg = 'ES256'): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg, kid }).sign(key);
}
function unsecured(payload: JWTPayload): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${b64({ alg: 'none' })}.${b64(payload)}.`;
}
function assertionParams(assertion: string, extra: Record<string, string> = {}): Record<string, string> {
  return { grant_type: 'refresh_token', client_assertion_type: assertionType, client_assertion: assertion, ...extra };
}

// --- the table -------------------------------------------------------------------------

interface Case {
  name: string;
  request: () => ClientAuthRequest | Promise<ClientAuthRequest>;
  ok?: { clientId: string; method: TokenEndpointAuthMethod };
  error?: { code: OAuthErrorCode; detail?: RegExp };
}

const cases: Case[] = [
  // client_secret_basic
  { name: 'basic: ok', request: () => req({}, basic('basic', basicSecret)), ok: { clientId: 'basic', method: 'client_secret_basic' } },
  { name: 'basic: lower-case scheme', request: () => req({}, basic('basic', basicSecret).replace('Basic', 'basic')), ok: { clientId: 'basic', method: 'client_secret_basic' } },
  { name: 'basic: upper-case scheme', request: () => req({}, basic('basic', basicSecret).replace('Basic', 'BASIC')), ok: { clientId: 'basic', method: 'client_secret_basic' } },
  { name: 'basic: form-encoded id and secret (+ for space)', request: () => req({}, basic(oddId, oddSecret)), ok: { clientId: oddId, method: 'client_secret_basic' } },
  { name: 'basic: %20 for space', request: () => req({}, basic(oddId, oddSecret, encodeURIComponent)), ok: { clientId: oddId, method: 'client_secret_basic' } },
  { name: 'basic: raw ":" inside the secret (split at first colon)', request: () => req({}, rawBasic(`${formEncode(oddId)}:a%2Bb+c:d%25e/f=g`)), ok: { clientId: oddId, method: 'client_secret_basic' } },
  { name: 'basic: unencoded id/secret with + and % fail', request: () => req({}, basic(oddId, oddSecret, (s) => s)), error: { code: 'invalid_client' } },
  { name: 'basic: body client_id equal to the Basic id', request: () => req({ client_id: 'basic' }, basic('basic', basicSecret)), ok: { clientId: 'basic', method: 'client_secret_basic' } },
  { name: 'basic: body client_id different from the Basic id', request: () => req({ client_id: 'post' }, basic('basic', basicSecret)), error: { code: 'invalid_request' } },
  { name: 'basic: wrong secret', request: () => req({}, basic('basic', basicSecret + 'x')), error: { code: 'invalid_client', detail: /wrong client secret/ } },
  { name: 'basic: unknown client', request: () => req({}, basic('nobody', basicSecret)), error: { code: 'invalid_client', detail: /unknown client/ } },
  { name: 'basic: client registered for post', request: () => req({}, basic('post', postSecret)), error: { code: 'invalid_client', detail: /registered for client_secret_post/ } },
  { name: 'basic: not base64', request: () => req({}, 'Basic !!!notbase64'), error: { code: 'invalid_client', detail: /not Basic/ } },
  { name: 'basic: non-canonical base64', request: () => req({}, 'Basic YR=='), error: { code: 'invalid_client', detail: /canonical/ } },
  { name: 'basic: no colon', request: () => req({}, rawBasic('basic')), error: { code: 'invalid_client', detail: /no colon/ } },
  { name: 'basic: bad percent-encoding', request: () => req({}, rawBasic(`ba%zzsic:${basicSecret}`)), error: { code: 'invalid_client', detail: /percent/ } },
  { name: 'basic: percent-encoded invalid UTF-8', request: () => req({}, rawBasic(`basic:%ff`)), error: { code: 'invalid_client', detail: /percent/ } },
  { name: 'basic: empty id', request: () => req({}, rawBasic(`:${basicSecret}`)), error: { code: 'invalid_client', detail: /empty client id/ } },
  { name: 'basic: empty secret', request: () => req({}, rawBasic('basic:')), error: { code: 'invalid_client', detail: /empty secret/ } },
  { name: 'basic: no credentials after the scheme', request: () => req({}, 'Basic'), error: { code: 'invalid_client' } },
  { name: 'basic: other scheme', request: () => req({}, 'Bearer abc'), error: { code: 'invalid_client' } },
  { name: 'basic: empty header', request: () => req({}, ''), error: { code: 'invalid_client' } },

  // client_secret_post
  { name: 'post: ok', request: () => req({ client_id: 'post', client_secret: postSecret }), ok: { clientId: 'post', method: 'client_secret_post' } },
  { name: 'post: wrong secret', request: () => req({ client_id: 'post', client_secret: basicSecret }), error: { code: 'invalid_client', detail: /wrong client secret/ } },
  { name: 'post: client registered for basic', request: () => req({ client_id: 'basic', client_secret: basicSecret }), error: { code: 'invalid_client', detail: /registered for client_secret_basic/ } },
  { name: 'post: unknown client', request: () => req({ client_id: 'nobody', client_secret: postSecret }), error: { code: 'invalid_client', detail: /unknown client/ } },
  { name: 'post: client_secret without client_id', request: () => req({ client_secret: postSecret }), error: { code: 'invalid_request' } },

  // none
  { name: 'none: ok', request: () => req({ client_id: 'public' }), ok: { clientId: 'public', method: 'none' } },
  { name: 'none: empty client_secret counts as absent', request: () => req({ client_id: 'public', client_secret: '' }), ok: { clientId: 'public', method: 'none' } },
  { name: 'none: confidential client without credentials', request: () => req({ client_id: 'basic' }), error: { code: 'invalid_client', detail: /registered for client_secret_basic/ } },
  { name: 'none: unknown client', request: () => req({ client_id: 'nobody' }), error: { code: 'invalid_client', detail: /unknown client/ } },
  { name: 'none: public client sending a secret', request: () => req({ client_id: 'public', client_secret: 'x' }), error: { code: 'invalid_client', detail: /registered for none/ } },
  { name: 'nothing identifies a client', request: () => req({ grant_type: 'refresh_token' }), error: { code: 'invalid_client', detail: /no client authentication/ } },

  // more than one method, assertion parameters
  { name: 'multi: Basic and client_secret', request: () => req({ client_id: 'basic', client_secret: basicSecret }, basic('basic', basicSecret)), error: { code: 'invalid_request', detail: /Authorization header, client_secret/ } },
  { name: 'multi: assertion and Basic', request: async () => req(assertionParams(await hsAssertion(jwtSecret, claims('secret-jwt'))), basic('basic', basicSecret)), error: { code: 'invalid_request' } },
  { name: 'multi: assertion and client_secret', request: async () => req(assertionParams(await hsAssertion(jwtSecret, claims('secret-jwt')), { client_secret: jwtSecret })), error: { code: 'invalid_request' } },
  { name: 'assertion without type', request: async () => req({ client_assertion: await hsAssertion(jwtSecret, claims('secret-jwt')) }), error: { code: 'invalid_request' } },
  { name: 'type without assertion', request: () => req({ client_id: 'secret-jwt', client_assertion_type: assertionType }), error: { code: 'invalid_request' } },
  { name: 'unsupported assertion type', request: async () => req({ client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer', client_assertion: await hsAssertion(jwtSecret, claims('secret-jwt')) }), error: { code: 'invalid_request' } },

  // client_secret_jwt
  { name: 'secret jwt: HS256 ok', request: async () => req(assertionParams(await hsAssertion(jwtSecret, claims('secret-jwt')))), ok: { clientId: 'secret-jwt', method: 'client_secret_jwt' } },
  { name: 'secret jwt: HS512 ok, with body client_id', request: async () => req(assertionParams(await hsAssertion(jwtSecret, claims('secret-jwt'), 'HS512'), { client_id: 'secret-jwt' })), ok: { clientId: 'secret-jwt', method: 'client_secret_jwt' } },
  { name: 'secret jwt: aud is the issuer, in an array', request: async () => req(assertionParams(await hsAssertion(jwtSecret, claims('secret-jwt', { aud: ['https://other.example', issuer] })))), ok: { clientId: 'secret-jwt', method: 'client_secret_jwt' } },
  { name: 'secret jwt: wrong secret', request: async () => req(assertionParams(await hsAssertion(basicSecret, claims('secret-jwt')))), error: { code: 'invalid_client', detail: /SIGNATURE_VERIFICATION_FAILED/ } },
  { name: 'secret jwt: signed with a private key instead', request: async () => req(assertionParams(await pkAssertion(ecPrivate, 'ec-1', claims('secret-jwt')))), error: { code: 'invalid_client', detail: /registered for client_secret_jwt, request used private_key_jwt/ } },
  { name: 'secret jwt: body client_id differs from sub', request: async () => req(assertionParams(await hsAssertion(jwtSecret, claims('secret-jwt')), { client_id: 'pk-jwt' })), error: { code: 'invalid_client', detail: /differs from the client_id/ } },

  // private_key_jwt, inline jwks
  { name: 'pk jwt: ES256 ok', request: async () => req(assertionParams(await pkAssertion(ecPrivate, 'ec-1', claims('pk-jwt')))), ok: { clientId: 'pk-jwt', method: 'private_key_jwt' } },
  { name: 'pk jwt: EdDSA ok', request: async () => req(assertionParams(await pkAssertion(edPrivate, 'ed-1', claims('pk-jwt'), 'EdDSA'))), ok: { clientId: 'pk-jwt', method: 'private_key_jwt' } },
  { name: 'pk jwt: EdDSA ok without kid', request: async () => req(assertionParams(await new SignJWT(claims('pk-jwt')).setProtectedHeader({ alg: 'EdDSA' }).sign(edPrivate))), ok: { clientId: 'pk-jwt', method: 'private_key_jwt' } },
  { name: 'pk jwt: exp within clock tolerance', request: async () => req(assertionParams(await pkAssertion(ecPrivate, 'ec-1', claims('pk-jwt', { iat: now - 100, exp: now - 10 })))), ok: { clientId: 'pk-jwt', method: 'private_key_jwt' } },
  { name: 'pk jwt: wrong key, same kid', request: async () => req(assertionParams(await pkAssertion(otherEcPrivate, 'ec-1', claims('pk-jwt')))), error: { code: 'invalid_client', detail: /SIGNATURE_VERIFICATION_FAILED/ } },
  { name: 'pk jwt: unknown kid', request: async () => req(assertionParams(await pkAssertion(otherEcPrivate, 'nope', claims('pk-jwt')))), error: { code: 'invalid_client', detail: /NO_MATCHING_KEY/ } },
  { name: 'pk jwt: HS256 for a private_key_jwt client', request: async () => req(assertionParams(await hsAssertion(jwtSecret, claims('pk-jwt')))), error: { code: 'invalid_client', detail: /registered for private_key_jwt, request used client_secret_jwt/ } },
  { name: 'pk jwt: alg none', request: () => req(assertionParams(unsecured(claims('pk-jwt')))), error: { code: 'invalid_client', detail: /alg none/ } },
  { name: 'pk jwt: malformed JWT', request: () => req(assertionParams('not.a.jwt')), error: { code: 'invalid_client', detail: /not a compact JWS/ } },
  { name: 'pk jwt: wrong aud', request: async () => req(assertionParams(await pkAssertion(ecPrivate, 'ec-1', claims('pk-jwt', { aud: 'https://other.example/token' })))), error: { code: 'invalid_client', detail: /"aud"/ } },
  { name: 'pk jwt: missing aud', request: async () => req(assertionParams(await pkAssertion(ecPrivate, 'ec-1', claims('pk-jwt', { aud: undefined })))), error: { code: 'invalid_client', detail: /"aud"/ } },
  { name: 'pk jwt: wrong iss', request: async () => req(assertionParams(await pkAssertion(ecPrivate, 'ec-1', claims('pk-jwt', { iss: 'someone-else' })))), error: { code: 'invalid_client', detail: /"iss"/ } },
  { name: 'pk jwt: missing iss', request: async () => req(assertionParams(await pkAssertion(ecPrivate, 'ec-1', claims('pk-jwt', { iss: undefined })))), error: { code: 'invalid_client', detail: /"iss"/ } },
  { name: 'pk jwt: sub names another client', request: async () => req(assertionParams(await pkAssertion(ecPrivate, 'ec-1', claims('pk-jwt', { sub: 'secret-jwt' })))), error: { code: 'invalid_client' } },
  { name: 'pk jwt: sub names an unknown client', request: async () => req(assertionParams(await pkAssertion(ecPrivate, 'ec-1', claims('pk-jwt', { sub: 'nobody' })))), error: { code: 'invalid_client', detail: /unknown client/ } },
  { name: 'pk jwt: missing sub', request: async () => req(assertionParams(await pkAssertion(ecPrivate, 'ec-1', claims('pk-jwt', { sub: undefined })), { client_id: 'pk-jwt' })), error: { code: 'invalid_client', detail: /no sub/ } },
  { name: 'pk jwt: missing exp', request: async () => req(assertionParams(await pkAssertion(ecPrivate, 'ec-1', claims('pk-jwt', { exp: undefined })))), error: { code: 'invalid_client', detail: /"exp"/ } },
  { name: 'pk jwt: missing jti', request: async () => req(assertionParams(await pkAssertion(ecPrivate, 'ec-1', claims('pk-jwt', { jti: undefined })))), error: { code: 'invalid_client', detail: /"jti"/ } },
  { name: 'pk jwt: exp more than an hour (plus tolerance) away', request: async () => req(assertionParams(await pkAssertion(ecPrivate, 'ec-1', claims('pk-jwt', { exp: now + 3700 })))), error: { code: 'invalid_client', detail: /exp is 3700s away, more than the 3600s allowed for pk-jwt/ } },
  { name: 'pk jwt: a client with its own limit (120 s) refuses 600 s', request: async () => req(assertionParams(await pkAssertion(ecPrivate, 'ec-1', claims('pk-strict', { exp: now + 600 })))), error: { code: 'invalid_client', detail: /600s away, more than the 120s allowed for pk-strict/ } },
  { name: 'pk jwt: expired', request: async () => req(assertionParams(await pkAssertion(ecPrivate, 'ec-1', claims('pk-jwt', { iat: now - 600, exp: now - 60 })))), error: { code: 'invalid_client', detail: /EXPIRED/ } },
  { name: 'pk jwt: nbf in the future', request: async () => req(assertionParams(await pkAssertion(ecPrivate, 'ec-1', claims('pk-jwt', { nbf: now + 120 })))), error: { code: 'invalid_client', detail: /"nbf"/ } },
  { name: 'pk jwt: iat in the future', request: async () => req(assertionParams(await pkAssertion(ecPrivate, 'ec-1', claims('pk-jwt', { iat: now + 120, exp: now + 180 })))), error: { code: 'invalid_client', detail: /iat is in the future/ } },

  // private_key_jwt, jwks_uri over loopback HTTP
  { name: 'pk jwt (jwks_uri): ok', request: async () => req(assertionParams(await pkAssertion(remotePrivate, 'remote-1', claims('pk-remote')))), ok: { clientId: 'pk-remote', method: 'private_key_jwt' } },
  { name: 'pk jwt (jwks_uri): wrong key', request: async () => req(assertionParams(await pkAssertion(ecPrivate, 'remote-1', claims('pk-remote')))), error: { code: 'invalid_client', detail: /SIGNATURE_VERIFICATION_FAILED/ } },
];

describe('authenticateClient', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const request = await c.request();
      if (c.ok) {
        const result = await authenticateClient(request, deps);
        assert.equal(result.client.clientId, c.ok.clientId);
        assert.equal(result.method, c.ok.method);
        return;
      }
      const expected = c.error!;
      const err = await authenticateClient(request, deps).then(
        () => assert.fail('expected a failure'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof OAuthError, `not an OAuthError: ${String(err)}`);
      assert.equal(err.error, expected.code, `detail: ${err.detail}`);
      if (expected.detail) assert.match(err.detail ?? '', expected.detail);
      if (expected.code === 'invalid_client') {
        assert.equal(err.status, 401);
        assert.equal(err.description, 'Client authentication failed.');
        const challenge = err.headers['WWW-Authenticate'];
        if (request.authorization !== undefined) {
          // RFC 6749 section 5.2: a failed Authorization-header attempt gets a Basic challenge.
          assert.match(challenge ?? '', /^Basic realm="https:\/\/as\.example\.com"/);
        } else {
          assert.equal(challenge, undefined);
        }
      } else {
        assert.equal(err.status, 400);
      }
      // Nothing secret leaks into the public description.
      for (const secret of [basicSecret, postSecret, jwtSecret, oddSecret]) assert.ok(!err.description.includes(secret));
    });
  }

  it('refuses a replayed assertion (jti single use) and records it until exp + tolerance', async () => {
    const payload = claims('pk-jwt');
    const request = req(assertionParams(await pkAssertion(ecPrivate, 'ec-1', payload)));
    const first = await authenticateClient(request, deps);
    assert.equal(first.client.clientId, 'pk-jwt');
    const call = store.calls.find((c) => c.key === payload.jti);
    assert.deepEqual(call, { namespace: 'client_assertion:pk-jwt', key: payload.jti, expiresAt: (payload.exp as number) + 30 });
    await assert.rejects(authenticateClient(request, deps), (err: unknown) => {
      assert.ok(err instanceof OAuthError);
      assert.equal(err.error, 'invalid_client');
      assert.match(err.detail ?? '', /replayed/);
      return true;
    });
  });

  it('does not spend a jti on an assertion that fails verification', async () => {
    const payload = claims('pk-jwt');
    await assert.rejects(authenticateClient(req(assertionParams(await pkAssertion(otherEcPrivate, 'ec-1', payload))), deps));
    assert.equal(store.calls.find((c) => c.key === payload.jti), undefined);
    const ok = await authenticateClient(req(assertionParams(await pkAssertion(ecPrivate, 'ec-1', payload))), deps);
    assert.equal(ok.client.clientId, 'pk-jwt');
  });

  it("finding 6: accepts the one-hour assertions of Authlib (3600 s) and iddawc's (600 s), and keeps each jti until its exp", async () => {
    for (const lifetime of [3600, 600]) {
      const payload = claims('pk-jwt', { exp: now + lifetime });
      const ok = await authenticateClient(req(assertionParams(await pkAssertion(ecPrivate, 'ec-1', payload))), deps);
      assert.equal(ok.method, 'private_key_jwt');
      const call = store.calls.find((c) => c.key === payload.jti);
      assert.ok(call && call.expiresAt >= now + lifetime, 'the jti is kept at least until the assertion expires');
      await assert.rejects(authenticateClient(req(assertionParams(await pkAssertion(ecPrivate, 'ec-1', payload))), deps), /Client authentication failed/);
    }
    const hs = claims('secret-jwt', { exp: now + 3600 });
    assert.equal((await authenticateClient(req(assertionParams(await hsAssertion(jwtSecret, hs))), deps)).method, 'client_secret_jwt');
    // The client's own limit wins over the server's, both ways.
    const within = claims('pk-strict', { exp: now + 100 });
    assert.equal((await authenticateClient(req(assertionParams(await pkAssertion(ecPrivate, 'ec-1', within))), { ...deps, maxAssertionLifetime: 30 })).client.clientId, 'pk-strict');
  });

  it('honours maxAssertionLifetime and clockTolerance options', async () => {
    const strict = { ...deps, maxAssertionLifetime: 30, clockTolerance: 0 };
    const far = req(assertionParams(await pkAssertion(ecPrivate, 'ec-1', claims('pk-jwt', { exp: now + 60 }))));
    await assert.rejects(authenticateClient(far, strict), /Client authentication failed/);
    const late = req(assertionParams(await pkAssertion(ecPrivate, 'ec-1', claims('pk-jwt', { iat: now - 100, exp: now - 10 }))));
    await assert.rejects(authenticateClient(late, strict), /Client authentication failed/);
  });

  it('answers server_error when a client_secret_jwt secret cannot be unsealed (wrong KEK)', async () => {
    const request = req(assertionParams(await hsAssertion(jwtSecret, claims('secret-jwt'))));
    await assert.rejects(authenticateClient(request, { ...deps, kek: new Uint8Array(randomBytes(32)) }), (err: unknown) => {
      assert.ok(err instanceof OAuthError);
      assert.equal(err.error, 'server_error');
      return true;
    });
  });

  it('fetched the jwks_uri key set once for several verifications', async () => {
    const before = remoteFetches;
    for (let i = 0; i < 3; i++) {
      const result = await authenticateClient(req(assertionParams(await pkAssertion(remotePrivate, 'remote-1', claims('pk-remote')))), deps);
      assert.equal(result.client.clientId, 'pk-remote');
    }
    // The table already fetched the set; these three reuse it.
    assert.ok(remoteFetches >= 1);
    assert.equal(remoteFetches, before);
  });
});

describe('authenticateClient with the real SQLite store', () => {
  let dir: string;
  let sqlite: Awaited<ReturnType<typeof openSqliteStore>>;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'client-auth-'));
    sqlite = await openSqliteStore(path.join(dir, 'store.db'));
    for (const c of clients) await sqlite.saveClient(c);
  });
  after(async () => {
    await sqlite?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('authenticates every method and refuses a replayed jti', async () => {
    const d: ClientAuthDeps = { store: sqlite, kek, resolveRemoteJwks: deps.resolveRemoteJwks };
    assert.equal((await authenticateClient(req({}, basic(oddId, oddSecret)), d)).client.clientId, oddId);
    assert.equal((await authenticateClient(req({ client_id: 'post', client_secret: postSecret }), d)).method, 'client_secret_post');
    assert.equal((await authenticateClient(req({ client_id: 'public' }), d)).method, 'none');
    const secretJwt = req(assertionParams(await hsAssertion(jwtSecret, claims('secret-jwt'))));
    assert.equal((await authenticateClient(secretJwt, d)).method, 'client_secret_jwt');
    await assert.rejects(authenticateClient(secretJwt, d), (err: unknown) => err instanceof OAuthError && /replayed/.test(err.detail ?? ''));
    const pk = req(assertionParams(await pkAssertion(ecPrivate, 'ec-1', claims('pk-jwt'))));
    assert.equal((await authenticateClient(pk, d)).method, 'private_key_jwt');
    await assert.rejects(authenticateClient(pk, d), (err: unknown) => err instanceof OAuthError && /replayed/.test(err.detail ?? ''));
    await assert.rejects(authenticateClient(req({}, basic('basic', postSecret)), d), (err: unknown) => err instanceof OAuthError && err.error === 'invalid_client');
  });
});

describe('client assertion lifetime over HTTP (finding 6)', () => {
  it('a one-hour assertion refreshes; past the client’s own limit it is invalid_client, the precise reason in the event', async () => {
    const { startHarness } = await import('../../support/harness.ts');
    // Frozen: the event states the distance to exp in whole seconds, which must not tick by under load.
    const h = await startHarness({ signingThread: false, frozenClock: true });
    try {
      const { publicKey, privateKey } = await generateKeyPair('ES256');
      const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' } as Jwk] };
      await h.server.registerClient({ clientId: 'authlib-like', authMethod: 'private_key_jwt', jwks });
      await h.server.registerClient({ clientId: 'strict', authMethod: 'private_key_jwt', jwks, assertionMaxLifetime: 300 });
      const t = Math.floor(Date.now() / 1000);
      const post = async (clientId: string, lifetime: number) => {
        const rt = (await h.server.issueGrant({ clientId, subject: 'alice', scope: '' })).tokens.refresh_token!;
        const assertion = await pkAssertion(privateKey, 'k1', { iss: clientId, sub: clientId, aud: h.tokenEndpoint, jti: randomId(), iat: t, exp: t + lifetime });
        return h.post('/token', { grant_type: 'refresh_token', refresh_token: rt, client_assertion_type: assertionType, client_assertion: assertion });
      };
      assert.equal((await post('authlib-like', 3600)).status, 200);
      const refused = await post('strict', 3600);
      assert.equal(refused.status, 401);
      assert.equal(refused.json.error, 'invalid_client');
      assert.equal(refused.json.error_description, 'Client authentication failed.');
      const event = h.events.at(-1)!;
      assert.equal(event.type, 'client_auth.failed');
      assert.match(event.detail!, /client_assertion exp is 36\d\ds away, more than the 300s allowed for strict/);
      assert.equal((await post('strict', 300)).status, 200);
      await assert.rejects(h.server.registerClient({ clientId: 'bad', authMethod: 'private_key_jwt', jwks, assertionMaxLifetime: 0 }), TypeError);
    } finally {
      await h.close();
    }
  });
});

// Finding 4 of issue 11: RFC 7519 NumericDate allows fractions; a fractional exp was a 500 on
// both stores (a REAL into an INTEGER column). Over HTTP, on SQLite and on PostgreSQL.
describe('a client assertion whose exp has a fraction (RFC 7519 section 2, NumericDate)', async () => {
  const pgOptions = await pgTestOptions();
  const backends = [
    { name: 'SQLite', options: {}, open: async () => ({ store: undefined, drop: async () => {} }) },
    {
      name: 'PostgreSQL',
      options: pgOptions,
      open: async () => {
        const { schema, drop } = await freshSchema();
        return { store: await openPostgresStore(pgUrl, { schema, purgeIntervalMs: 0 }), drop };
      },
    },
  ];
  for (const backend of backends) {
    it(`is accepted on ${backend.name}, its jti kept until exp rounded up, and a replay refused`, backend.options, async () => {
      const { store, drop } = await backend.open();
      const h = await startHarness({ store });
      try {
        const { publicKey, privateKey } = await generateKeyPair('ES256');
        const jwk = { ...(await exportJWK(publicKey)), kid: 'frac-1', alg: 'ES256' } as Jwk;
        await h.server.registerClient({ clientId: 'pk-frac', authMethod: 'private_key_jwt', jwks: { keys: [jwk] } });
        const { tokens } = await h.server.issueGrant({ clientId: 'pk-frac', subject: 'alice', scope: 'api' });
        const t = Math.floor(Date.now() / 1000);
        const jti = randomId();
        const assertion = await pkAssertion(privateKey, 'frac-1', { iss: 'pk-frac', sub: 'pk-frac', aud: h.tokenEndpoint, jti, iat: t + 0.25, exp: t + 60.5 });
        const form = { grant_type: 'refresh_token', client_assertion_type: assertionType, client_assertion: assertion };
        const res = await h.post('/token', { ...form, refresh_token: tokens.refresh_token! });
        assert.equal(res.status, 200, res.text);
        // The single-use record holds (whole seconds, not before the assertion's exp).
        assert.equal(await h.store.consumeOnce('client_assertion:pk-frac', jti, t + 1000), false);
        const replay = await h.post('/token', { ...form, refresh_token: res.json.refresh_token });
        assert.equal(replay.status, 401);
        assert.equal(replay.json.error, 'invalid_client');
      } finally {
        await h.close();
        await drop();
      }
    });
  }
});
