import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { decodeProtectedHeader, generateKeyPair, jwtVerify } from 'jose';
import { ClientSecretJwt, PrivateKeyJwt } from '../src/client-assertion.ts';
import { ClientSecretBasic, ClientSecretPost, None, type ClientAuth } from '../src/client-auth.ts';
import { allowInsecureRequests, Configuration, customFetch } from '../src/configuration.ts';
import type { DPoPHandle } from '../src/dpop.ts';
import { InvalidResponseError, OAuthResponseError, TransportError } from '../src/errors.ts';
import { buildRefreshRequest } from '../src/refresh-request.ts';
import { refreshTokenGrant } from '../src/refresh-token-grant.ts';
import { json, startServer, type TestServer } from './helpers/http-server.ts';

let server: TestServer;
before(async () => (server = await startServer()));
after(() => server.close());

const configure = (auth?: ClientAuth, metadata?: string | Record<string, string>) =>
  new Configuration({ issuer: server.url, token_endpoint: `${server.url}/token` }, 'client-1', metadata, auth);
const tokens = { access_token: 'at-2', token_type: 'Bearer', expires_in: 3600, refresh_token: 'rt-2', scope: 'read' };

test('sends the grant with Accept: application/json and returns the response with helpers', async () => {
  server.handle((_req, res) => json(res, 200, tokens));
  const response = await refreshTokenGrant(configure(ClientSecretBasic('s3cret')), 'rt-1', { scope: 'read', resource: 'https://api.example' });
  const req = server.requests.at(-1)!;
  assert.equal(req.method, 'POST');
  assert.equal(req.path, '/token');
  assert.equal(req.headers.accept, 'application/json');
  assert.equal(req.headers['content-type'], 'application/x-www-form-urlencoded;charset=UTF-8');
  assert.equal(req.headers.authorization, `Basic ${btoa('client-1:s3cret')}`);
  assert.deepEqual(Object.fromEntries(req.form), { scope: 'read', resource: 'https://api.example', grant_type: 'refresh_token', refresh_token: 'rt-1' });
  assert.equal(response.access_token, 'at-2');
  assert.equal(response.token_type, 'bearer');
  assert.equal(response.refresh_token, 'rt-2');
  assert.equal(response.expiresIn(), 3600);
  assert.equal(response.claims(), undefined);
});

test('each client authentication method reaches the server as specified', async () => {
  server.handle((_req, res) => json(res, 200, tokens));
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const methods: Array<[string, ClientAuth, (form: URLSearchParams, authorization?: string) => Promise<void> | void]> = [
    ['client_secret_basic', ClientSecretBasic('s'), (form, authorization) => (assert.equal(authorization, `Basic ${btoa('client-1:s')}`), assert.equal(form.has('client_id'), false))],
    ['client_secret_post', ClientSecretPost('s'), (form, authorization) => (assert.equal(form.get('client_secret'), 's'), assert.equal(authorization, undefined))],
    ['none', None(), (form, authorization) => (assert.equal(form.get('client_id'), 'client-1'), assert.equal(form.has('client_secret'), false), assert.equal(authorization, undefined))],
    ['client_secret_jwt', ClientSecretJwt('0123456789abcdef0123456789abcdef'), async (form) => {
      await jwtVerify(form.get('client_assertion')!, new TextEncoder().encode('0123456789abcdef0123456789abcdef'), { issuer: 'client-1', subject: 'client-1', audience: server.url });
    }],
    ['private_key_jwt', PrivateKeyJwt({ key: privateKey, kid: 'k1' }), async (form) => {
      assert.equal(decodeProtectedHeader(form.get('client_assertion')!).kid, 'k1');
      await jwtVerify(form.get('client_assertion')!, publicKey, { issuer: 'client-1', audience: server.url });
    }],
  ];
  for (const [, auth, check] of methods) {
    await refreshTokenGrant(configure(auth), 'rt-1');
    const req = server.requests.at(-1)!;
    assert.equal(req.form.get('refresh_token'), 'rt-1');
    await check(req.form, req.headers.authorization);
  }
});

test('an error member at HTTP 200 (GitHub) throws an OAuthResponseError', async () => {
  server.handle((_req, res) => json(res, 200, { error: 'bad_refresh_token', error_description: 'The refresh token passed is incorrect or expired.' }));
  await assert.rejects(refreshTokenGrant(configure(), 'rt'), (e) => e instanceof OAuthResponseError && e.status === 200 && e.error === 'bad_refresh_token' && !e.retryable);
});

