/**
 * The store conformance suite: every backend runs it unchanged. It talks to the store only
 * through the {@link Store} interface and uses fresh random ids in every test, so it can run
 * again on a database that earlier runs (or other suites) have written to.
 *
 * This file lays out the suite (its `describe` tree, in order); the cases are in one file per
 * topic beside it, the shared harness, context and record factories in `fixtures.ts`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Store } from '../../../src/core/store.ts';
import type { GrantRecord } from '../../../src/core/types.ts';
import { accessTokenCases } from './access-tokens.ts';
import { runAuthorizationConformance } from './authorization.ts';
import { clientCases } from './clients.ts';
import { consumeOnceCases } from './consume-once.ts';
import { grantFor, newToken, type ConformanceContext, type StoreHarness } from './fixtures.ts';
import { grantCases } from './grants.ts';
import { handleCases } from './handles.ts';
import { purgeCases } from './purge.ts';
import { reuseCases } from './reuse.ts';
import { rotationCases } from './rotation.ts';
import { sessionCases } from './sessions.ts';
import { signingKeyCases } from './signing-keys.ts';

export type { StoreHarness } from './fixtures.ts';

/**
 * Registers the conformance suite for one backend.
 *
 * @example
 * ```ts
 * runStoreConformance('sqlite', async () => {
 *   const dir = mkdtempSync(join(tmpdir(), 'rg-'))
 *   const store = await openSqliteStore(join(dir, 'db.sqlite'))
 *   return { store, reopen: () => openSqliteStore(join(dir, 'db.sqlite')), cleanup: async () => { ... } }
 * })
 * ```
 */
export function runStoreConformance(name: string, open: () => Promise<StoreHarness>): void {
  describe(`Store conformance: ${name}`, () => {
    let harness: StoreHarness;
    let store: Store;

    before(async () => {
      harness = await open();
      store = harness.store;
    });
    after(async () => {
      await harness?.cleanup();
    });

    /** Creates a grant with its first token; returns both. */
    async function seedGrant(overrides: Partial<GrantRecord> = {}, first = newToken()) {
      const grant = grantFor(overrides);
      await store.createGrant(grant, first);
      return { grant, first };
    }

    /** What each topic's cases read, once the `before` above has opened the store. */
    const suite = (): ConformanceContext => ({ store, harness, seedGrant });

    it('declares its capabilities', () => {
      assert.equal(typeof store.capabilities.sharedAcrossProcesses, 'boolean');
      assert.equal(typeof store.capabilities.purgesInBackground, 'boolean');
    });

    describe('clients', () => clientCases(suite));

    describe('grants', () => {
      grantCases(suite);
      sessionCases(suite);
    });

    describe('useRefreshToken', () => {
      rotationCases(suite);
      reuseCases(suite);
    });

    describe('durability across handles', () => handleCases(suite));

    describe('consumeOnce', () => consumeOnceCases(suite));

    describe('access tokens', () => accessTokenCases(suite));

    describe('signing keys', () => signingKeyCases(suite));

    describe('purgeExpired', () => purgeCases(suite));

    runAuthorizationConformance(() => ({ store, seedGrant, newToken, grantFor }));
  });
}
