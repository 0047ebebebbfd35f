/**
 * The SQLite store's performance machinery keeps the Store contract: group commit (concurrent
 * refreshes share one transaction, each still atomic and isolated, answered only after the
 * COMMIT, one batch per turn of the event loop), the write lock asked for without blocking the
 * event loop (and given up on as StoreUnavailableError after the busy timeout), and the client
 * cache that another connection's change invalidates at once.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { randomHandle, randomId, sha256, tokenPrefixes } from '../../src/core/crypto.ts';
import { StoreUnavailableError, type RefreshDecision, type RefreshSnapshot } from '../../src/core/store.ts';
import { clientDefaults, type ClientRecord, type GrantRecord } from '../../src/core/types.ts';
import { openSqliteStore, type SqliteStore, type SqliteStoreOptions } from '../../src/stores/sqlite-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'refresh-grant-group-commit-'));
const stores: SqliteStore[] = [];
after(async () => {
  for (const store of stores) await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const now = (): number => Math.floor(Date.now() / 1000);

async function open(path = join(dir, `${randomId()}.db`), options: SqliteStoreOptions = {}): Promise<{ store: SqliteStore; path: string }> {
  const store = await openSqliteStore(path, options);
  stores.push(store);
  return { store, path };
}

function grant(): GrantRecord {
  return {
    familyId: randomId(), clientId: 'app', subject: 'alice', scope: 'openid', resources: [], authTime: now(),
    createdAt: now(), expiresAt: now() + 86_400,
  };
}

/** A family with one active token; returns the token's hash. */
async function family(store: SqliteStore): Promise<string> {
  const tokenHash = sha256(randomHandle(tokenPrefixes.refreshToken));
  await store.createGrant(grant(), { tokenHash, expiresAt: now() + 3600 });
  return tokenHash;
}

function rotate(successorHash = sha256(randomHandle(tokenPrefixes.refreshToken))) {
  return (s: RefreshSnapshot | undefined): RefreshDecision =>
    s?.token.state === 'active'
      ? { action: 'rotate', successor: { tokenHash: successorHash, expiresAt: now() + 3600 }, successorSealed: 'sealed' }
      : { action: 'replay' };
}

