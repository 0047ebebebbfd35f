/**
 * Interop: our client's DPoP (RFC 9449) against oidc-provider v9 (npm) with its DPoP feature on
 * and server nonces required. A public client's refresh token is minted bound to our key (as
 * oidc-provider binds it after a DPoP code exchange); refreshes and a userinfo call through the
 * token manager go through oidc-provider's own proof validation.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { None } from '../../src/client-auth.ts';
import { customFetch, type Configuration } from '../../src/configuration.ts';
import { discovery } from '../../src/discovery.ts';
import { getDPoPHandle, randomDPoPKeyPair } from '../../src/dpop.ts';
import { OAuthResponseError } from '../../src/errors.ts';
import { createMemoryStore } from '../../src/memory-store.ts';
import { refreshTokenGrant } from '../../src/refresh-token-grant.ts';
import { createTokenManager } from '../../src/token-manager.ts';
import { codeClient, startOidcProvider, type RunningProvider } from '../helpers/oidc-provider.ts';

let op: RunningProvider;
let config: Configuration;
const scope = 'openid offline_access';

before(async () => {
  op = await startOidcProvider({
    clients: [{ ...codeClient, client_id: 'spa', token_endpoint_auth_method: 'none' }],
    scopes: ['openid', 'offline_access'],
    // RFC 9449 section 8: every proof must carry one of its nonces.
    features: { dPoP: { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true } },
  });
  config = await discovery(new URL(op.issuer), 'spa', undefined, None());
});

after(() => op.close());

/** Mints a refresh token for alice bound to `jkt`, as oidc-provider's DPoP code exchange leaves it for a public client. */
const mintBound = (jkt: string) => op.mint('spa', scope, { jkt });

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
