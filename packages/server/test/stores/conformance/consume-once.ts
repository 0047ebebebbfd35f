/**
 * One-time values: `consumeOnce` is true once per namespace and key until the entry expires,
 * and holds under concurrency.
 */
import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import type { Store } from '../../../src/core/store.ts';
import { randomId } from '../../../src/core/crypto.ts';
import { now, type ConformanceContext } from './fixtures.ts';

/**
 * Registers these cases. `runStoreConformance` (index.ts) calls it inside `describe('consumeOnce')`;
 * `suite` gives the store and helpers, once its `before` has opened the store.
 *
 * @example
 * ```ts
 * describe('consumeOnce', () => consumeOnceCases(() => context))
 * ```
 */
export function consumeOnceCases(suite: () => ConformanceContext): void {
  let store: Store;
  before(() => ({ store } = suite()));

  it('is true the first time and false until the entry expires', async () => {
    const key = randomId();
    assert.equal(await store.consumeOnce('jti', key, now() + 60), true);
    assert.equal(await store.consumeOnce('jti', key, now() + 60), false);
    assert.equal(await store.consumeOnce('jti', key, now() + 3600), false);
    // Namespaces are independent.
    assert.equal(await store.consumeOnce('dpop', key, now() + 60), true);
  });

  it('treats an expired entry as absent', async () => {
    const key = randomId();
    assert.equal(await store.consumeOnce('jti', key, now() - 5), true);
    // Its expiry has passed, so it may be consumed again (and now holds until the new expiry).
    assert.equal(await store.consumeOnce('jti', key, now() + 60), true);
    assert.equal(await store.consumeOnce('jti', key, now() + 60), false);
  });

  it('holds under concurrency: one of 20 concurrent calls wins', async () => {
    const key = randomId();
    const results = await Promise.all(Array.from({ length: 20 }, () => store.consumeOnce('jti', key, now() + 60)));
    assert.equal(results.filter(Boolean).length, 1);
  });
}