describe('SqliteStore group commit', () => {
  it('of 20 concurrent uses of one token, exactly one rotates; the others see it rotated', async () => {
    const { store } = await open();
    const hash = await family(store);
    const uses = await Promise.all(Array.from({ length: 20 }, () => store.useRefreshToken(hash, rotate())));
    assert.equal(uses.filter((u) => u.decision.action === 'rotate').length, 1);
    assert.equal(uses.filter((u) => u.decision.action === 'replay').length, 19);
    const winner = uses.find((u) => u.decision.action === 'rotate')!.decision as Extract<RefreshDecision, { action: 'rotate' }>;
    for (const u of uses.filter((x) => x.decision.action === 'replay')) {
      assert.equal(u.snapshot?.token.successorHash, winner.successor.tokenHash);
    }
  });

  it('a decision that throws fails only its own call', async () => {
    const { store } = await open();
    const [a, b, c] = [await family(store), await family(store), await family(store)];
    const results = await Promise.allSettled([
      store.useRefreshToken(a, rotate()),
      store.useRefreshToken(b, () => {
        throw new Error('refused by the core');
      }),
      store.useRefreshToken(c, rotate()),
    ]);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
    assert.equal((await store.findRefreshToken(a))?.token.state, 'rotated');
    assert.equal((await store.findRefreshToken(b))?.token.state, 'active');
    assert.equal((await store.findRefreshToken(c))?.token.state, 'rotated');
  });

  it('a rotation whose successor cannot be inserted is undone alone (its parent stays active)', async () => {
    const { store } = await open();
    const [a, b, c] = [await family(store), await family(store), await family(store)];
    // b's successor hash is a's token hash: the INSERT fails after b's UPDATE succeeded.
    const results = await Promise.allSettled([
      store.useRefreshToken(a, rotate()),
      store.useRefreshToken(b, rotate(a)),
      store.useRefreshToken(c, rotate()),
    ]);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
    const parent = await store.findRefreshToken(b);
    assert.equal(parent?.token.state, 'active');
    assert.equal(parent?.token.successorHash, undefined);
    assert.equal((await store.findRefreshToken(c))?.token.state, 'rotated');
  });

  it('a refresh is answered only after its COMMIT: another connection already sees it', async () => {
    const { store, path } = await open();
    const other = new DatabaseSync(path);
    try {
      const hashes = await Promise.all(Array.from({ length: 10 }, () => family(store)));
      await Promise.all(
        hashes.map(async (hash) => {
          await store.useRefreshToken(hash, rotate());
          const row = other.prepare('SELECT state FROM refresh_tokens WHERE token_hash = ?').get(hash) as { state: string };
          assert.equal(row.state, 'rotated');
        }),
      );
    } finally {
      other.close();
    }
  });

  it('opaque access tokens are group-committed with the refreshes', async () => {
    const { store } = await open();
    const hash = await family(store);
    const saves = Array.from({ length: 5 }, () => {
      const tokenHash = sha256(randomHandle(tokenPrefixes.accessToken));
      return store
        .saveOpaqueAccessToken({ tokenHash, jti: randomId(), familyId: 'f', clientId: 'app', subject: 'alice', scope: 'openid', audience: ['https://api'], issuedAt: now(), expiresAt: now() + 60 })
        .then(() => tokenHash);
    });
    const [use, ...saved] = await Promise.all([store.useRefreshToken(hash, rotate()), ...saves]);
    assert.equal(use.decision.action, 'rotate');
    for (const tokenHash of saved) assert.equal((await store.findOpaqueAccessToken(tokenHash))?.subject, 'alice');
  });

  it('waits for another process\'s write lock without blocking the event loop', async () => {
    // Order, not time: the holder only lets go from a callback of this event loop. A store that
    // blocked the loop (SQLite's own busy wait) would hold it until its busy timeout ran out and
    // fail; this one keeps the loop turning, so the callback runs, and then the use commits.
    const { store, path } = await open(join(dir, `${randomId()}.db`), { busyTimeoutMs: 60_000 });
    const hash = await family(store);
    const holder = new DatabaseSync(path);
    holder.exec('BEGIN IMMEDIATE');
    try {
      let settled = false;
      const use = store.useRefreshToken(hash, rotate()).finally(() => (settled = true));
      // Several turns of the event loop: the group commit has asked for the lock and was refused.
      for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setTimeout(resolve, 0));
      assert.equal(settled, false, 'the use waits for the lock');
      assert.equal((await store.findRefreshToken(hash))?.token.state, 'active', 'nothing was committed meanwhile');
      holder.exec('COMMIT');
      assert.equal((await use).decision.action, 'rotate');
      assert.equal((await store.findRefreshToken(hash))?.token.state, 'rotated');
    } finally {
      if (holder.isTransaction) holder.exec('ROLLBACK');
      holder.close();
    }
  });

  it('a lock held elsewhere beyond the busy timeout is StoreUnavailableError (503), with nothing written', async () => {
    const { store, path } = await open(join(dir, `${randomId()}.db`), { busyTimeoutMs: 50 });
    const hash = await family(store);
    const holder = new DatabaseSync(path);
    holder.exec('BEGIN IMMEDIATE');
    try {
      const results = await Promise.allSettled([store.useRefreshToken(hash, rotate()), store.consumeOnce('ns', randomId(), now() + 60), store.revokeGrant('nope', 'admin', now())]);
      for (const result of results) {
        assert.equal(result.status, 'rejected');
        assert.ok(result.reason instanceof StoreUnavailableError, String(result.reason));
        assert.equal(result.reason.retryAfter, 1);
      }
      await assert.rejects(store.createGrant(grant(), { tokenHash: sha256(randomId()), expiresAt: now() + 60 }), StoreUnavailableError);
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }
    assert.equal((await store.findRefreshToken(hash))?.token.state, 'active');
    assert.equal((await store.useRefreshToken(hash, rotate())).decision.action, 'rotate', 'and works again once the lock is free');
  });

  it('commits at most one batch per turn of the event loop, so other callbacks run between batches', async () => {
    // Finding 2 of issue 11: the whole queue was committed in one turn, however long it was.
    const { store } = await open();
    const hashes: string[] = [];
    for (let i = 0; i < 3 * 256; i++) hashes.push(await family(store));
    let otherCallbackRan = false;
    let committedBefore = 0;
    const uses = hashes.map((hash) => store.useRefreshToken(hash, rotate()).then((use) => {
      if (!otherCallbackRan) committedBefore++;
      return use;
    }));
    // Queued after the store's own flush callback: it runs after the first batch, not after all.
    setImmediate(() => (otherCallbackRan = true));
    const done = await Promise.all(uses);
    assert.equal(done.filter((u) => u.decision.action === 'rotate').length, 3 * 256);
    assert.equal(committedBefore, 256);
  });

  it('commits a full batch (64 waiting) at once, without waiting for the end of a turn that may last long', async () => {
    // Under overload one turn of the event loop read sockets for up to a second; a commit left
    // for setImmediate held every admitted request meanwhile, and all others were refused.
    const { store } = await open();
    const hashes: string[] = [];
    for (let i = 0; i < 64 + 63; i++) hashes.push(await family(store));
    const committedBeforeTurnEnd = async (count: number, from: number) => {
      let turnEnded = false;
      // Queued before the store's own end-of-turn callback.
      setImmediate(() => (turnEnded = true));
      const settled = await Promise.all(hashes.slice(from, from + count).map((hash) => store.useRefreshToken(hash, rotate()).then(() => turnEnded)));
      assert.equal(settled.filter((ended) => ended).length, settled.length === 64 ? 0 : settled.length);
    };
    await committedBeforeTurnEnd(64, 0);
    // Fewer wait for the end of the turn, as before: every request that arrived with them joins.
    await committedBeforeTurnEnd(63, 64);
  });

  it('sees a client changed or removed by another connection from the next turn of the event loop', async () => {
    const { store: a, path } = await open();
    const { store: b } = await open(path);
    const client: ClientRecord = { clientId: 'app', authMethod: 'client_secret_basic', secretHash: 'h1', scope: '', resources: [], ...clientDefaults, createdAt: 1 };
    // A request arrives in a later turn than the change it must see (the CLI, another process).
    const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
    assert.equal(await a.getClient('app'), undefined);
    await b.saveClient(client);
    await nextTurn();
    assert.equal((await a.getClient('app'))?.secretHash, 'h1');
    await b.saveClient({ ...client, secretHash: 'h2' });
    await nextTurn();
    assert.equal((await a.getClient('app'))?.secretHash, 'h2');
    await b.deleteClient('app', now());
    await nextTurn();
    assert.equal(await a.getClient('app'), undefined);
    // And its own writes.
    await a.saveClient({ ...client, secretHash: 'h3' });
    assert.equal((await a.getClient('app'))?.secretHash, 'h3');
    await a.deleteClient('app', now());
    assert.equal(await a.getClient('app'), undefined);
  });
});
