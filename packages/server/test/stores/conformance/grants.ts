/**
 * Grants: created with their first token atomically, read back exactly, listed by subject and
 * client, newest first.
 */
import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import type { Store } from '../../../src/core/store.ts';
import type { GrantRecord } from '../../../src/core/types.ts';
import { randomId } from '../../../src/core/crypto.ts';
import { grantFor, newHash, newToken, now, type ConformanceContext } from './fixtures.ts';

/**
 * Registers these cases. `runStoreConformance` (index.ts) calls it inside `describe('grants')`;
 * `suite` gives the store and helpers, once its `before` has opened the store.
 *
 * @example
 * ```ts
 * describe('grants', () => grantCases(() => context))
 * ```
 */
export function grantCases(suite: () => ConformanceContext): void {
  let store: Store;
  let seedGrant: ConformanceContext['seedGrant'];
  before(() => ({ store, seedGrant } = suite()));

  it('createGrant stores the grant and its first token at generation 1', async () => {
    const t = now();
    const grant = grantFor({
      resources: ['https://api.example/'],
      idTokenClaims: { acr: 'urn:mace:incommon:iap:silver', amr: ['pwd', 'otp'], nested: { a: 1 } },
      dpopJkt: 'jkt-thumbprint',
      createdAt: t - 5,
    });
    const first = newToken();
    await store.createGrant(grant, first);

    assert.deepStrictEqual(await store.getGrant(grant.familyId), grant);
    const snap = await store.findRefreshToken(first.tokenHash);
    assert.ok(snap);
    assert.deepStrictEqual(snap.grant, grant);
    assert.deepStrictEqual(snap.token, {
      tokenHash: first.tokenHash,
      familyId: grant.familyId,
      generation: 1,
      createdAt: grant.createdAt,
      expiresAt: first.expiresAt,
      state: 'active',
    });
    assert.equal(snap.successor, undefined);
    assert.equal(await store.getGrant(randomId()), undefined);
    assert.equal(await store.findRefreshToken(newHash()), undefined);
  });

  it('createGrant is atomic: a token hash collision leaves no grant behind', async () => {
    const { first } = await seedGrant();
    const grant = grantFor();
    await assert.rejects(store.createGrant(grant, { tokenHash: first.tokenHash, expiresAt: now() + 60 }));
    assert.equal(await store.getGrant(grant.familyId), undefined);
    assert.equal((await store.findRefreshToken(first.tokenHash))?.token.generation, 1);
  });

  it('listGrants filters by subject and client, newest first, revoked included', async () => {
    const subject = `sub-${randomId()}`;
    const c1 = `c1-${randomId()}`;
    const c2 = `c2-${randomId()}`;
    const t = now();
    const g100 = (await seedGrant({ subject, clientId: c1, createdAt: t - 300 })).grant;
    const g300 = (await seedGrant({ subject, clientId: c1, createdAt: t - 100 })).grant;
    const g200 = (await seedGrant({ subject, clientId: c2, createdAt: t - 200 })).grant;
    const otherSubject = (await seedGrant({ clientId: c1, createdAt: t - 50 })).grant;
    await store.revokeGrant(g100.familyId, 'admin', t);

    const ids = (gs: GrantRecord[]) => gs.map((g) => g.familyId);
    assert.deepStrictEqual(ids(await store.listGrants({ subject })), [g300, g200, g100].map((g) => g.familyId));
    assert.deepStrictEqual(ids(await store.listGrants({ subject, clientId: c1 })), [g300.familyId, g100.familyId]);
    assert.deepStrictEqual(
      ids(await store.listGrants({ clientId: c1 })),
      [otherSubject, g300, g100].map((g) => g.familyId),
    );
    assert.deepStrictEqual(ids(await store.listGrants({ clientId: c2 })), [g200.familyId]);
    assert.deepStrictEqual(await store.listGrants({ subject: `nobody-${randomId()}` }), []);
    const listed = await store.listGrants({ subject });
    assert.equal(listed[2].revokedReason, 'admin');
    assert.deepStrictEqual(listed[1], g200);

    const all = await store.listGrants({});
    const mine = new Set([g100, g200, g300, otherSubject].map((g) => g.familyId));
    assert.deepStrictEqual(
      all.filter((g) => mine.has(g.familyId)).map((g) => g.familyId),
      [otherSubject, g300, g200, g100].map((g) => g.familyId),
    );
    for (let i = 1; i < all.length; i++) assert.ok(all[i - 1].createdAt >= all[i].createdAt);
  });

  it('createGrant round-trips the binding and replay fields', async () => {
    const grant = grantFor({ dpopJkt: 'jkt', dpopBoundFrom: 4, replayGeneration: 3, replayedAt: now() - 9 });
    await store.createGrant(grant, newToken());
    assert.deepStrictEqual(await store.getGrant(grant.familyId), grant);
  });
}
