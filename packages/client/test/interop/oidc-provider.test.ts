/**
 * Interop against a server nobody here wrote: oidc-provider v9 (npm), on 127.0.0.1:0. Refresh
 * tokens are minted through its models (Grant + RefreshToken), as its own code grant would.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { exportJWK, generateKeyPair } from 'jose';
import { PrivateKeyJwt } from '../../src/client-assertion.ts';
import { ClientSecretBasic, ClientSecretPost, None } from '../../src/client-auth.ts';
import type { Configuration } from '../../src/configuration.ts';
import { discovery } from '../../src/discovery.ts';
import { InvalidResponseError, OAuthResponseError } from '../../src/errors.ts';
import { createMemoryStore } from '../../src/memory-store.ts';
import { refreshTokenGrant } from '../../src/refresh-token-grant.ts';
import { createTokenManager } from '../../src/token-manager.ts';

/** The part of oidc-provider's API used here (it ships no type declarations). */
interface OidcProvider {
  callback(): (req: unknown, res: unknown) => void;
  Client: { find(id: string): Promise<unknown> };
  Grant: new (init: { accountId: string; clientId: string }) => { addOIDCScope(scope: string): void; save(): Promise<string> };
  RefreshToken: new (init: Record<string, unknown>) => { save(): Promise<string> };
}
// A non-literal specifier: resolved at run time, without type declarations.
const oidcProvider = 'oidc-provider';
const { default: Provider } = (await import(oidcProvider)) as { default: new (issuer: string, configuration: object) => OidcProvider };

let server: Server;
let provider: OidcProvider;
let issuer: string;
let clientKey: CryptoKey;
const secret = (id: string) => `${id}-secret-0123456789-0123456789-0123456789`;
const scope = 'openid offline_access api:read';

before(async () => {
  server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const signing = await generateKeyPair('RS256', { extractable: true });
  const client = await generateKeyPair('ES256', { extractable: true });
  clientKey = client.privateKey;
  const common = { grant_types: ['authorization_code', 'refresh_token'], redirect_uris: ['https://rp.example/cb'], response_types: ['code'] };
  provider = new Provider(issuer, {
    clients: [
      { ...common, client_id: 'basic', client_secret: secret('basic'), token_endpoint_auth_method: 'client_secret_basic' },
      { ...common, client_id: 'post', client_secret: secret('post'), token_endpoint_auth_method: 'client_secret_post' },
      { ...common, client_id: 'pkjwt', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [{ ...(await exportJWK(client.publicKey)), kid: 'c1' }] } },
      { ...common, client_id: 'public', token_endpoint_auth_method: 'none' },
    ],
    jwks: { keys: [{ ...(await exportJWK(signing.privateKey)), kid: 's1', alg: 'RS256', use: 'sig' }] },
    findAccount: (_ctx: unknown, sub: string) => ({ accountId: sub, claims: () => ({ sub }) }),
    scopes: ['openid', 'offline_access', 'api:read'],
    rotateRefreshToken: true,
    issueRefreshToken: () => true,
    ttl: { AccessToken: 600, IdToken: 600, RefreshToken: 3600, Grant: 3600 },
    features: { devInteractions: { enabled: false } },
  });
  server.on('request', provider.callback());
});

after(() => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))));

/** Mints a refresh token for alice, as a finished authorization code flow would leave it. */
async function mint(clientId: string): Promise<string> {
  const client = await provider.Client.find(clientId);
  const grant = new provider.Grant({ accountId: 'alice', clientId });
  grant.addOIDCScope(scope);
  const grantId = await grant.save();
  const rt = new provider.RefreshToken({ accountId: 'alice', client, grantId, scope, gty: 'authorization_code', authTime: Math.floor(Date.now() / 1000) - 60 });
  return rt.save();
}

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
