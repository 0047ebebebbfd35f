/**
 * `clients add|list|update|rotate-secret|remove` through the real bin, against a running
 * `serve` on the same SQLite file: secrets shown once and working, existing ids refused,
 * updates keeping what is not given, --generate-key giving a key pair that authenticates.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cli, serve, type Serving } from './support.ts';

describe('clients', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rg-clients-'));
  const db = join(dir, 'clients.db');
  let server: Serving;
  const form = (params: Record<string, string>) => ({ method: 'POST', body: new URLSearchParams(params) });

  before(async () => {
    server = await serve(['--port', '0', '--db', db, '--no-demo', '--quiet']);
  });
  after(async () => {
    await server.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('add prints the secret once; it works; the same id again is refused and changes nothing', async () => {
    const added = await cli(['clients', 'add', '--db', db, '--id', 'web', '--auth-method', 'client_secret_post', '--scope', 'openid offline_access read', '--json']);
    assert.equal(added.code, 0, added.stderr);
    const client = JSON.parse(added.stdout);
    assert.equal(client.client_id, 'web');
    assert.match(client.client_secret, /^rg_cs_/);
    assert.equal(client.scope, 'openid offline_access read');
    const again = await cli(['clients', 'add', '--db', db, '--id', 'web', '--auth-method', 'client_secret_post', '--any-scope']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^refresh-grant: client web already exists \(change it with clients update/);
    const rt = JSON.parse((await cli(['grants', 'issue', '--db', db, '--issuer', server.issuer, '--client', 'web', '--subject', 'u', '--scope', 'read', '--json'])).stdout).refresh_token;
    const res = await fetch(`${server.issuer}/token`, form({ grant_type: 'refresh_token', refresh_token: rt, client_id: 'web', client_secret: client.client_secret }));
    assert.equal(res.status, 200, 'the first secret still works: the refused add changed nothing');
    const text = await cli(['clients', 'add', '--db', db, '--auth-method', 'client_secret_basic', '--scope', 'read']);
    assert.match(text.stdout, /^client_id: +[A-Za-z0-9_][A-Za-z0-9_-]{21}\n/);
    assert.match(text.stdout, /^client_secret: +rg_cs_\S+\n\(the secret is shown once/m);
  });

  it('--any-scope is explicit and listed as (any); list shows readable times and never a secret', async () => {
    assert.equal((await cli(['clients', 'add', '--db', db, '--id', 'spa', '--auth-method', 'none', '--any-scope'])).code, 0);
    const json = JSON.parse((await cli(['clients', 'list', '--db', db, '--json'])).stdout);
    assert.equal(json.find((c: { client_id: string }) => c.client_id === 'spa').scope, '');
    const text = (await cli(['clients', 'list', '--db', db])).stdout;
    assert.match(text, /^client_id +auth_method +scope +rotation +access_token +created$/m);
    assert.match(text, /^spa +none +\(any\) +on +jwt, 15 min +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/m);
    assert.doesNotMatch(text + JSON.stringify(json), /rg_cs_|secret_hash|secretHash|secret_sealed|"client_secret"/);
  });

  it('update changes only what it is given; rotate-secret replaces the secret at once', async () => {
    const { client_secret: first } = JSON.parse((await cli(['clients', 'add', '--db', db, '--id', 'svc', '--auth-method', 'client_secret_basic', '--scope', 'a b', '--json'])).stdout);
    const updated = await cli(['clients', 'update', '--db', db, '--id', 'svc', '--retry-window', '0', '--access-token', 'opaque', '--json']);
    assert.equal(updated.code, 0, updated.stderr);
    const client = JSON.parse(updated.stdout);
    assert.deepEqual([client.scope, client.retry_window, client.access_token_format, client.rotation], ['a b', 0, 'opaque', true]);
    assert.equal(client.client_secret, undefined);
    const nothing = await cli(['clients', 'update', '--db', db, '--id', 'svc']);
    assert.equal(nothing.code, 2);
    const rotated = JSON.parse((await cli(['clients', 'rotate-secret', '--db', db, '--id', 'svc', '--json'])).stdout);
    assert.match(rotated.client_secret, /^rg_cs_/);
    assert.notEqual(rotated.client_secret, first);
    const rt = JSON.parse((await cli(['grants', 'issue', '--db', db, '--issuer', server.issuer, '--client', 'svc', '--subject', 'u', '--scope', 'a', '--json'])).stdout).refresh_token;
    const basic = (secret: string) => ({ authorization: `Basic ${Buffer.from(`svc:${secret}`).toString('base64')}` });
    assert.equal((await fetch(`${server.issuer}/token`, { ...form({ grant_type: 'refresh_token', refresh_token: rt }), headers: basic(first) })).status, 401);
    assert.equal((await fetch(`${server.issuer}/token`, { ...form({ grant_type: 'refresh_token', refresh_token: rt }), headers: basic(rotated.client_secret) })).status, 200);
    const noSecret = await cli(['clients', 'rotate-secret', '--db', db, '--id', 'spa']);
    assert.deepEqual([noSecret.code, noSecret.stderr], [1, 'refresh-grant: client spa uses none: it has no secret\n']);
  });

  it('--generate-key writes a 0600 private key, registers its public key, and refresh --private-key authenticates with it', async () => {
    const key = join(dir, 'idcs.pem');
    const added = await cli(['clients', 'add', '--db', db, '--id', 'idcs', '--auth-method', 'private_key_jwt', '--generate-key', key, '--scope', 'openid offline_access', '--json']);
    assert.equal(added.code, 0, added.stderr);
    const client = JSON.parse(added.stdout);
    assert.equal(client.jwks.keys.length, 1);
    assert.equal(client.jwks.keys[0].d, undefined, 'only the public key is registered');
    assert.equal(statSync(key).mode & 0o777, 0o600);
    assert.match(readFileSync(key, 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
    const rt = JSON.parse((await cli(['grants', 'issue', '--db', db, '--issuer', server.issuer, '--client', 'idcs', '--subject', 'u', '--scope', 'openid offline_access', '--json'])).stdout).refresh_token;
    const refreshed = await cli(['refresh', '--issuer', server.issuer, '--client-id', 'idcs', '--private-key', key, '--refresh-token', rt, '--json']);
    assert.equal(refreshed.code, 0, refreshed.stderr);
    assert.match(JSON.parse(refreshed.stdout).refresh_token, /^rg_rt_/);
    const again = await cli(['clients', 'add', '--db', db, '--id', 'idcs2', '--auth-method', 'private_key_jwt', '--generate-key', key, '--any-scope']);
    assert.equal(again.code, 1, 'an existing key file is never overwritten');
    assert.match(again.stderr, /cannot write the private key/);
  });

  it('--jwks takes a public JWK Set file and refuses private keys; remove revokes and removes', async () => {
    writeFileSync(join(dir, 'private.json'), JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', d: 'd' }] }));
    const refused = await cli(['clients', 'add', '--db', db, '--auth-method', 'private_key_jwt', '--jwks', join(dir, 'private.json'), '--any-scope']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /holds a private key/);
    const removed = await cli(['clients', 'remove', '--db', db, '--id', 'spa']);
    assert.deepEqual([removed.code, removed.stdout], [0, 'removed spa (its grants are revoked)\n']);
  });

  it('add: redirect URIs, grant types, PAR requirement, jwt-bearer issuers; the running server uses them; refused values are usage errors', async () => {
    const issuers = join(dir, 'issuers.json');
    writeFileSync(issuers, JSON.stringify([{ issuer: 'https://idp.example', jwks_uri: 'https://idp.example/jwks' }]));
    const added = await cli([
      'clients', 'add', '--db', db, '--id', 'native', '--auth-method', 'none', '--scope', 'openid offline_access',
      '--redirect-uri', 'http://127.0.0.1/callback', '--redirect-uri', 'com.example.app:/oauth', '--require-par',
      '--grant-type', 'authorization_code', '--grant-type', 'refresh_token', '--grant-type', 'jwt-bearer', '--jwt-bearer-issuers', issuers, '--json',
    ]);
    assert.equal(added.code, 0, added.stderr);
    const client = JSON.parse(added.stdout);
    assert.deepEqual(client.redirect_uris, ['http://127.0.0.1/callback', 'com.example.app:/oauth']);
    assert.deepEqual(client.grant_types, ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:jwt-bearer']);
    assert.equal(client.require_pushed_authorization_requests, true);
    assert.deepEqual(client.jwt_bearer_issuers, [{ issuer: 'https://idp.example', jwks_uri: 'https://idp.example/jwks' }]);
    assert.match((await cli(['clients', 'list', '--db', db, '--json'])).stdout, /"redirect_uris":\["http:\/\/127\.0\.0\.1\/callback"/);
    // The running server uses the new client at once: a pushed request with a loopback redirect on any port.
    const pushed = await fetch(`${server.issuer}/par`, form({ client_id: 'native', response_type: 'code', redirect_uri: 'http://127.0.0.1:4321/callback', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' }));
    assert.equal(pushed.status, 201, await pushed.clone().text());
    // update keeps what it is not given.
    const updated = JSON.parse((await cli(['clients', 'update', '--db', db, '--id', 'native', '--redirect-uri', 'http://[::1]/cb', '--json'])).stdout);
    assert.deepEqual([updated.redirect_uris, updated.require_pushed_authorization_requests], [['http://[::1]/cb'], true]);

    for (const [flag, value, message] of [
      ['--redirect-uri', 'http://app.example/cb', /http is only allowed for loopback/],
      ['--redirect-uri', 'https://app.example/cb#x', /fragment/],
      ['--grant-type', 'implicit', /--grant-type must be/],
      ['--grant-type', 'jwt-bearer', /needs at least one trusted issuer/],
    ] as const) {
      const bad = await cli(['clients', 'add', '--db', db, '--auth-method', 'none', '--any-scope', flag, value]);
      assert.equal(bad.code, 2, `${flag} ${value}: ${bad.stderr}`);
      assert.match(bad.stderr, message);
    }
  });

  it('add --introspection registers a resource server that may call /introspect; others may not; update turns it on or off', async () => {
    const rs = JSON.parse((await cli(['clients', 'add', '--db', db, '--id', 'https://rs.example', '--auth-method', 'client_secret_basic', '--any-scope', '--introspection', '--json'])).stdout);
    assert.equal(rs.introspection, true);
    const plain = JSON.parse((await cli(['clients', 'add', '--db', db, '--id', 'plain', '--auth-method', 'client_secret_basic', '--any-scope', '--json'])).stdout);
    assert.equal(plain.introspection, false);
    await cli(['clients', 'add', '--db', db, '--id', 'app', '--auth-method', 'client_secret_basic', '--scope', 'read', '--resource', 'https://rs.example']);
    const issued = JSON.parse((await cli(['grants', 'issue', '--db', db, '--issuer', server.issuer, '--client', 'app', '--subject', 'amy', '--scope', 'read', '--resource', 'https://rs.example', '--json'])).stdout);
    const introspect = (clientId: string, secret: string) =>
      fetch(`${server.issuer}/introspect`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${secret}`).toString('base64')}` },
        body: new URLSearchParams({ token: issued.access_token }),
      });
    const allowed = await introspect(rs.client_id, rs.client_secret);
    assert.equal(allowed.status, 200);
    assert.equal((await allowed.json()).sub, 'amy');
    assert.equal((await introspect('plain', plain.client_secret)).status, 403);
    const refused = await cli(['clients', 'add', '--db', db, '--id', 'spa-rs', '--auth-method', 'none', '--any-scope', '--introspection']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /not for a public client/);
    assert.equal(JSON.parse((await cli(['clients', 'update', '--db', db, '--id', 'https://rs.example', '--introspection', 'off', '--json'])).stdout).introspection, false);
    assert.equal((await introspect(rs.client_id, rs.client_secret)).status, 403);
  });
});
