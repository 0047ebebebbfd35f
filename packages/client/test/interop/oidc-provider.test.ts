/**
 * Interop against a server nobody here wrote: oidc-provider v9 (npm), on 127.0.0.1:0. Refresh
 * tokens are minted through its models (Grant + RefreshToken), as its own code grant would.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { exportJWK, generateKeyPair } from 'jose';
import { PrivateKeyJwt } from '../../src/client-assertion.ts';
import { ClientSecretBasic, ClientSecretPost, None } from '../../src/client-auth.ts';
import type { Configuration } from '../../src/configuration.ts';
import { discovery } from '../../src/discovery.ts';
import { InvalidResponseError, OAuthResponseError } from '../../src/errors.ts';
import { createMemoryStore } from '../../src/memory-store.ts';
import { codeClient, startOidcProvider, type RunningProvider } from '../helpers/oidc-provider.ts';
import { refreshTokenGrant } from '../../src/refresh-token-grant.ts';
import { createTokenManager } from '../../src/token-manager.ts';

let op: RunningProvider;
let issuer: string;
let clientKey: CryptoKey;
const secret = (id: string) => `${id}-secret-0123456789-0123456789-0123456789`;
const scope = 'openid offline_access api:read';

before(async () => {
  const client = await generateKeyPair('ES256', { extractable: true });
  clientKey = client.privateKey;
  op = await startOidcProvider({
    clients: [
      { ...codeClient, client_id: 'basic', client_secret: secret('basic'), token_endpoint_auth_method: 'client_secret_basic' },
      { ...codeClient, client_id: 'post', client_secret: secret('post'), token_endpoint_auth_method: 'client_secret_post' },
      { ...codeClient, client_id: 'pkjwt', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [{ ...(await exportJWK(client.publicKey)), kid: 'c1' }] } },
      { ...codeClient, client_id: 'public', token_endpoint_auth_method: 'none' },
    ],
    scopes: ['openid', 'offline_access', 'api:read'],
  });
  issuer = op.issuer;
});

after(() => op.close());

/** Mints a refresh token for alice, as a finished authorization code flow would leave it. */
const mint = (clientId: string) => op.mint(clientId, scope);

const discover = (clientId: string, auth: Parameters<typeof discovery>[3], metadata?: string) => discovery(new URL(issuer), clientId, metadata, auth);

async function refreshTwice(config: Configuration, clientId: string) {
  const rt = await mint(clientId);
  const first = await refreshTokenGrant(config, rt);
  assert.equal(first.token_type, 'bearer');
  assert.ok(first.access_token);
  assert.ok(first.expiresIn()! > 0 && first.expiresIn()! <= 600);
  assert.ok(first.refresh_token && first.refresh_token !== rt, 'rotated');
  assert.equal(first.claims()!.sub, 'alice');
  const second = await refreshTokenGrant(config, first.refresh_token!, undefined, { idToken: first.id_token });
  assert.equal(second.claims()!.sub, 'alice');
  // Reusing a rotated refresh token is refused (and oidc-provider revokes the grant).
  await assert.rejects(refreshTokenGrant(config, rt), (e) => e instanceof OAuthResponseError && e.error === 'invalid_grant' && !e.retryable);
}

test('discovery of oidc-provider', async () => {
  const config = await discover('basic', undefined, secret('basic'));
  assert.equal(config.serverMetadata().issuer, issuer);
  assert.equal(config.serverMetadata().token_endpoint, `${issuer}/token`);
});

test('client_secret_basic', async () => refreshTwice(await discover('basic', ClientSecretBasic(secret('basic'))), 'basic'));
test('client_secret_basic by default from a secret', async () => refreshTwice(await discover('basic', undefined, secret('basic')), 'basic'));
test('client_secret_post', async () => refreshTwice(await discover('post', ClientSecretPost(secret('post'))), 'post'));
test('private_key_jwt', async () => refreshTwice(await discover('pkjwt', PrivateKeyJwt({ key: clientKey, kid: 'c1' })), 'pkjwt'));
test('none (public client)', async () => refreshTwice(await discover('public', None()), 'public'));

test('id_token refresh validated against the original (OIDC Core section 12.2), a foreign original rejected', async () => {
  const config = await discover('basic', ClientSecretBasic(secret('basic')));
  const first = await refreshTokenGrant(config, await mint('basic'));
  const original = first.claims()!;
  assert.equal(original.iss, issuer);
  assert.equal(original.aud, 'basic');
  const second = await refreshTokenGrant(config, first.refresh_token!, undefined, { idToken: first.id_token });
  assert.equal(second.claims()!.auth_time, original.auth_time);
  await assert.rejects(refreshTokenGrant(config, second.refresh_token!, undefined, { idToken: { ...original, sub: 'bob' } }), (e) =>
    e instanceof InvalidResponseError && /"sub" differs/.test(e.message) && typeof e.body?.refresh_token === 'string');
});

test('scope narrowing, and a wrong secret is invalid_client', async () => {
  const config = await discover('post', ClientSecretPost(secret('post')));
  const narrowed = await refreshTokenGrant(config, await mint('post'), { scope: 'openid api:read' });
  assert.deepEqual(narrowed.scope!.split(' ').sort(), ['api:read', 'openid']);
  const wrong = await discover('post', ClientSecretPost('wrong'));
  await assert.rejects(refreshTokenGrant(wrong, await mint('post')), (e) => e instanceof OAuthResponseError && e.error === 'invalid_client' && e.status === 401);
});

test('the token manager keeps a rotating oidc-provider session alive', async () => {
  const config = await discover('basic', ClientSecretBasic(secret('basic')));
  const store = createMemoryStore();
  let clock = Date.now();
  const manager = createTokenManager({ config, store, now: () => clock });
  await manager.setTokens({ refresh_token: await mint('basic') });
  const first = await manager.getAccessToken();
  const firstRt = (await store.get('default'))!.refreshToken;
  clock += 3600_000;
  const tokens = await Promise.all(Array.from({ length: 50 }, () => manager.getAccessToken()));
  assert.equal(new Set(tokens).size, 1);
  assert.notEqual(tokens[0], first);
  assert.notEqual((await store.get('default'))!.refreshToken, firstRt);
});

test('expiry on the wire: oidc-provider sends none of the draft fields; the response has no expiry, the manager stores none and never warns', async () => {
  const config = await discover('basic', ClientSecretBasic(secret('basic')));
  const tokens = await refreshTokenGrant(config, await mint('basic'));
  assert.equal(config.serverMetadata().refresh_token_expiration_types_supported, undefined);
  for (const field of ['refresh_token_timeout', 'authorization_expires_in', 'refresh_token_expires_in', 'refresh_expires_in']) assert.equal(tokens[field], undefined, field);
  assert.equal(tokens.refreshTokenExpiresAt(), undefined);
  assert.equal(tokens.authorizationExpiresAt(), undefined);
  const store = createMemoryStore();
  const manager = createTokenManager({ config, store, expiryWarning: 10 * 365 * 86_400 });
  const warnings: unknown[] = [];
  manager.on('authorization-expiring', (w) => warnings.push(w));
  await manager.setTokens({ refresh_token: await mint('basic') });
  await manager.refresh();
  const stored = (await store.get('default'))!;
  assert.equal(stored.refreshExpiresAt, undefined);
  assert.equal(stored.authorizationExpiresAt, undefined);
  assert.deepEqual(warnings, []);
});
