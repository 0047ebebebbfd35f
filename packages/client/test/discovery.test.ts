import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { allowInsecureRequests, Configuration, customFetch } from '../src/configuration.ts';
import { discovery } from '../src/discovery.ts';
import { InvalidResponseError, TransportError } from '../src/errors.ts';
import { json, startServer, type TestServer } from './helpers/http-server.ts';

let server: TestServer;
before(async () => (server = await startServer()));
after(() => server.close());

const metadata = (issuer: string) => ({ issuer, token_endpoint: `${issuer}/token`, jwks_uri: `${issuer}/jwks` });

test('OIDC discovery: {issuer}/.well-known/openid-configuration, issuer checked', async () => {
  server.handle((req, res) => (req.path === '/.well-known/openid-configuration' ? json(res, 200, metadata(server.url)) : json(res, 404, {})));
  const config = await discovery(new URL(server.url), 'c', 's');
  assert.ok(config instanceof Configuration);
  assert.equal(config.serverMetadata().token_endpoint, `${server.url}/token`);
  assert.equal(config.clientMetadata().client_secret, 's');
  assert.equal(server.requests.at(-1)!.headers.accept, 'application/json');
});

test('falls back to RFC 8414 (well-known segment before the path) on a 404', async () => {
  const issuer = `${server.url}/tenant-a`;
  const seen: string[] = [];
  server.handle((req, res) => {
    seen.push(req.path);
    return req.path === '/.well-known/oauth-authorization-server/tenant-a' ? json(res, 200, metadata(issuer)) : json(res, 404, {});
  });
  const config = await discovery(new URL(issuer), 'c');
  assert.deepEqual(seen, ['/tenant-a/.well-known/openid-configuration', '/.well-known/oauth-authorization-server/tenant-a']);
  assert.equal(config.serverMetadata().issuer, issuer);
});

test('algorithm: oauth2 goes straight to RFC 8414; a well-known URL is used as is', async () => {
  const seen: string[] = [];
  server.handle((req, res) => (seen.push(req.path), json(res, 200, metadata(server.url))));
  await discovery(new URL(server.url), 'c', undefined, undefined, { algorithm: 'oauth2' });
  await discovery(new URL(`${server.url}/.well-known/openid-configuration`), 'c');
  assert.deepEqual(seen, ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']);
});

test('an issuer that differs from the one asked for is rejected', async () => {
  server.handle((_req, res) => json(res, 200, metadata('https://evil.example')));
  await assert.rejects(discovery(new URL(server.url), 'c'), (e) => e instanceof InvalidResponseError && /not the expected/.test(e.message));
  server.handle((_req, res) => json(res, 200, metadata(`${server.url}/other`)));
  await assert.rejects(discovery(new URL(server.url), 'c'), InvalidResponseError);
});

test('no usable document is an InvalidResponseError', async () => {
  server.handle((_req, res) => json(res, 404, {}));
  await assert.rejects(discovery(new URL(server.url), 'c'), (e) => e instanceof InvalidResponseError && e.status === 404);
  server.handle((_req, res) => (res.writeHead(500, { 'content-type': 'text/html' }), res.end('<h1>oops</h1>')));
  await assert.rejects(discovery(new URL(server.url), 'c', undefined, undefined, { algorithm: 'oidc' }), (e) => e instanceof InvalidResponseError && e.retryable);
  server.handle((_req, res) => json(res, 200, { token_endpoint: 'x' }));
  await assert.rejects(discovery(new URL(server.url), 'c'), InvalidResponseError);
});

test('timeout, customFetch and execute apply to the discovery and the returned Configuration', async () => {
  server.handle((_req, res) => json(res, 200, metadata(server.url)));
  const calls: string[] = [];
  const config = await discovery(new URL(server.url), 'c', undefined, undefined, {
    timeout: 7,
    [customFetch]: (url, init) => (calls.push(url), fetch(url, init)),
    execute: [allowInsecureRequests],
  });
  assert.equal(config.timeout, 7);
  assert.deepEqual(calls, [`${server.url}/.well-known/openid-configuration`]);
  assert.equal(typeof config[customFetch], 'function');
});

test('plain http to a non-loopback host is refused before any request; a dead port is a TransportError', async () => {
  await assert.rejects(discovery(new URL('http://as.example'), 'c'), TypeError);
  await assert.rejects(discovery(server.url as unknown as URL, 'c'), TypeError);
  const dead = await startServer();
  await dead.close();
  await assert.rejects(discovery(new URL(dead.url), 'c'), (e) => e instanceof TransportError && e.retryable && !e.timeout);
});