test('a 400 invalid_grant and a 401 invalid_client with WWW-Authenticate', async () => {
  server.handle((_req, res) => json(res, 400, { error: 'invalid_grant' }));
  await assert.rejects(refreshTokenGrant(configure(), 'rt'), (e) => e instanceof OAuthResponseError && e.error === 'invalid_grant' && e.status === 400);
  server.handle((_req, res) => json(res, 401, { error: 'invalid_client' }, { 'www-authenticate': 'Basic realm="token"' }));
  await assert.rejects(refreshTokenGrant(configure(ClientSecretBasic('x')), 'rt'), (e) =>
    e instanceof OAuthResponseError && e.wwwAuthenticate[0].scheme === 'basic' && e.wwwAuthenticate[0].parameters.realm === 'token');
});

test('a form-encoded success body is accepted', async () => {
  server.handle((_req, res) => (res.writeHead(200, { 'content-type': 'application/x-www-form-urlencoded' }), res.end('access_token=gho_x&token_type=bearer&scope=repo%2Cgist')));
  const response = await refreshTokenGrant(configure(), 'rt');
  assert.equal(response.access_token, 'gho_x');
  assert.equal(response.scope, 'repo,gist');
});

test('a non-JSON 5xx is a retryable InvalidResponseError', async () => {
  server.handle((_req, res) => (res.writeHead(503, { 'content-type': 'text/html' }), res.end('<h1>Service Unavailable</h1>')));
  await assert.rejects(refreshTokenGrant(configure(), 'rt'), (e) => e instanceof InvalidResponseError && e.retryable && e.status === 503 && /not|neither/.test(e.message));
});

test('redirects are not followed', async () => {
  server.handle((_req, res) => (res.writeHead(307, { location: `${server.url}/elsewhere` }), res.end()));
  const before = server.requests.length;
  await assert.rejects(refreshTokenGrant(configure(), 'rt'), (e) => e instanceof InvalidResponseError && e.status === 307);
  assert.equal(server.requests.length, before + 1);
});

