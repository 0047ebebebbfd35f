/**
 * Purge: `purgeExpired` deletes at most `limit` rows, only expired ones, counts them, and works
 * through a large backlog in limit-sized batches.
 */
import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import type { Store } from '../../../src/core/store.ts';
import type { OpaqueAccessTokenRecord } from '../../../src/core/types.ts';
import { randomId } from '../../../src/core/crypto.ts';
import { key, newHash, now, rotateTo, type ConformanceContext } from './fixtures.ts';

/**
 * Registers these cases. `runStoreConformance` (index.ts) calls it inside `describe('purgeExpired')`;
 * `suite` gives the store and helpers, once its `before` has opened the store.
 *
 * @example
 * ```ts
 * describe('purgeExpired', () => purgeCases(() => context))
 * ```
 */
export function purgeCases(suite: () => ConformanceContext): void {
  let store: Store;
  let seedGrant: ConformanceContext['seedGrant'];
  before(() => ({ store, seedGrant } = suite()));

  it('deletes at most limit rows, only expired ones, and counts them', async () => {
    // A clock far in the past: only rows this test writes with earlier expiries are expired.
    const T = 1_000_000 + Math.floor(Math.random() * 1_000_000);
    while ((await store.purgeExpired(T, 1000)) === 1000);
    assert.equal(await store.purgeExpired(T, 1000), 0);

    // Expired: a grant with two tokens (3 rows), one consumed key, one revoked mark,
    // one opaque access token, one signing key past removeAfter. 7 rows.
    const dead = await seedGrant({ createdAt: T - 100, authTime: T - 100, expiresAt: T - 10 }, {
      tokenHash: newHash(),
      expiresAt: T - 50,
    });
    const deadSuccessor = { tokenHash: newHash(), expiresAt: T - 10 };
    await store.useRefreshToken(dead.first.tokenHash, () => rotateTo(deadSuccessor));
    // Alive at T: a grant with one token.
    const live = await seedGrant({ createdAt: T - 100, authTime: T - 100, expiresAt: T + 1000 }, {
      tokenHash: newHash(),
      expiresAt: T - 50,
    });
    const ns = `purge-${randomId()}`;
    assert.equal(await store.consumeOnce(ns, 'dead', T - 10), true);
    assert.equal(await store.consumeOnce(ns, 'live', T + 10), true);
    const deadJti = randomId();
    const liveJti = randomId();
    await store.revokeAccessToken(deadJti, T - 10);
    await store.revokeAccessToken(liveJti, T + 10);
    const at = (expiresAt: number): OpaqueAccessTokenRecord => ({
      tokenHash: newHash(), jti: randomId(), familyId: live.grant.familyId, clientId: live.grant.clientId,
      subject: live.grant.subject, scope: '', audience: [], issuedAt: T - 100, expiresAt,
    });
    const deadAt = at(T - 10);
    const liveAt = at(T + 10);
    await store.saveOpaqueAccessToken(deadAt);
    await store.saveOpaqueAccessToken(liveAt);
    const kx = key(now() + 100);
    const ky = key(now() + 200);
    // Adding kx retires every other active key until far in the future; adding ky retires only kx, until T - 10.
    await store.addSigningKey(kx, now() + 100_000);
    await store.addSigningKey(ky, T - 10);

    assert.equal(await store.purgeExpired(T, 3), 3);
    assert.equal(await store.purgeExpired(T, 3), 3);
    assert.equal(await store.purgeExpired(T, 3), 1);
    assert.equal(await store.purgeExpired(T, 3), 0);

    assert.equal(await store.getGrant(dead.grant.familyId), undefined);
    assert.equal(await store.findRefreshToken(dead.first.tokenHash), undefined);
    assert.equal(await store.findRefreshToken(deadSuccessor.tokenHash), undefined);
    assert.deepStrictEqual(await store.getGrant(live.grant.familyId), live.grant);
    assert.equal((await store.findRefreshToken(live.first.tokenHash))?.token.generation, 1);
    assert.equal(await store.isAccessTokenRevoked(deadJti), false);
    assert.equal(await store.isAccessTokenRevoked(liveJti), true);
    assert.equal(await store.findOpaqueAccessToken(deadAt.tokenHash), undefined);
    assert.deepStrictEqual(await store.findOpaqueAccessToken(liveAt.tokenHash), liveAt);
    const kids = (await store.listSigningKeys()).map((k) => k.kid);
    assert.ok(!kids.includes(kx.kid));
    assert.ok(kids.includes(ky.kid));

    // What is left is alive at T.
    assert.equal(await store.purgeExpired(T, 1000), 0);
  });

  it('purges a large backlog in limit-sized batches', async () => {
    const T = 1_000_000 + Math.floor(Math.random() * 1_000_000);
    while ((await store.purgeExpired(T, 1000)) === 1000);
    const ns = `batch-${randomId()}`;
    for (let i = 0; i < 25; i++) await store.consumeOnce(ns, String(i), T - 1);
    const counts: number[] = [];
    for (let n = -1; n !== 0; ) counts.push((n = await store.purgeExpired(T, 10)));
    assert.deepStrictEqual(counts, [10, 10, 5, 0]);
  });
}
