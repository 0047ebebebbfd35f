/**
 * Signing keys: adding one retires every earlier active key; the list is oldest first.
 */
import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import type { Store } from '../../../src/core/store.ts';
import { key, now, type ConformanceContext } from './fixtures.ts';

/**
 * Registers these cases. `runStoreConformance` (index.ts) calls it inside `describe('signing keys')`;
 * `suite` gives the store and helpers, once its `before` has opened the store.
 *
 * @example
 * ```ts
 * describe('signing keys', () => signingKeyCases(() => context))
 * ```
 */
export function signingKeyCases(suite: () => ConformanceContext): void {
  let store: Store;
  before(() => ({ store } = suite()));

  it('addSigningKey retires every earlier active key; listSigningKeys is oldest first', async () => {
    const t = now();
    const k1 = key(t);
    const k2 = key(t + 10);
    const k3 = key(t + 20);
    await store.addSigningKey(k1, t + 1000);
    await store.addSigningKey(k2, t + 2000);
    const afterK2 = (await store.listSigningKeys()).filter((k) => k.kid === k1.kid || k.kid === k2.kid);
    assert.deepStrictEqual(afterK2, [{ ...k1, retiredAt: k2.createdAt, removeAfter: t + 2000 }, k2]);

    await store.addSigningKey(k3, t + 3000);
    const mine = new Set([k1.kid, k2.kid, k3.kid]);
    const all = await store.listSigningKeys();
    for (let i = 1; i < all.length; i++) assert.ok(all[i - 1].createdAt <= all[i].createdAt);
    assert.deepStrictEqual(
      all.filter((k) => mine.has(k.kid)),
      [
        // Already retired: unchanged.
        { ...k1, retiredAt: k2.createdAt, removeAfter: t + 2000 },
        { ...k2, retiredAt: k3.createdAt, removeAfter: t + 3000 },
        k3,
      ],
    );
    // Exactly one key is not retired: the newest.
    assert.deepStrictEqual(all.filter((k) => k.retiredAt === undefined).map((k) => k.kid), [k3.kid]);
  });
}
