/**
 * Sessions and revocation: each grant with its newest generation and last use, and grants
 * revoked one at a time or by subject and/or client, kept as tombstones.
 */
import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import type { Store } from '../../../src/core/store.ts';
import { randomId } from '../../../src/core/crypto.ts';
import { newToken, now, rotateTo, type ConformanceContext } from './fixtures.ts';

/**
 * Registers these cases. `runStoreConformance` (index.ts) calls it inside `describe('grants')`;
 * `suite` gives the store and helpers, once its `before` has opened the store.
 *
 * @example
 * ```ts
 * describe('grants', () => sessionCases(() => context))
 * ```
 */
export function sessionCases(suite: () => ConformanceContext): void {
  let store: Store;
  let seedGrant: ConformanceContext['seedGrant'];
  before(() => ({ store, seedGrant } = suite()));

  it('listSessions: each grant with its newest generation and last use (rotation, keep, replay), filtered, newest first', async () => {
    const subject = `sessions-${randomId()}`;
    const c1 = `c1-${randomId()}`;
    const c2 = `c2-${randomId()}`;
    const t = now();
    const unused = await seedGrant({ subject, clientId: c1, createdAt: t - 400 });
    const rotated = await seedGrant({ subject, clientId: c1, createdAt: t - 300 });
    const kept = await seedGrant({ subject, clientId: c2, createdAt: t - 200 });
    const replayed = await seedGrant({ subject, clientId: c2, createdAt: t - 100 });
    const second = newToken();
    await store.useRefreshToken(rotated.first.tokenHash, () => ({ ...rotateTo(second), at: t - 250 }));
    await store.useRefreshToken(second.tokenHash, () => ({ ...rotateTo(newToken()), at: t - 240 }));
    await store.useRefreshToken(kept.first.tokenHash, () => ({ action: 'keep', expiresAt: t + 999, at: t - 150 }));
    const next = newToken();
    await store.useRefreshToken(replayed.first.tokenHash, () => ({ ...rotateTo(next), at: t - 90 }));
    await store.useRefreshToken(replayed.first.tokenHash, () => ({ action: 'replay', at: t - 80 }));
    await store.revokeGrant(unused.grant.familyId, 'admin', t);

    const sessions = await store.listSessions({ subject });
    assert.deepStrictEqual(sessions.map((s) => s.grant.familyId), [replayed, kept, rotated, unused].map((g) => g.grant.familyId));
    assert.deepStrictEqual(sessions.map((s) => s.generation), [2, 1, 3, 1]);
    assert.deepStrictEqual(sessions.map((s) => s.lastUsedAt), [t - 80, t - 150, t - 240, undefined]);
    assert.equal('lastUsedAt' in sessions[3], false);
    assert.equal(sessions[3].grant.revokedReason, 'admin');
    assert.deepStrictEqual((await store.listSessions({ subject, clientId: c2 })).map((s) => s.grant.familyId), [replayed, kept].map((g) => g.grant.familyId));
    assert.deepStrictEqual((await store.listSessions({ clientId: c1 })).map((s) => s.grant.familyId), [rotated, unused].map((g) => g.grant.familyId));
    assert.deepStrictEqual(await store.listSessions({ subject: `nobody-${randomId()}` }), []);
  });

  it('revokeGrants revokes the active grants of a subject, of a client, or of both, once; needs a filter', async () => {
    const subject = `bulk-${randomId()}`;
    const c1 = `c1-${randomId()}`;
    const c2 = `c2-${randomId()}`;
    const a = (await seedGrant({ subject, clientId: c1 })).grant;
    const { grant: b, first: bFirst } = await seedGrant({ subject, clientId: c2 });
    const c = (await seedGrant({ subject, clientId: c2 })).grant;
    const earlier = (await seedGrant({ subject, clientId: c1 })).grant;
    const other = (await seedGrant({ clientId: c1 })).grant;
    const t = now();
    await store.revokeGrant(earlier.familyId, 'revocation', t - 50);

    const sorted = (ids: string[]) => [...ids].sort();
    // Subject and client: only b and c.
    assert.deepStrictEqual(sorted(await store.revokeGrants({ subject, clientId: c2 }, 'logout', t)), sorted([b.familyId, c.familyId]));
    assert.equal((await store.getGrant(b.familyId))?.revokedReason, 'logout');
    assert.equal((await store.getGrant(a.familyId))?.revokedAt, undefined);
    // The subject: a is left; b and c are already revoked, earlier keeps its revocation.
    assert.deepStrictEqual(await store.revokeGrants({ subject }, 'account_compromised', t + 1), [a.familyId]);
    const kept = await store.getGrant(earlier.familyId);
    assert.equal(kept?.revokedAt, t - 50);
    assert.equal(kept?.revokedReason, 'revocation');
    assert.equal((await store.getGrant(a.familyId))?.revokedReason, 'account_compromised');
    // The client: only other is left.
    assert.deepStrictEqual(await store.revokeGrants({ clientId: c1 }, 'client_disabled', t + 2), [other.familyId]);
    assert.deepStrictEqual(await store.revokeGrants({ clientId: c1 }, 'client_disabled', t + 3), []);
    // The tokens stay findable under a revoked grant (reuse stays detectable).
    assert.equal((await store.findRefreshToken(bFirst.tokenHash))?.grant.revokedReason, 'logout');
    await assert.rejects(store.revokeGrants({}, 'admin', t), TypeError);
  });

  it('revokeGrant returns true once, then false; the grant and its tokens stay as tombstones', async () => {
    const { grant, first } = await seedGrant();
    const at = now();
    assert.equal(await store.revokeGrant(grant.familyId, 'revocation', at), true);
    assert.equal(await store.revokeGrant(grant.familyId, 'admin', at + 5), false);
    assert.deepStrictEqual(await store.getGrant(grant.familyId), {
      ...grant,
      revokedAt: at,
      revokedReason: 'revocation',
    });
    const snap = await store.findRefreshToken(first.tokenHash);
    assert.equal(snap?.token.state, 'active');
    assert.equal(snap?.grant.revokedAt, at);
    assert.equal(await store.revokeGrant(randomId(), 'admin', at), false);
  });
}
