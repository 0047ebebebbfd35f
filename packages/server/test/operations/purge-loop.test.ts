/**
 * The purge loop: on a store that does not purge by itself (SQLite), expired grants and spent
 * single-use keys disappear in batches while live ones stay; a store that purges itself is
 * left alone.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomHandle, randomId, sha256 } from '../../src/core/crypto.ts';
import type { Store } from '../../src/core/store.ts';
import { openSqliteStore } from '../../src/stores/sqlite-store.ts';
import { startPurgeLoop } from '../../src/operations/purge-loop.ts';
import { openPostgresStore } from '../../src/stores/postgres-store.ts';
import { freshSchema, pgTestOptions, pgUrl } from '../support/postgres.ts';

async function addGrant(store: Store, expiresAt: number): Promise<string> {
  const familyId = randomId();
  await store.createGrant(
    { familyId, clientId: 'c', subject: 's', scope: 'a', resources: [], authTime: 1, createdAt: 1, expiresAt },
    { tokenHash: sha256(randomHandle('rg_rt_')), expiresAt },
  );
  return familyId;
}

const pgOptions = await pgTestOptions();

describe('startPurgeLoop', () => {
  it('purges a SQLite store in batches, keeping what is live', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rg-purge-'));
    const store = await openSqliteStore(join(dir, 'p.db'));
    try {
      assert.equal(store.capabilities.purgesInBackground, false);
      const now = Math.floor(Date.now() / 1000);
      const expired = await Promise.all(Array.from({ length: 12 }, () => addGrant(store, now - 10)));
      const live = await addGrant(store, now + 3600);
      await store.consumeOnce('client_assertion:c', 'old', now - 5);
      const stop = startPurgeLoop(store, { intervalMs: 20, batch: 5 });
      for (let i = 0; i < 100 && (await store.getGrant(expired[11])) !== undefined; i++) await new Promise((r) => setTimeout(r, 20));
      await stop();
      for (const familyId of expired) assert.equal(await store.getGrant(familyId), undefined);
      assert.ok(await store.getGrant(live), 'a live grant stays');
      // The spent key was purged, so the same jti is accepted again (it had expired anyway).
      assert.equal(await store.consumeOnce('client_assertion:c', 'old', now + 60), true);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('leaves a store that purges in the background alone (PostgreSQL, its own timer)', pgOptions, async () => {
    const { schema, drop } = await freshSchema();
    const store = await openPostgresStore(pgUrl, { schema, purgeIntervalMs: 60_000 });
    try {
      assert.equal(store.capabilities.purgesInBackground, true);
      const now = Math.floor(Date.now() / 1000);
      const expired = await addGrant(store, now - 10);
      const stop = startPurgeLoop(store, { intervalMs: 5 });
      await new Promise((r) => setTimeout(r, 60));
      await stop();
      assert.ok(await store.getGrant(expired), 'the loop did not purge: the store does it on its own schedule');
    } finally {
      await store.close();
      await drop();
    }
  });
});