test('transport failures: refused connection, socket closed before the response, timeout', async () => {
  const dead = await startServer();
  await dead.close();
  const refused = new Configuration({ issuer: 'x', token_endpoint: `${dead.url}/token` }, 'c');
  await assert.rejects(refreshTokenGrant(refused, 'rt'), (e) => e instanceof TransportError && e.kind === 'transport' && e.retryable && !e.timeout);
  server.handle((req, res) => res.socket!.destroy());
  await assert.rejects(refreshTokenGrant(configure(), 'rt'), (e) => e instanceof TransportError && e.retryable);
  server.handle((_req, res) => (res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' }), res.write('{"access'), setTimeout(() => res.socket?.destroy(), 20)));
  await assert.rejects(refreshTokenGrant(configure(), 'rt'), (e) => e instanceof TransportError && /failed/.test(e.message));
  server.handle(() => {}); // never answers
  const slow = configure();
  slow.timeout = 0.2;
  await assert.rejects(refreshTokenGrant(slow, 'rt'), (e) => e instanceof TransportError && e.timeout && /within 0.2s/.test(e.message));
});

test("the caller's abort is rethrown as is, not turned into a TransportError", async () => {
  server.handle(() => {});
  const controller = new AbortController();
  const reason = new Error('user went away');
  setTimeout(() => controller.abort(reason), 20);
  await assert.rejects(refreshTokenGrant(configure(), 'rt', undefined, { signal: controller.signal }), (e) => e === reason);
});

test('customFetch carries every request', async () => {
  server.handle((_req, res) => json(res, 200, tokens));
  const config = configure();
  const seen: Array<[string, string]> = [];
  config[customFetch] = (url, init) => (seen.push([url, init.headers.accept]), fetch(url, init));
  await refreshTokenGrant(config, 'rt');
  assert.deepEqual(seen, [[`${server.url}/token`, 'application/json']]);
});

test('misuse is a TypeError, before anything is sent', async () => {
  const before = server.requests.length;
  await assert.rejects(refreshTokenGrant(configure(), ''), TypeError);
  await assert.rejects(refreshTokenGrant({} as Configuration, 'rt'), TypeError);
  await assert.rejects(refreshTokenGrant(new Configuration({ issuer: 'x' }, 'c'), 'rt'), TypeError);
  await assert.rejects(refreshTokenGrant(new Configuration({ issuer: 'x', token_endpoint: 'http://as.example/t' }, 'c'), 'rt'), /https/);
  await assert.rejects(refreshTokenGrant(configure(ClientSecretBasic()), 'rt'), /client_secret/);
  assert.equal(server.requests.length, before);
});

/** A customFetch answering a fixed token response, recording what it was given. */
function recording(config: Configuration) {
  const seen: Array<{ url: string; headers: Record<string, string>; body?: string }> = [];
  config[customFetch] = async (url, init) => {
    seen.push({ url, headers: init.headers, body: init.body });
    return new Response(JSON.stringify(tokens), { headers: { 'content-type': 'application/json' } });
  };
  return seen;
}

test('request headers reach fetch as a plain record in sorted order, whatever the client authentication', async () => {
  const form = 'application/x-www-form-urlencoded;charset=UTF-8';
  const basic = configure(ClientSecretBasic('s'));
  const none = configure(None());
  // Not built in: gets a real Headers, with Accept and Content-Type already set.
  const custom = configure((_as, client, body, headers) => {
    assert.ok(headers instanceof Headers);
    assert.equal(headers.get('content-type'), form);
    headers.set('X-Client', client.client_id);
    body.set('extra', '1');
  });
  const seen = [basic, none, custom].map(recording);
  for (const config of [basic, none, custom, basic]) await refreshTokenGrant(config, 'rt');
  const entries = (i: number, n = 0) => Object.entries(seen[i][n].headers);
  assert.deepEqual(entries(0), [['accept', 'application/json'], ['authorization', `Basic ${btoa('client-1:s')}`], ['content-type', form]]);
  assert.deepEqual(entries(0, 1), entries(0));
  assert.deepEqual(entries(1), [['accept', 'application/json'], ['content-type', form]]);
  assert.deepEqual(entries(2), [['accept', 'application/json'], ['content-type', form], ['x-client', 'client-1']]);
  assert.equal(seen[2][0].body, 'grant_type=refresh_token&refresh_token=rt&extra=1');
});

test('the token endpoint is parsed once per Configuration, and that cannot go stale', async () => {
  const metadata = { issuer: 'https://as.example', token_endpoint: 'http://as.internal/token' };
  const config = new Configuration(metadata, 'c', undefined, None());
  const seen = recording(config);
  // A failed check is not kept: allowing insecure requests afterwards works.
  await assert.rejects(refreshTokenGrant(config, 'rt'), /https/);
  allowInsecureRequests(config);
  // The metadata was copied (and frozen): changing the caller's object changes nothing.
  metadata.token_endpoint = 'http://elsewhere.example/token';
  assert.throws(() => Object.assign(config.serverMetadata(), { token_endpoint: 'http://elsewhere.example/token' }), TypeError);
  await refreshTokenGrant(config, 'rt');
  // Whoever gets the URL gets a copy: buildRefreshRequest's caller and a DPoP handle may change theirs.
  const built = await buildRefreshRequest(config, 'rt');
  built.url.pathname = '/changed';
  assert.notEqual((await buildRefreshRequest(config, 'rt')).url, built.url);
  const urls: URL[] = [];
  const DPoP: DPoPHandle = {
    async addProof(url, headers) {
      assert.ok(headers instanceof Headers);
      urls.push(url);
      url.pathname = '/changed-too';
      headers.set('dpop', 'proof');
    },
    cacheNonce: (_response, url) => assert.equal(url, urls.at(-1)),
    calculateThumbprint: async () => '',
  };
  await refreshTokenGrant(config, 'rt', undefined, { DPoP });
  await refreshTokenGrant(config, 'rt', undefined, { DPoP });
  assert.notEqual(urls[0], urls[1]);
  await refreshTokenGrant(config, 'rt');
  // A handle's change applies to its own request only (as when every request parsed the URL anew).
  assert.deepEqual(
    seen.map((s) => s.url),
    ['token', 'changed-too', 'changed-too', 'token'].map((path) => `http://as.internal/${path}`),
  );
  assert.equal(seen[1].headers.dpop, 'proof');
});
