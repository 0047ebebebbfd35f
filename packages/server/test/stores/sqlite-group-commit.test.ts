/**
 * The SQLite store's performance machinery keeps the Store contract: group commit (concurrent
 * refreshes share one transaction, each still atomic and isolated, answered only after the
 * COMMIT), the write lock asked for without blocking the event loop, and the client cache
 * that another connection's change invalidates at once.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { randomHandle, randomId, sha256, tokenPrefixes } from '../../src/core/crypto.ts';
import type { RefreshDecision, RefreshSnapshot } from '../../src/core/store.ts';
import { clientDefaults, type ClientRecord, type GrantRecord } from '../../src/core/types.ts';
import { openSqliteStore, type SqliteStore } from '../../src/stores/sqlite-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'refresh-grant-group-commit-'));
const stores: SqliteStore[] = [];
after(async () => {
  for (const store of stores) await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const now = (): number => Math.floor(Date.now() / 1000);

async function open(path = join(dir, `${randomId()}.db`)): Promise<{ store: SqliteStore; path: string }> {
  const store = await openSqliteStore(path);
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
    const { store, path } = await open();
    const hash = await family(store);
    const holder = new DatabaseSync(path);
    holder.exec('BEGIN IMMEDIATE');
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 5);
    try {
      const use = store.useRefreshToken(hash, rotate());
      await new Promise((resolve) => setTimeout(resolve, 100));
      // The event loop ran meanwhile, and nothing was committed.
      assert.ok(ticks >= 5, `the event loop was blocked (${ticks} ticks)`);
      assert.equal((await store.findRefreshToken(hash))?.token.state, 'active');
      holder.exec('COMMIT');
      assert.equal((await use).decision.action, 'rotate');
    } finally {
      clearInterval(ticker);
      if (holder.isTransaction) holder.exec('ROLLBACK');
      holder.close();
    }
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
