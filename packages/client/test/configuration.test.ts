import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateKeyPair } from 'jose';
import { PrivateKeyJwt } from '../src/client-assertion.ts';
import { ClientSecretPost } from '../src/client-auth.ts';
import { allowInsecureRequests, Configuration, endpoint } from '../src/configuration.ts';
import { buildRefreshRequest } from '../src/refresh-request.ts';

const server = { issuer: 'https://as.example', token_endpoint: 'https://as.example/token' };

test('a Configuration built by hand (no discovery, like GitHub) keeps both metadata sets', () => {
  const config = new Configuration(server, 'client-1', 'secret-1');
  assert.deepEqual(config.serverMetadata(), server);
  assert.deepEqual(config.clientMetadata(), { client_id: 'client-1', client_secret: 'secret-1' });
  assert.ok(Object.isFrozen(config.serverMetadata()));
  const withMetadata = new Configuration(server, 'client-2', { client_id: 'ignored', token_endpoint_auth_method: 'none' });
  assert.equal(withMetadata.clientMetadata().client_id, 'client-2');
  assert.equal(config.timeout, 30);
});

test('misuse is a TypeError', () => {
  assert.throws(() => new Configuration({} as never, 'c'), TypeError);
  assert.throws(() => new Configuration(server, ''), TypeError);
  assert.throws(() => new Configuration(server, 'c', { token_endpoint_auth_method: 'private_key_jwt' }), /PrivateKeyJwt/);
  assert.throws(() => new Configuration(server, 'c', { token_endpoint_auth_method: 'tls_client_auth' }), TypeError);
});

const cases: Array<[string, ConstructorParameters<typeof Configuration>[2], (r: Awaited<ReturnType<typeof buildRefreshRequest>>) => void]> = [
  ['a secret and no registered method: client_secret_basic', 'sec', (r) => assert.equal(r.headers.get('authorization'), `Basic ${btoa('c:sec')}`)],
  ['client_secret_basic', { client_secret: 'sec', token_endpoint_auth_method: 'client_secret_basic' }, (r) => assert.ok(r.headers.has('authorization'))],
  ['client_secret_post', { client_secret: 'sec', token_endpoint_auth_method: 'client_secret_post' }, (r) => assert.equal(r.body.get('client_secret'), 'sec')],
  ['client_secret_jwt', { client_secret: 'sec', token_endpoint_auth_method: 'client_secret_jwt' }, (r) => assert.equal(r.body.get('client_assertion')!.split('.').length, 3)],
  ['none', { client_secret: 'sec', token_endpoint_auth_method: 'none' }, (r) => assert.equal(r.body.get('client_id'), 'c')],
  ['no secret, no registered method: none', undefined, (r) => (assert.equal(r.body.get('client_id'), 'c'), assert.equal(r.headers.has('authorization'), false))],
];
for (const [name, metadata, check] of cases) {
  test(`default client authentication follows the registration: ${name}`, async () => {
    check(await buildRefreshRequest(new Configuration(server, 'c', metadata), 'rt'));
  });
}

test('an explicit client authentication wins over the registration', async () => {
  const request = await buildRefreshRequest(new Configuration(server, 'c', { client_secret: 's', token_endpoint_auth_method: 'client_secret_basic' }, ClientSecretPost()), 'rt');
  assert.equal(request.headers.has('authorization'), false);
  assert.equal(request.body.get('client_secret'), 's');
  const { privateKey } = await generateKeyPair('ES256');
  const pkjwt = await buildRefreshRequest(new Configuration(server, 'c', { token_endpoint_auth_method: 'private_key_jwt' }, PrivateKeyJwt(privateKey)), 'rt');
  assert.ok(pkjwt.body.get('client_assertion'));
});

test('endpoints must be https, except loopback hosts or after allowInsecureRequests', () => {
  const config = new Configuration({ issuer: 'x', token_endpoint: 'http://as.example/token', jwks_uri: 'ftp://as.example/jwks' }, 'c');
  assert.throws(() => endpoint(config, 'token_endpoint'), /https/);
  for (const loopback of ['http://127.0.0.1:8080/t', 'http://127.1.2.3/t', 'http://localhost:1/t', 'http://[::1]:9/t']) {
    assert.equal(endpoint(config, 'x', loopback).href, new URL(loopback).href);
  }
  assert.throws(() => endpoint(config, 'x', 'http://127.0.0.1.evil.example/t'), /https/);
  assert.throws(() => endpoint(config, 'missing'), /no missing/);
  allowInsecureRequests(config);
  assert.equal(endpoint(config, 'token_endpoint').href, 'http://as.example/token');
  assert.throws(() => endpoint(config, 'jwks_uri'), /https/);
  assert.throws(() => allowInsecureRequests({} as Configuration), TypeError);
});
