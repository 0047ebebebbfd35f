/**
 * The PostgreSQL store's group commit keeps the Store contract: concurrent refreshes share one
 * transaction (one WAL flush), each is still atomic and isolated (calls on one family see each
 * other's writes in order), each is answered only after the COMMIT, and the failure of one
 * never fails the others.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import type { RefreshDecision, RefreshSnapshot } from '../../src/core/store.ts';
import { openPostgresStore, type PostgresStore, type PostgresStoreOptions } from '../../src/stores/postgres-store.ts';
import { adminQuery, freshSchema, pgTestOptions, pgUrl, seedFamily } from '../support/postgres.ts';

const pgOptions = await pgTestOptions();
const now = () => Math.floor(Date.now() / 1000);
const hash = () => randomBytes(32).toString('base64url');

function rotate(successor = hash()) {
  return (s: RefreshSnapshot | undefined): RefreshDecision =>
    s?.token.state === 'active'
      ? { action: 'rotate', successor: { tokenHash: successor, expiresAt: now() + 600 }, successorSealed: 'sealed' }
      : { action: 'replay' };
}

describe('PostgresStore group commit', pgOptions, () => {
  let schema: string;
  let drop: () => Promise<void>;
  const stores: PostgresStore[] = [];

  before(async () => {
    ({ schema, drop } = await freshSchema());
  });
  after(async () => {
    await Promise.all(stores.map((store) => store.close()));
    await drop?.();
  });

  async function open(options: PostgresStoreOptions = {}) {
    const store = await openPostgresStore(pgUrl, { schema, purgeIntervalMs: 0, ...options });
    stores.push(store);
    return store;
  }

  /** The id of the transaction that inserted each of these refresh tokens. */
  async function insertedBy(hashes: string[]): Promise<Set<string>> {
    const rows = await adminQuery<{ xmin: string }>(
      `SELECT xmin::text AS xmin FROM "${schema}".refresh_tokens WHERE token_hash = ANY($1)`,
      [hashes],
    );
    assert.equal(rows.length, hashes.length);
    return new Set(rows.map((row) => row.xmin));
  }

  test('refreshes of one turn share one transaction; with maxBatch 1 each has its own', async () => {
    for (const [maxBatch, transactions] of [[256, 1], [1, 20]] as const) {
      const store = await open({ maxBatch, maxBatchesInFlight: 1 });
      const families = await Promise.all(Array.from({ length: 20 }, () => seedFamily(store)));
      const successors = families.map(() => hash());
      const uses = await Promise.all(families.map((f, i) => store.useRefreshToken(f.tokenHash, rotate(successors[i]))));
      assert.ok(uses.every((use) => use.decision.action === 'rotate'));
      assert.equal((await insertedBy(successors)).size, transactions, `maxBatch ${maxBatch}`);
    }
  });

  test('a call is answered only after the COMMIT, and its writes are invisible before it', async () => {
    const application = `rg_gc_${randomBytes(4).toString('hex')}`;
    const url = new URL(pgUrl);
    url.searchParams.set('application_name', application);
    const store = await openPostgresStore(url.href, { schema, purgeIntervalMs: 0 });
    stores.push(store);
    const blocked = await seedFamily(store);
    const other = await seedFamily(store);
    const holder = new pg.Client({ connectionString: pgUrl });
    await holder.connect();
    try {
      // Another session holds one token's row: the batch that includes it waits in PostgreSQL.
      await holder.query('BEGIN');
      await holder.query(`SELECT 1 FROM "${schema}".refresh_tokens WHERE token_hash = $1 FOR UPDATE`, [blocked.tokenHash]);
      const successor = hash();
      let settled = false;
      const uses = Promise.all([
        store.useRefreshToken(other.tokenHash, rotate(successor)),
        store.useRefreshToken(blocked.tokenHash, rotate()),
      ]).finally(() => (settled = true));
      for (;;) {
        const waiting = await adminQuery(
          "SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
          [application],
        );
        if (waiting.length > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      // The other call's rotation is decided and written, but not committed: not answered, not visible.
      assert.equal(settled, false);
      assert.deepEqual(await adminQuery(`SELECT 1 FROM "${schema}".refresh_tokens WHERE token_hash = $1`, [successor]), []);
      await holder.query('ROLLBACK');
      const [first, second] = await uses;
      assert.equal(first.decision.action, 'rotate');
      assert.equal(second.decision.action, 'rotate');
      assert.equal((await adminQuery(`SELECT 1 FROM "${schema}".refresh_tokens WHERE token_hash = $1`, [successor])).length, 1);
    } finally {
      await holder.end();
    }
  });

  test('a failure of one never fails the others: a throwing decide, a successor that cannot be inserted, a token no longer active', async () => {
    const store = await open();
    const fine = await Promise.all(Array.from({ length: 5 }, () => seedFamily(store)));
    const throwing = await seedFamily(store);
    const colliding = await seedFamily(store);
    const taken = (await seedFamily(store)).tokenHash;
    const spent = await seedFamily(store);
    await store.useRefreshToken(spent.tokenHash, rotate());
    const successors = fine.map(() => hash());
    const boom = new Error('decide failed');
    const results = await Promise.allSettled([
      ...fine.slice(0, 2).map((f, i) => store.useRefreshToken(f.tokenHash, rotate(successors[i]))),
      store.useRefreshToken(throwing.tokenHash, () => {
        throw boom;
      }),
      // Its successor's hash is another family's token: the insert violates the primary key.
      store.useRefreshToken(colliding.tokenHash, rotate(taken)),
      // Rotated already, yet decided "rotate" again: must change nothing.
      store.useRefreshToken(spent.tokenHash, () => ({ action: 'rotate', successor: { tokenHash: hash(), expiresAt: now() + 60 }, successorSealed: 's' })),
      ...fine.slice(2).map((f, i) => store.useRefreshToken(f.tokenHash, rotate(successors[i + 2]))),
    ]);
    const statuses = results.map((r) => r.status);
    assert.deepEqual(statuses, ['fulfilled', 'fulfilled', 'rejected', 'rejected', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled']);
    assert.equal((results[2] as PromiseRejectedResult).reason, boom);
    // Every healthy call rotated, and only they.
    for (const [i, f] of fine.entries()) {
      const parent = await store.findRefreshToken(f.tokenHash);
      assert.equal(parent?.token.state, 'rotated');
      assert.equal(parent?.successor?.tokenHash, successors[i]);
    }
    assert.equal((await store.findRefreshToken(throwing.tokenHash))?.token.state, 'active');
    assert.equal((await store.findRefreshToken(colliding.tokenHash))?.token.state, 'active');
    assert.equal((await store.findRefreshToken(taken))?.token.generation, 1);
    const spentNow = await store.findRefreshToken(spent.tokenHash);
    assert.equal(spentNow?.successor?.generation, 2);
    assert.equal(spentNow?.successor?.state, 'active');
  });

  test('calls on one family in one batch are applied in order, each seeing the writes of the one before', async () => {
    const store = await open();
    const { grant, tokenHash: first } = await seedFamily(store);
    const second = hash();
    await store.useRefreshToken(first, rotate(second));
    // In one turn: the holder of the newest token rotates it; the oldest token comes back
    // (reuse, outside any retry window here); then the newest again.
    const seen: Array<RefreshSnapshot | undefined> = [];
    const record = (decide: (s: RefreshSnapshot | undefined) => RefreshDecision) => (s: RefreshSnapshot | undefined) => {
      seen.push(structuredClone(s));
      return decide(s);
    };
    const third = hash();
    const [rotated, reused, afterwards] = await Promise.all([
      store.useRefreshToken(second, record(rotate(third))),
      store.useRefreshToken(first, record((s) => ({ action: 'reject', reason: 'reuse', revokeFamily: s?.successor?.state === 'rotated' }))),
      store.useRefreshToken(second, record((s) => (s?.grant.revokedAt !== undefined ? { action: 'reject', reason: 'revoked' } : rotate()(s)))),
    ]);
    assert.equal(rotated.decision.action, 'rotate');
    // The reuse saw the rotation just made in the same transaction, and revoked the family.
    assert.equal(reused.snapshot?.successor?.state, 'rotated');
    assert.deepEqual(reused.decision, { action: 'reject', reason: 'reuse', revokeFamily: true });
    // The last call saw both: its token rotated and the family revoked.
    assert.equal(afterwards.snapshot?.token.state, 'rotated');
    assert.equal(afterwards.snapshot?.grant.revokedReason, 'reuse');
    assert.deepEqual(afterwards.decision, { action: 'reject', reason: 'revoked' });
    assert.equal(seen.length, 3);
    assert.equal((await store.getGrant(grant.familyId))?.revokedReason, 'reuse');
    assert.equal((await insertedBy([third])).size, 1);
  });

  test('a flood of one token beside other refreshes: every call answered, the others rotate, one token rotates once', async () => {
    const store = await open({ maxBatchesInFlight: 1 });
    const others = await Promise.all(Array.from({ length: 5 }, () => seedFamily(store)));
    const flooded = await seedFamily(store);
    const unknown = hash();
    const uses = await Promise.all([
      ...Array.from({ length: 300 }, () => store.useRefreshToken(unknown, (s) => (s ? rotate()(s) : { action: 'reject', reason: 'unknown' }))),
      ...Array.from({ length: 30 }, () => store.useRefreshToken(flooded.tokenHash, rotate())),
      ...others.map((f) => store.useRefreshToken(f.tokenHash, rotate())),
    ]);
    assert.ok(uses.slice(0, 300).every((use) => use.snapshot === undefined && use.decision.action === 'reject'));
    const floodedUses = uses.slice(300, 330);
    assert.equal(floodedUses.filter((use) => use.decision.action === 'rotate').length, 1);
    assert.equal(floodedUses.filter((use) => use.decision.action === 'replay').length, 29);
    assert.ok(uses.slice(330).every((use) => use.decision.action === 'rotate'));
  });

  test('close() commits what is queued before the pool goes', async () => {
    const store = await openPostgresStore(pgUrl, { schema, purgeIntervalMs: 0 });
    const { tokenHash } = await seedFamily(store);
    const successor = hash();
    const use = store.useRefreshToken(tokenHash, rotate(successor));
    await store.close();
    assert.equal((await use).decision.action, 'rotate');
    assert.equal((await adminQuery(`SELECT 1 FROM "${schema}".refresh_tokens WHERE token_hash = $1`, [successor])).length, 1);
  });
});
