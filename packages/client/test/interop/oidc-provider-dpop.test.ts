/**
 * Interop: our client's DPoP (RFC 9449) against oidc-provider v9 (npm) with its DPoP feature on
 * and server nonces required. A public client's refresh token is minted bound to our key (as
 * oidc-provider binds it after a DPoP code exchange); refreshes and a userinfo call through the
 * token manager go through oidc-provider's own proof validation.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { exportJWK, generateKeyPair } from 'jose';
import { None } from '../../src/client-auth.ts';
import { customFetch, type Configuration } from '../../src/configuration.ts';
import { discovery } from '../../src/discovery.ts';
import { getDPoPHandle, randomDPoPKeyPair } from '../../src/dpop.ts';
import { OAuthResponseError } from '../../src/errors.ts';
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
const oidcProvider = 'oidc-provider';
const { default: Provider } = (await import(oidcProvider)) as { default: new (issuer: string, configuration: object) => OidcProvider };

let server: Server;
let provider: OidcProvider;
let issuer: string;
let config: Configuration;
const scope = 'openid offline_access';

before(async () => {
  server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const signing = await generateKeyPair('RS256', { extractable: true });
  provider = new Provider(issuer, {
    clients: [{ client_id: 'spa', token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], redirect_uris: ['https://rp.example/cb'], response_types: ['code'] }],
    jwks: { keys: [{ ...(await exportJWK(signing.privateKey)), kid: 's1', alg: 'RS256', use: 'sig' }] },
    findAccount: (_ctx: unknown, sub: string) => ({ accountId: sub, claims: () => ({ sub }) }),
    scopes: ['openid', 'offline_access'],
    rotateRefreshToken: true,
    issueRefreshToken: () => true,
    ttl: { AccessToken: 600, IdToken: 600, RefreshToken: 3600, Grant: 3600 },
    features: {
      devInteractions: { enabled: false },
      // RFC 9449 section 8: every proof must carry one of its nonces.
      dPoP: { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true },
    },
  });
  server.on('request', provider.callback());
  config = await discovery(new URL(issuer), 'spa', undefined, None());
});

after(() => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))));

/** Mints a refresh token for alice bound to `jkt`, as oidc-provider's DPoP code exchange leaves it for a public client. */
async function mintBound(jkt: string): Promise<string> {
  const client = await provider.Client.find('spa');
  const grant = new provider.Grant({ accountId: 'alice', clientId: 'spa' });
  grant.addOIDCScope(scope);
  const grantId = await grant.save();
  return new provider.RefreshToken({ accountId: 'alice', client, grantId, scope, gty: 'authorization_code', authTime: Math.floor(Date.now() / 1000) - 60, jkt }).save();
}

test('discovery shows oidc-provider supports DPoP', () => {
  assert.ok((config.serverMetadata().dpop_signing_alg_values_supported as string[]).includes('ES256'));
});

test('refresh with DPoP: nonce retry, DPoP-bound tokens, the key enforced by oidc-provider', async () => {
  const keyPair = await randomDPoPKeyPair('ES256');
  const DPoP = getDPoPHandle(config, keyPair);
  const jkt = await DPoP.calculateThumbprint();
  const rt = await mintBound(jkt);

  // Without a proof, or with another key, oidc-provider refuses the bound token.
  await assert.rejects(refreshTokenGrant(config, rt), (e) => e instanceof OAuthResponseError && e.error === 'invalid_grant');
  const other = getDPoPHandle(config, await randomDPoPKeyPair('Ed25519'));
  await assert.rejects(refreshTokenGrant(config, rt, undefined, { DPoP: other }), (e) => e instanceof OAuthResponseError && e.error === 'invalid_grant');

  // The first proof has no nonce: oidc-provider answers use_dpop_nonce, the client retries once.
  const nonces: Array<string | undefined> = [];
  config[customFetch] = async (url, options) => {
    const response = await fetch(url, options);
    if (options.headers.dpop) nonces.push(JSON.parse(atob(options.headers.dpop.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))).nonce);
    return response;
  };
  let first;
  try {
    first = await refreshTokenGrant(config, rt, undefined, { DPoP });
  } finally {
    delete config[customFetch];
  }
  assert.equal(nonces.length, 2);
  assert.equal(nonces[0], undefined);
  assert.equal(typeof nonces[1], 'string');
  assert.equal(first.token_type, 'dpop');
  assert.ok(first.refresh_token && first.refresh_token !== rt);
  assert.equal(first.claims()!.sub, 'alice');
  const second = await refreshTokenGrant(config, first.refresh_token!, undefined, { DPoP, idToken: first.id_token });
  assert.equal(second.token_type, 'dpop');
});

test('the token manager refreshes with DPoP and calls userinfo with Authorization: DPoP and an ath proof', async () => {
  const keyPair = await randomDPoPKeyPair('ES256');
  const DPoP = getDPoPHandle(config, keyPair);
  const rt = await mintBound(await DPoP.calculateThumbprint());
  let clock = Date.now();
  const manager = createTokenManager({ config, store: createMemoryStore(), DPoP, now: () => clock });
  await manager.setTokens({ refresh_token: rt });
  const at = await manager.getAccessToken();
  assert.equal((await manager.getTokens()).tokenType, 'dpop');
  // oidc-provider's opaque access tokens: the binding is checked by its userinfo endpoint.
  const userinfo = config.serverMetadata().userinfo_endpoint as string;
  const response = await manager.fetch(userinfo);
  assert.equal(response.status, 200, await response.clone().text());
  assert.deepEqual(await response.json(), { sub: 'alice' });
  clock += 3600_000;
  const tokens = await Promise.all(Array.from({ length: 10 }, () => manager.getAccessToken()));
  assert.equal(new Set(tokens).size, 1);
  assert.notEqual(tokens[0], at);
  // A Bearer presentation of the DPoP-bound token is refused by oidc-provider.
  const bearer = await fetch(userinfo, { headers: { authorization: `Bearer ${tokens[0]}` } });
  assert.equal(bearer.status, 401);
});
