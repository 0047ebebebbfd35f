/**
 * What each refresh decision writes: rotate (the successor at the next generation, at most once,
 * atomically), keep (a slid expiry), replay (the family records it), and the DPoP binding of a
 * family from the successor on.
 */
import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import type { RefreshSnapshot, Store } from '../../../src/core/store.ts';
import { randomId } from '../../../src/core/crypto.ts';
import { newHash, newToken, now, rotateTo, type ConformanceContext } from './fixtures.ts';

/**
 * Registers these cases. `runStoreConformance` (index.ts) calls it inside `describe('useRefreshToken')`;
 * `suite` gives the store and helpers, once its `before` has opened the store.
 *
 * @example
 * ```ts
 * describe('useRefreshToken', () => rotationCases(() => context))
 * ```
 */
export function rotationCases(suite: () => ConformanceContext): void {
  let store: Store;
  let seedGrant: ConformanceContext['seedGrant'];
  before(() => ({ store, seedGrant } = suite()));

  it('passes undefined to decide for an unknown token and returns the decision', async () => {
    let seen: RefreshSnapshot | undefined | null = null;
    const use = await store.useRefreshToken(newHash(), (s) => {
      seen = s;
      return { action: 'reject', reason: 'unknown' };
    });
    assert.equal(seen, undefined);
    assert.equal(use.snapshot, undefined);
    assert.deepStrictEqual(use.decision, { action: 'reject', reason: 'unknown' });
  });

  it('rotate marks the parent rotated and inserts the successor at generation + 1', async () => {
    const { grant, first } = await seedGrant();
    const successor = newToken(7200);
    const sealed = `sealed-${randomId()}`;
    const before = now();
    const use = await store.useRefreshToken(first.tokenHash, (s) => {
      assert.equal(s?.token.tokenHash, first.tokenHash);
      assert.deepStrictEqual(s?.grant, grant);
      return rotateTo(successor, sealed);
    });
    const afterwards = now();
    assert.equal(use.snapshot?.token.state, 'active');
    assert.equal(use.decision.action, 'rotate');

    const parent = await store.findRefreshToken(first.tokenHash);
    assert.ok(parent);
    assert.equal(parent.token.state, 'rotated');
    assert.equal(parent.token.successorHash, successor.tokenHash);
    assert.equal(parent.token.successorSealed, sealed);
    assert.ok(parent.token.rotatedAt !== undefined);
    assert.ok(parent.token.rotatedAt >= before && parent.token.rotatedAt <= afterwards);
    assert.equal(parent.token.generation, 1);

    const child = await store.findRefreshToken(successor.tokenHash);
    assert.ok(child);
    assert.equal(child.token.familyId, grant.familyId);
    assert.equal(child.token.generation, 2);
    assert.equal(child.token.state, 'active');
    assert.equal(child.token.expiresAt, successor.expiresAt);
    assert.ok(child.token.createdAt >= before && child.token.createdAt <= afterwards);
    assert.equal(child.token.rotatedAt, undefined);
    assert.equal(child.token.successorHash, undefined);
    assert.equal(child.token.successorSealed, undefined);
    assert.deepStrictEqual(parent.successor, child.token);

    // The next use of the parent sees the successor in its snapshot.
    const replay = await store.useRefreshToken(first.tokenHash, (s) => {
      assert.deepStrictEqual(s?.successor, child.token);
      return { action: 'replay' };
    });
    assert.deepStrictEqual(replay.snapshot?.successor, child.token);

    // And the chain goes on from the successor.
    const third = newToken();
    await store.useRefreshToken(successor.tokenHash, () => rotateTo(third));
    assert.equal((await store.findRefreshToken(third.tokenHash))?.token.generation, 3);
  });

  it('refuses to rotate a token that is no longer active, changing nothing', async () => {
    const { first } = await seedGrant();
    const second = newToken();
    await store.useRefreshToken(first.tokenHash, () => rotateTo(second));
    const before = await store.findRefreshToken(first.tokenHash);
    const third = newToken();
    await assert.rejects(store.useRefreshToken(first.tokenHash, () => rotateTo(third)));
    assert.deepStrictEqual(await store.findRefreshToken(first.tokenHash), before);
    assert.equal(await store.findRefreshToken(third.tokenHash), undefined);
  });

  it('rolls back a rotation whose successor cannot be inserted', async () => {
    const { first } = await seedGrant();
    const taken = (await seedGrant()).first;
    const before = await store.findRefreshToken(first.tokenHash);
    await assert.rejects(
      store.useRefreshToken(first.tokenHash, () => rotateTo({ tokenHash: taken.tokenHash, expiresAt: now() + 60 })),
    );
    assert.deepStrictEqual(await store.findRefreshToken(first.tokenHash), before);
    assert.equal((await store.findRefreshToken(taken.tokenHash))?.token.generation, 1);
  });

  it("rotate and reject record the decision's time (one clock: the core's)", async () => {
    const { first } = await seedGrant();
    const successor = newToken();
    const at = now() - 1234;
    await store.useRefreshToken(first.tokenHash, () => ({ ...rotateTo(successor), at }));
    const parent = await store.findRefreshToken(first.tokenHash);
    assert.equal(parent?.token.rotatedAt, at);
    const child = await store.findRefreshToken(successor.tokenHash);
    assert.equal(child?.token.createdAt, at);
    await store.useRefreshToken(first.tokenHash, () => ({ action: 'reject', reason: 'reuse', revokeFamily: true, at: at + 7 }));
    assert.equal((await store.getGrant(parent!.grant.familyId))?.revokedAt, at + 7);
  });

  it('keep slides the expiry and leaves the token active', async () => {
    const { first } = await seedGrant();
    const slid = first.expiresAt + 500;
    const use = await store.useRefreshToken(first.tokenHash, () => ({ action: 'keep', expiresAt: slid }));
    assert.equal(use.snapshot?.token.expiresAt, first.expiresAt);
    const snap = await store.findRefreshToken(first.tokenHash);
    assert.equal(snap?.token.expiresAt, slid);
    assert.equal(snap?.token.state, 'active');
    assert.equal(snap?.token.successorHash, undefined);
  });

  it('replay changes no token; the family records the replayed generation and when', async () => {
    const { grant, first } = await seedGrant();
    const second = newToken();
    await store.useRefreshToken(first.tokenHash, () => rotateTo(second));
    const before = await store.findRefreshToken(first.tokenHash);
    const at = now() - 77;
    const use = await store.useRefreshToken(first.tokenHash, () => ({ action: 'replay', at }));
    assert.deepStrictEqual(use.snapshot, before);
    const afterwards = await store.findRefreshToken(first.tokenHash);
    assert.deepStrictEqual(afterwards?.token, before?.token);
    assert.deepStrictEqual(afterwards?.successor, before?.successor);
    assert.deepStrictEqual(afterwards?.grant, { ...grant, replayGeneration: 1, replayedAt: at });
    const successor = before?.successor;
    assert.ok(successor);
    assert.deepStrictEqual((await store.findRefreshToken(successor.tokenHash))?.token, successor);
    // The next generation's replay is recorded over it, and seen in the next snapshot.
    await store.useRefreshToken(second.tokenHash, () => rotateTo(newToken()));
    await store.useRefreshToken(second.tokenHash, (s) => {
      assert.equal(s?.grant.replayGeneration, 1);
      return { action: 'replay', at: at + 1 };
    });
    const latest = await store.getGrant(grant.familyId);
    assert.equal(latest?.replayGeneration, 2);
    assert.equal(latest?.replayedAt, at + 1);
  });

  it('keep records when the token was used', async () => {
    const { first } = await seedGrant();
    const at = now() - 55;
    await store.useRefreshToken(first.tokenHash, () => ({ action: 'keep', expiresAt: first.expiresAt + 10, at }));
    const snap = await store.findRefreshToken(first.tokenHash);
    assert.equal(snap?.token.usedAt, at);
    assert.equal(snap?.token.expiresAt, first.expiresAt + 10);
  });

  it('rotate with bindDpopJkt binds the unbound family from the successor on, atomically', async () => {
    const { grant, first } = await seedGrant();
    const second = newToken();
    await store.useRefreshToken(first.tokenHash, () => ({ ...rotateTo(second), bindDpopJkt: 'jkt-bound' }));
    assert.deepStrictEqual(await store.getGrant(grant.familyId), { ...grant, dpopJkt: 'jkt-bound', dpopBoundFrom: 2 });
    assert.equal((await store.findRefreshToken(second.tokenHash))?.token.generation, 2);
    // A bound family is never bound again: the rotation fails and changes nothing.
    const before = await store.findRefreshToken(second.tokenHash);
    const third = newToken();
    await assert.rejects(store.useRefreshToken(second.tokenHash, () => ({ ...rotateTo(third), bindDpopJkt: 'jkt-other' })));
    assert.deepStrictEqual(await store.findRefreshToken(second.tokenHash), before);
    assert.equal(await store.findRefreshToken(third.tokenHash), undefined);
    assert.equal((await store.getGrant(grant.familyId))?.dpopJkt, 'jkt-bound');
    // Without a binding, rotation goes on.
    await store.useRefreshToken(second.tokenHash, () => rotateTo(third));
    assert.equal((await store.findRefreshToken(third.tokenHash))?.token.generation, 3);
  });

}
