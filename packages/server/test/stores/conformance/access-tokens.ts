/**
 * Access tokens: opaque access tokens saved and found by hash, and revocation marks by `jti`.
 */
import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import type { Store } from '../../../src/core/store.ts';
import type { OpaqueAccessTokenRecord } from '../../../src/core/types.ts';
import { randomHandle, randomId, sha256, tokenPrefixes } from '../../../src/core/crypto.ts';
import { newHash, now, type ConformanceContext } from './fixtures.ts';

/**
 * Registers these cases. `runStoreConformance` (index.ts) calls it inside `describe('access tokens')`;
 * `suite` gives the store and helpers, once its `before` has opened the store.
 *
 * @example
 * ```ts
 * describe('access tokens', () => accessTokenCases(() => context))
 * ```
 */
export function accessTokenCases(suite: () => ConformanceContext): void {
  let store: Store;
  before(() => ({ store } = suite()));

  it('saves and finds opaque access tokens by hash, with and without jkt', async () => {
    const t = now();
    const bound: OpaqueAccessTokenRecord = {
      tokenHash: sha256(randomHandle(tokenPrefixes.accessToken)),
      jti: randomId(),
      familyId: randomId(),
      clientId: `c-${randomId()}`,
      subject: 'alice',
      scope: 'openid api:read',
      audience: ['https://api.example/', 'https://other.example/'],
      issuedAt: t,
      expiresAt: t + 900,
      jkt: 'thumb',
    };
    const { jkt: _omit, ...unbound } = { ...bound, tokenHash: sha256(randomHandle('x')), jti: randomId() };
    await store.saveOpaqueAccessToken(bound);
    await store.saveOpaqueAccessToken(unbound);
    assert.deepStrictEqual(await store.findOpaqueAccessToken(bound.tokenHash), bound);
    assert.deepStrictEqual(await store.findOpaqueAccessToken(unbound.tokenHash), unbound);
    assert.equal(await store.findOpaqueAccessToken(newHash()), undefined);
  });

  it('revokes access tokens by jti', async () => {
    const jti = randomId();
    assert.equal(await store.isAccessTokenRevoked(jti), false);
    await store.revokeAccessToken(jti, now() + 900);
    assert.equal(await store.isAccessTokenRevoked(jti), true);
    await store.revokeAccessToken(jti, now() + 900);
    assert.equal(await store.isAccessTokenRevoked(jti), true);
    assert.equal(await store.isAccessTokenRevoked(randomId()), false);
  });
}
