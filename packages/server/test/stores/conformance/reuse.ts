/**
 * Reuse and failure in a refresh: a rejection that revokes the family (keeping an earlier
 * revocation), a throwing `decide` that changes nothing, and 50 concurrent uses of one token
 * that rotate it exactly once.
 */
import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import type { RefreshDecision, Store } from '../../../src/core/store.ts';
import { newToken, now, rotateTo, type ConformanceContext } from './fixtures.ts';

/**
 * Registers these cases. `runStoreConformance` (index.ts) calls it inside `describe('useRefreshToken')`;
 * `suite` gives the store and helpers, once its `before` has opened the store.
 *
 * @example
 * ```ts
 * describe('useRefreshToken', () => reuseCases(() => context))
 * ```
 */
export function reuseCases(suite: () => ConformanceContext): void {
  let store: Store;
  let seedGrant: ConformanceContext['seedGrant'];
  before(() => ({ store, seedGrant } = suite()));

  it('reject with revokeFamily revokes the grant with reason reuse; without it changes nothing', async () => {
    const { grant, first } = await seedGrant();
    await store.useRefreshToken(first.tokenHash, () => ({ action: 'reject', reason: 'expired' }));
    assert.deepStrictEqual(await store.getGrant(grant.familyId), grant);

    const before = now();
    const use = await store.useRefreshToken(first.tokenHash, () => ({
      action: 'reject',
      reason: 'reuse',
      revokeFamily: true,
    }));
    assert.equal(use.snapshot?.grant.revokedAt, undefined);
    const revoked = await store.getGrant(grant.familyId);
    assert.equal(revoked?.revokedReason, 'reuse');
    assert.ok(revoked?.revokedAt !== undefined && revoked.revokedAt >= before);
    assert.equal((await store.findRefreshToken(first.tokenHash))?.grant.revokedReason, 'reuse');
  });

  it("reject with revokeFamily records the rejection's reason (shadowing)", async () => {
    const { grant, first } = await seedGrant();
    await store.useRefreshToken(first.tokenHash, () => ({ action: 'reject', reason: 'shadowing', revokeFamily: true }));
    assert.equal((await store.getGrant(grant.familyId))?.revokedReason, 'shadowing');
  });

  it('reject with revokeFamily keeps an earlier revocation', async () => {
    const { grant, first } = await seedGrant();
    const at = now() - 30;
    await store.revokeGrant(grant.familyId, 'revocation', at);
    await store.useRefreshToken(first.tokenHash, () => ({ action: 'reject', reason: 'revoked', revokeFamily: true }));
    const g = await store.getGrant(grant.familyId);
    assert.equal(g?.revokedAt, at);
    assert.equal(g?.revokedReason, 'revocation');
  });

  it('a throwing decide propagates its error and changes nothing', async () => {
    const { grant, first } = await seedGrant();
    const before = await store.findRefreshToken(first.tokenHash);
    const boom = new Error('decide failed');
    await assert.rejects(
      store.useRefreshToken(first.tokenHash, () => {
        throw boom;
      }),
      (error) => error === boom,
    );
    assert.deepStrictEqual(await store.findRefreshToken(first.tokenHash), before);
    assert.deepStrictEqual(await store.getGrant(grant.familyId), grant);
    // The store is still usable afterwards (no transaction left open).
    await store.useRefreshToken(first.tokenHash, () => rotateTo(newToken()));
    assert.equal((await store.findRefreshToken(first.tokenHash))?.token.state, 'rotated');
  });

  it('50 concurrent uses of one token: exactly one rotation, 49 replays, one successor row', async () => {
    const { first } = await seedGrant();
    const candidates: string[] = [];
    const uses = await Promise.all(
      Array.from({ length: 50 }, () => {
        const successor = newToken();
        candidates.push(successor.tokenHash);
        return store.useRefreshToken(first.tokenHash, (s): RefreshDecision =>
          s?.token.state === 'active' ? rotateTo(successor) : { action: 'replay' },
        );
      }),
    );
    const rotations = uses.filter((u) => u.decision.action === 'rotate');
    assert.equal(rotations.length, 1);
    assert.equal(uses.filter((u) => u.decision.action === 'replay').length, 49);
    // Every replay saw the committed rotation.
    for (const u of uses) {
      if (u.decision.action === 'replay') assert.equal(u.snapshot?.token.state, 'rotated');
    }
    const found = [];
    for (const hash of candidates) {
      if (await store.findRefreshToken(hash)) found.push(hash);
    }
    assert.equal(found.length, 1);
    const winner = rotations[0].decision;
    assert.ok(winner.action === 'rotate');
    assert.equal(found[0], winner.successor.tokenHash);
    assert.equal((await store.findRefreshToken(first.tokenHash))?.token.successorHash, found[0]);
  });
}
