/**
 * Durability across handles: a second handle on the same data (a new connection, another
 * process) sees what the first committed, and the other way round.
 */
import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import type { Store } from '../../../src/core/store.ts';
import { randomId } from '../../../src/core/crypto.ts';
import { newToken, now, rotateTo, type ConformanceContext, type StoreHarness } from './fixtures.ts';

/**
 * Registers these cases. `runStoreConformance` (index.ts) calls it inside `describe('durability across handles')`;
 * `suite` gives the store and helpers, once its `before` has opened the store.
 *
 * @example
 * ```ts
 * describe('durability across handles', () => handleCases(() => context))
 * ```
 */
export function handleCases(suite: () => ConformanceContext): void {
  let harness: StoreHarness;
  let store: Store;
  let seedGrant: ConformanceContext['seedGrant'];
  before(() => ({ harness, store, seedGrant } = suite()));

  it('a second handle sees what the first committed, and the other way round', async () => {
    const { grant, first } = await seedGrant();
    const successor = newToken();
    await store.useRefreshToken(first.tokenHash, () => rotateTo(successor));
    const other = await harness.reopen();
    const seen = await other.findRefreshToken(first.tokenHash);
    assert.equal(seen?.token.state, 'rotated');
    assert.equal(seen?.successor?.tokenHash, successor.tokenHash);
    assert.deepStrictEqual(await other.getGrant(grant.familyId), grant);

    // Rotation through the second handle is visible to the first, and holds across both.
    const third = newToken();
    await other.useRefreshToken(successor.tokenHash, () => rotateTo(third));
    assert.equal((await store.findRefreshToken(successor.tokenHash))?.token.state, 'rotated');
    await assert.rejects(store.useRefreshToken(successor.tokenHash, () => rotateTo(newToken())));
    const key = randomId();
    assert.equal(await other.consumeOnce('conformance', key, now() + 60), true);
    assert.equal(await store.consumeOnce('conformance', key, now() + 60), false);
  });
}
