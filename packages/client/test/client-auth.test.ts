import assert from 'node:assert/strict';
import { test } from 'node:test';
import { builtIn, ClientSecretBasic, ClientSecretPost, None, type ClientAuth } from '../src/client-auth.ts';
import type { ClientMetadata, ServerMetadata } from '../src/configuration.ts';

const as: ServerMetadata = { issuer: 'https://as.example', token_endpoint: 'https://as.example/token' };

async function apply(auth: ClientAuth, client: ClientMetadata) {
  const body = new URLSearchParams({ grant_type: 'refresh_token' });
  const headers = new Headers();
  await auth(as, client, body, headers);
  return { body, headers };
}

/** How RFC 6749 section 2.3.1 servers (oidc-provider among them) decode each half. */
const formDecode = (value: string) => decodeURIComponent(value.replace(/\+/g, '%20'));

test('ClientSecretBasic form-urlencodes id and secret before base64 (RFC 6749 section 2.3.1)', async () => {
  const client = { client_id: 'my client:1' };
  const secret = 'p@ss w/ü+%:=&';
  const { headers, body } = await apply(ClientSecretBasic(secret), client);
  const authorization = headers.get('authorization')!;
  assert.match(authorization, /^Basic [A-Za-z0-9+/]+=*$/);
  const decoded = Buffer.from(authorization.slice(6), 'base64').toString('utf8');
  assert.equal(decoded, 'my+client%3A1:p%40ss+w%2F%C3%BC%2B%25%3A%3D%26');
  const [id, pass] = decoded.split(':');
  assert.equal(formDecode(id), client.client_id);
  assert.equal(formDecode(pass), secret);
  assert.equal(body.has('client_id'), false);
  assert.equal(body.has('client_secret'), false);
});

test('ClientSecretBasic with encode: false sends raw UTF-8 credentials (opt-in)', async () => {
  const { headers } = await apply(ClientSecretBasic('sé cret+', { encode: false }), { client_id: 'app.1' });
  assert.equal(Buffer.from(headers.get('authorization')!.slice(6), 'base64').toString('utf8'), 'app.1:sé cret+');
});

test('ClientSecretBasic takes the secret from the client metadata, and needs one', async () => {
  const { headers } = await apply(ClientSecretBasic(), { client_id: 'a', client_secret: 'b' });
  assert.equal(headers.get('authorization'), `Basic ${btoa('a:b')}`);
  await assert.rejects(apply(ClientSecretBasic(), { client_id: 'a' }), TypeError);
});

test('ClientSecretPost puts client_id and client_secret in the body', async () => {
  const { headers, body } = await apply(ClientSecretPost('s 1'), { client_id: 'c' });
  assert.equal(body.get('client_id'), 'c');
  assert.equal(body.get('client_secret'), 's 1');
  assert.equal(headers.has('authorization'), false);
  await assert.rejects(apply(ClientSecretPost(), { client_id: 'c' }), TypeError);
});

test('None sends only client_id', async () => {
  const { headers, body } = await apply(None(), { client_id: 'public', client_secret: 'ignored' });
  assert.deepEqual([...body.keys()].sort(), ['client_id', 'grant_type']);
  assert.equal(body.get('client_id'), 'public');
  assert.equal(headers.has('authorization'), false);
});

test('ClientSecretBasic, shared by clients or given changing metadata, always sends the current credentials', async () => {
  // One instance shared by two clients (frozen, as in a Configuration), alternately.
  const shared = ClientSecretBasic();
  const a = Object.freeze({ client_id: 'a', client_secret: 'sa' });
  const b = Object.freeze({ client_id: 'b', client_secret: 'sb' });
  for (const client of [a, b, a, b]) {
    assert.equal((await apply(shared, client)).headers.get('authorization'), `Basic ${btoa(`${client.client_id}:${client.client_secret}`)}`);
  }
  // Metadata that can still change is encoded every time.
  const mutable: ClientMetadata = { client_id: 'm', client_secret: 'one' };
  assert.equal((await apply(shared, mutable)).headers.get('authorization'), `Basic ${btoa('m:one')}`);
  mutable.client_secret = 'two';
  assert.equal((await apply(shared, mutable)).headers.get('authorization'), `Basic ${btoa('m:two')}`);
});

test('the built-in client authentications only set headers, so a Map may stand in for a Headers', async () => {
  const client = { client_id: 'c', client_secret: 's' };
  for (const auth of [ClientSecretBasic(), ClientSecretPost(), None()]) {
    assert.ok(builtIn.has(auth));
    const headers = new Map<string, string>();
    const body = new URLSearchParams();
    await auth(as, client, body, headers as unknown as Headers);
    const viaHeaders = await apply(auth, client);
    assert.deepEqual([...headers], [...viaHeaders.headers]);
    assert.equal(body.get('client_id'), viaHeaders.body.get('client_id'));
  }
  assert.equal(builtIn.has(async () => {}), false);
});
