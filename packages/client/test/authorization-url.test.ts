/**
 * buildAuthorizationUrl (pure) and buildAuthorizationUrlWithPAR (RFC 9126) against a pushed
 * authorization request endpoint on loopback HTTP.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { EmbeddedJWK, decodeJwt, jwtVerify } from 'jose';
import { buildAuthorizationUrl, buildAuthorizationUrlWithPAR } from '../src/authorization-url.ts';
import { PrivateKeyJwt } from '../src/client-assertion.ts';
import { ClientSecretBasic, None } from '../src/client-auth.ts';
import { Configuration, type ServerMetadata } from '../src/configuration.ts';
import { getDPoPHandle, randomDPoPKeyPair } from '../src/dpop.ts';
import { InvalidResponseError, OAuthResponseError, TransportError } from '../src/errors.ts';
import { json, startServer, type TestServer } from './helpers/http-server.ts';

let server: TestServer;
before(async () => (server = await startServer()));
after(() => server.close());

const metadata = (extra: Partial<ServerMetadata> = {}): ServerMetadata => ({
  issuer: server.url,
  authorization_endpoint: `${server.url}/authorize`,
  pushed_authorization_request_endpoint: `${server.url}/par`,
  ...extra,
});
const requestUri = 'urn:ietf:params:oauth:request_uri:abc';
const pushed = (_req: unknown, res: Parameters<typeof json>[0]) => json(res, 201, { request_uri: requestUri, expires_in: 60 });

test('buildAuthorizationUrl: client_id and response_type=code filled in, parameters added, the endpoint query kept', () => {
  const config = new Configuration({ issuer: 'https://as.example', authorization_endpoint: 'https://as.example/authorize?tenant=t1' }, 'client-1');
  const url = buildAuthorizationUrl(config, {
    redirect_uri: 'https://rp.example/cb',
    scope: ['openid', 'offline_access'],
    resource: ['https://api.one', 'https://api.two'],
    state: 's1',
    code_challenge: 'c'.repeat(43),
    code_challenge_method: 'S256',
    prompt: undefined,
  });
  assert.equal(url.origin + url.pathname, 'https://as.example/authorize');
  assert.deepEqual([...url.searchParams], [
    ['tenant', 't1'],
    ['redirect_uri', 'https://rp.example/cb'],
    ['scope', 'openid offline_access'],
    ['resource', 'https://api.one'],
    ['resource', 'https://api.two'],
    ['state', 's1'],
    ['code_challenge', 'c'.repeat(43)],
    ['code_challenge_method', 'S256'],
    ['client_id', 'client-1'],
    ['response_type', 'code'],
  ]);
  // URLSearchParams in, a caller's own client_id and response_type kept, a request_uri gets no response_type.
  const own = buildAuthorizationUrl(config, new URLSearchParams({ client_id: 'other', response_type: 'code id_token' }));
  assert.equal(own.searchParams.get('client_id'), 'other');
  assert.equal(own.searchParams.get('response_type'), 'code id_token');
  assert.equal(buildAuthorizationUrl(config, { request_uri: requestUri }).searchParams.has('response_type'), false);
});

test('buildAuthorizationUrl: misuse is a TypeError (no endpoint, http: off loopback, PAR required)', () => {
  assert.throws(() => buildAuthorizationUrl(new Configuration({ issuer: 'https://as.example' }, 'c'), {}), /no authorization_endpoint/);
  assert.throws(() => buildAuthorizationUrl(new Configuration({ issuer: 'http://as.example', authorization_endpoint: 'http://as.example/a' }, 'c'), {}), /https:/);
  assert.throws(() => buildAuthorizationUrl({} as Configuration, {}), TypeError);
  // RFC 9126 section 5: required by the server, or by the client's registration.
  const serverRequires = new Configuration({ ...metadata(), require_pushed_authorization_requests: true }, 'c');
  const clientRequires = new Configuration(metadata(), 'c', { require_pushed_authorization_requests: true });
  for (const config of [serverRequires, clientRequires]) {
    assert.throws(() => buildAuthorizationUrl(config, { state: 's' }), /buildAuthorizationUrlWithPAR/);
    assert.equal(buildAuthorizationUrl(config, { request_uri: requestUri }).searchParams.get('request_uri'), requestUri);
  }
});

test('buildAuthorizationUrlWithPAR: pushes the parameters with client authentication, returns client_id + request_uri', async () => {
  server.handle(pushed);
  const config = new Configuration(metadata(), 'client-1', undefined, ClientSecretBasic('s3cret'));
  const url = await buildAuthorizationUrlWithPAR(config, { redirect_uri: 'https://rp.example/cb', scope: 'openid', state: 's1', code_challenge: 'c'.repeat(43), code_challenge_method: 'S256' });
  assert.equal(url.href, `${server.url}/authorize?client_id=client-1&request_uri=${encodeURIComponent(requestUri)}`);
  const req = server.requests.at(-1)!;
  assert.equal(req.method, 'POST');
  assert.equal(req.path, '/par');
  assert.equal(req.headers.accept, 'application/json');
  assert.equal(req.headers['content-type'], 'application/x-www-form-urlencoded;charset=UTF-8');
  assert.equal(req.headers.authorization, `Basic ${btoa('client-1:s3cret')}`);
  assert.deepEqual(Object.fromEntries(req.form), {
    redirect_uri: 'https://rp.example/cb', scope: 'openid', state: 's1', code_challenge: 'c'.repeat(43), code_challenge_method: 'S256', client_id: 'client-1', response_type: 'code',
  });
});

test('buildAuthorizationUrlWithPAR: a public client sends its client_id; private_key_jwt signs an assertion for the issuer', async () => {
  server.handle(pushed);
  await buildAuthorizationUrlWithPAR(new Configuration(metadata(), 'spa', undefined, None()), { state: 's' });
  assert.equal(server.requests.at(-1)!.form.get('client_id'), 'spa');
  const { privateKey, publicKey } = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  await buildAuthorizationUrlWithPAR(new Configuration(metadata(), 'pk', undefined, PrivateKeyJwt(privateKey)), { state: 's' });
  const form = server.requests.at(-1)!.form;
  // RFC 9126 section 2: the issuer identifier is a valid audience for the pushed request's assertion.
  await jwtVerify(form.get('client_assertion')!, publicKey, { issuer: 'pk', subject: 'pk', audience: server.url });
});

test('buildAuthorizationUrlWithPAR: error and invalid answers (RFC 9126 sections 2.2 and 2.3)', async () => {
  const config = new Configuration(metadata(), 'client-1', undefined, ClientSecretBasic('s3cret'));
  const table: Array<[string, (res: Parameters<typeof json>[0]) => void, (e: unknown) => boolean]> = [
    ['400 invalid_request', (res) => json(res, 400, { error: 'invalid_request', error_description: 'bad redirect_uri' }), (e) =>
      e instanceof OAuthResponseError && e.error === 'invalid_request' && e.errorDescription === 'bad redirect_uri' && !e.retryable],
    ['401 invalid_client', (res) => json(res, 401, { error: 'invalid_client' }), (e) => e instanceof OAuthResponseError && e.status === 401 && !e.retryable],
    ['429 with an error', (res) => json(res, 429, { error: 'slow_down' }, { 'retry-after': '3' }), (e) => e instanceof OAuthResponseError && e.retryable && e.headers.get('retry-after') === '3'],
    ['200 instead of 201', (res) => json(res, 200, { request_uri: requestUri, expires_in: 60 }), (e) => e instanceof InvalidResponseError && /HTTP 200/.test(e.message)],
    ['201 without request_uri', (res) => json(res, 201, { expires_in: 60 }), (e) => e instanceof InvalidResponseError && /"request_uri"/.test(e.message)],
    ['201 with an empty request_uri', (res) => json(res, 201, { request_uri: '', expires_in: 60 }), (e) => e instanceof InvalidResponseError && /"request_uri"/.test(e.message)],
    ['201 without expires_in', (res) => json(res, 201, { request_uri: requestUri }), (e) => e instanceof InvalidResponseError && /"expires_in"/.test(e.message)],
    ['201 that is not JSON', (res) => (res.writeHead(201, { 'content-type': 'text/html' }), res.end('<html>')), (e) => e instanceof InvalidResponseError && /not a JSON object/.test(e.message)],
    ['502 from a proxy', (res) => (res.writeHead(502), res.end('Bad Gateway')), (e) => e instanceof InvalidResponseError && e.status === 502 && e.retryable],
    ['connection cut', (res) => res.socket!.destroy(), (e) => e instanceof TransportError && e.retryable],
  ];
  for (const [name, answer, check] of table) {
    server.handle((_req, res) => answer(res));
    await assert.rejects(buildAuthorizationUrlWithPAR(config, { state: 's' }), check, name);
  }
  // RFC 9126 section 2.1: a request_uri is not pushed; misuse, caught before any request.
  const before = server.requests.length;
  await assert.rejects(buildAuthorizationUrlWithPAR(config, { request_uri: requestUri }), TypeError);
  await assert.rejects(buildAuthorizationUrlWithPAR(new Configuration({ issuer: server.url }, 'c'), {}), /no pushed_authorization_request_endpoint/);
  assert.equal(server.requests.length, before);
});

test('buildAuthorizationUrlWithPAR with DPoP: a proof for the endpoint, one retry with the nonce the server asked for', async () => {
  let count = 0;
  server.handle((req, res) => {
    count++;
    if (!decodeJwt(String(req.headers.dpop)).nonce) return json(res, 400, { error: 'use_dpop_nonce' }, { 'dpop-nonce': 'n1' });
    return pushed(req, res);
  });
  const config = new Configuration(metadata(), 'spa', undefined, None());
  const DPoP = getDPoPHandle(config, await randomDPoPKeyPair());
  const url = await buildAuthorizationUrlWithPAR(config, { state: 's' }, { DPoP });
  assert.equal(url.searchParams.get('request_uri'), requestUri);
  assert.equal(count, 2);
  const [first, second] = server.requests.slice(-2);
  for (const req of [first, second]) {
    const { payload } = await jwtVerify(String(req.headers.dpop), EmbeddedJWK, { typ: 'dpop+jwt' });
    assert.equal(payload.htm, 'POST');
    assert.equal(payload.htu, `${server.url}/par`);
  }
  assert.equal(decodeJwt(String(second.headers.dpop)).nonce, 'n1');
  // A second use_dpop_nonce is not retried again.
  server.handle((_req, res) => json(res, 400, { error: 'use_dpop_nonce' }, { 'dpop-nonce': 'n2' }));
  await assert.rejects(buildAuthorizationUrlWithPAR(config, { state: 's' }, { DPoP }), (e) => e instanceof OAuthResponseError && e.error === 'use_dpop_nonce');
});
