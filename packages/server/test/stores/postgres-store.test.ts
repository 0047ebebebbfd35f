/**
 * The PostgreSQL store: the shared conformance suite, plus what only a shared database can
 * show — concurrent migrations, rotation and single use racing across pools (as across
 * servers), serialization failures retried, and the background purge.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { RefreshDecision, RefreshSnapshot, RefreshUse, Store } from '../../src/core/store.ts';
import type { GrantRecord } from '../../src/core/types.ts';
import { migrations, migrationsTable } from '../../src/stores/postgres-schema.ts';
import { openPostgresStore } from '../../src/stores/postgres-store.ts';
import type { PostgresStore } from '../../src/stores/postgres-store.ts';
import { adminQuery, freshSchema, pgTestOptions, pgUrl, randomSchemaName } from '../support/postgres.ts';
import { runStoreConformance } from './conformance/index.ts';

const pgOptions = await pgTestOptions();
const now = () => Math.floor(Date.now() / 1000);
const hash = () => randomBytes(32).toString('base64url');

if (pgOptions.skip) {
  test('postgres store', pgOptions, () => {});
} else {
  runStoreConformance('postgres', async () => {
    // A fresh schema per harness; every handle is its own pool, like another server.
    const { schema, drop } = await freshSchema();
    const handles: Store[] = [];
    const openHandle = async () => {
      const store = await openPostgresStore(pgUrl, { schema, purgeIntervalMs: 0 });
      handles.push(store);
      return store;
    };
    return {
      store: await openHandle(),
      reopen: openHandle,
      async cleanup() {
        await Promise.all(handles.map((store) => store.close()));
        await drop();
      },
    };
  });
}

/** A grant with its first token; returns the token's hash. */
async function seedGrant(store: Store, overrides: Partial<GrantRecord> = {}): Promise<{ grant: GrantRecord; tokenHash: string }> {
  const t = now();
  const grant: GrantRecord = {
    familyId: randomBytes(16).toString('base64url'),
    clientId: 'app',
    subject: 'alice',
    scope: 'openid offline_access',
    resources: [],
    authTime: t,
    createdAt: t,
    expiresAt: t + 3600,
    ...overrides,
  };
  const tokenHash = hash();
  await store.createGrant(grant, { tokenHash, expiresAt: Math.min(grant.expiresAt, t + 600) });
  return { grant, tokenHash };
}

/** The core's rule in miniature: rotate an active token, replay a rotated one. */
function rotateOrReplay(snapshot: RefreshSnapshot | undefined): RefreshDecision {
  if (!snapshot) return { action: 'reject', reason: 'unknown' };
  if (snapshot.token.state === 'active') {
    return { action: 'rotate', successor: { tokenHash: hash(), expiresAt: now() + 600 }, successorSealed: 'sealed' };
  }
  return { action: 'replay' };
}

/** Asserts that exactly one of `uses` rotated and that every later caller saw that rotation. */
function assertOneRotation(uses: RefreshUse[]): void {
  const rotations = uses.filter((use) => use.decision.action === 'rotate');
  assert.equal(rotations.length, 1);
  const rotation = rotations[0].decision as Extract<RefreshDecision, { action: 'rotate' }>;
  for (const use of uses) {
    if (use.decision.action === 'rotate') continue;
    assert.equal(use.decision.action, 'replay');
    assert.equal(use.snapshot?.token.state, 'rotated');
    assert.equal(use.snapshot?.token.successorHash, rotation.successor.tokenHash);
    assert.equal(use.snapshot?.successor?.tokenHash, rotation.successor.tokenHash);
    assert.equal(use.snapshot?.successor?.generation, 2);
  }
}

describe('postgres store specifics', pgOptions, () => {
  let schema: string;
  let drop: () => Promise<void>;
  const stores: PostgresStore[] = [];
  const open = async (options: Parameters<typeof openPostgresStore>[1] = {}) => {
    const store = await openPostgresStore(pgUrl, { schema, purgeIntervalMs: 0, ...options });
    stores.push(store);
    return store;
  };

  before(async () => {
    ({ schema, drop } = await freshSchema());
  });
  after(async () => {
    await Promise.all(stores.map((store) => store.close()));
    await drop?.();
  });

  test('5 instances migrating a fresh schema together all succeed, each migration applied once', async () => {
    const fresh = randomSchemaName();
    try {
      const opened = await Promise.all(
        Array.from({ length: 5 }, () => openPostgresStore(pgUrl, { schema: fresh, purgeIntervalMs: 0 })),
      );
      await Promise.all(opened.map((store) => store.close()));
      const rows = await adminQuery<{ version: number }>(
        `SELECT version FROM "${fresh}".${migrationsTable} ORDER BY version`,
      );
      assert.deepEqual(
        rows.map((row) => row.version),
        migrations.map((migration) => migration.version),
      );
    } finally {
      await adminQuery(`DROP SCHEMA IF EXISTS "${fresh}" CASCADE`);
    }
  });

  test('200 concurrent uses of one token over 10 connections: exactly one rotation, no errors', async () => {
    const store = await open({ poolSize: 10 });
    const { tokenHash, grant } = await seedGrant(store);
    const uses = await Promise.all(Array.from({ length: 200 }, () => store.useRefreshToken(tokenHash, rotateOrReplay)));
    assertOneRotation(uses);
    const tokens = await adminQuery<{ generation: number }>(
      `SELECT generation FROM "${schema}".refresh_tokens WHERE family_id = $1 ORDER BY generation`,
      [grant.familyId],
    );
    assert.deepEqual(tokens.map((row) => row.generation), [1, 2]);
  });

  test('two instances (separate pools, like two servers) racing on one token: exactly one rotation', async () => {
    const [a, b] = [await open({ poolSize: 4 }), await open({ poolSize: 4 })];
    const { tokenHash } = await seedGrant(a);
    const uses = await Promise.all(
      Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).useRefreshToken(tokenHash, rotateOrReplay)),
    );
    assertOneRotation(uses);
  });

  test('serialization failures are retried, never surfaced (SERIALIZABLE sessions)', async () => {
    // Under SERIALIZABLE, waiting on a row another transaction updates fails with 40001.
    const url = new URL(pgUrl);
    url.searchParams.set('options', '-c default_transaction_isolation=serializable');
    const store = await openPostgresStore(url.href, { schema, purgeIntervalMs: 0, poolSize: 5 });
    stores.push(store);
    const { tokenHash } = await seedGrant(store);
    const uses = await Promise.all(Array.from({ length: 10 }, () => store.useRefreshToken(tokenHash, rotateOrReplay)));
    assertOneRotation(uses);
  });

  test('a throwing decide rolls back and rethrows; the token is unchanged', async () => {
    const store = await open();
    const { tokenHash } = await seedGrant(store);
    await assert.rejects(
      store.useRefreshToken(tokenHash, () => {
        throw new Error('core bug');
      }),
      /core bug/,
    );
    const snapshot = await store.findRefreshToken(tokenHash);
    assert.equal(snapshot?.token.state, 'active');
    // The connection went back to the pool clean: the next use works.
    const use = await store.useRefreshToken(tokenHash, rotateOrReplay);
    assert.equal(use.decision.action, 'rotate');
  });

  test('consumeOnce racing across two instances: exactly one true', async () => {
    const [a, b] = [await open({ poolSize: 5 }), await open({ poolSize: 5 })];
    const key = hash();
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).consumeOnce('dpop', key, now() + 60)),
    );
    assert.equal(results.filter(Boolean).length, 1);
  });

  test('an authorization code redeemed through two instances at once: exactly one grant, the family revoked', async () => {
    const [a, b] = [await open({ poolSize: 5 }), await open({ poolSize: 5 })];
    const t = now();
    const familyId = randomBytes(16).toString('base64url');
    const codeHash = hash();
    await a.saveAuthorizationCode({
      codeHash, clientId: 'app', redirectUri: 'https://app.example/cb', codeChallenge: hash(), subject: 'alice',
      scope: 'openid', resources: [], authTime: t, familyId, createdAt: t, expiresAt: t + 60,
    });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => {
        const grant: GrantRecord = { familyId, clientId: 'app', subject: 'alice', scope: 'openid', resources: [], authTime: t, createdAt: t, expiresAt: t + 3600 };
        return (i % 2 ? a : b).redeemAuthorizationCode(codeHash, { grant, firstToken: { tokenHash: hash(), expiresAt: t + 600 }, now: t });
      }),
    );
    assert.equal(results.filter((r) => r === 'redeemed').length, 1);
    assert.equal(results.filter((r) => r === 'replayed').length, 19);
    const rows = await adminQuery<{ n: number }>(`SELECT count(*)::int AS n FROM "${schema}".refresh_tokens WHERE family_id = $1`, [familyId]);
    assert.equal(rows[0].n, 1);
    assert.equal((await b.getGrant(familyId))?.revokedReason, 'code_replay');
  });

  test('a pushed request taken through two instances at once: exactly one gets it', async () => {
    const [a, b] = [await open({ poolSize: 5 }), await open({ poolSize: 5 })];
    const key = hash();
    await a.savePushedAuthorizationRequest({ key, request: { clientId: 'app', redirectUri: 'https://app.example/cb', scope: '', resources: [], codeChallenge: hash(), prompt: [] }, expiresAt: now() + 60 });
    const taken = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).takePushedAuthorizationRequest(key, now())));
    assert.equal(taken.filter(Boolean).length, 1);
  });

  test('purgeExpired deletes at most `limit` rows across kinds and keeps live rows', async () => {
    const store = await open();
    const t = now();
    const expired = await seedGrant(store, { createdAt: t - 7200, authTime: t - 7200, expiresAt: t - 10 });
    const live = await seedGrant(store);
    for (let i = 0; i < 4; i++) await store.consumeOnce('jti', `old-${i}`, t - 10);
    await store.consumeOnce('jti', 'fresh', t + 600);
    // 1 token + 1 grant + 4 keys = 6 expired rows.
    const counts: number[] = [];
    for (let n = await store.purgeExpired(t, 4); ; n = await store.purgeExpired(t, 4)) {
      counts.push(n);
      if (n < 4) break;
    }
    assert.deepEqual(counts, [4, 2]);
    assert.equal(await store.getGrant(expired.grant.familyId), undefined);
    assert.equal(await store.findRefreshToken(expired.tokenHash), undefined);
    assert.ok(await store.findRefreshToken(live.tokenHash));
    assert.equal(await store.consumeOnce('jti', 'fresh', t + 600), false);
    assert.equal(await store.consumeOnce('jti', 'old-0', t + 600), true, 'a purged key is usable again');
  });

  test('background purge deletes expired rows in batches and leaves live ones', { timeout: 15_000 }, async () => {
    const { schema: own, drop: dropOwn } = await freshSchema();
    try {
      const seeder = await openPostgresStore(pgUrl, { schema: own, purgeIntervalMs: 0 });
      const t = now();
      for (let i = 0; i < 23; i++) await seeder.consumeOnce('jti', `old-${i}`, t - 10);
      await seeder.consumeOnce('jti', 'fresh', t + 600);
      const expired = await seedGrant(seeder, { createdAt: t - 7200, authTime: t - 7200, expiresAt: t - 10 });
      const live = await seedGrant(seeder);
      await seeder.close();

      // A batch of 5 needs several batches (25 expired rows) within one pass.
      const store = await openPostgresStore(pgUrl, { schema: own, purgeIntervalMs: 20, purgeBatch: 5 });
      try {
        const remaining = async () =>
          (await adminQuery<{ n: number }>(`SELECT count(*)::int AS n FROM "${own}".spent WHERE expires_at < $1`, [t]))[0].n +
          (await adminQuery<{ n: number }>(`SELECT count(*)::int AS n FROM "${own}".grants WHERE expires_at < $1`, [t]))[0].n;
        while ((await remaining()) > 0) await new Promise((resolve) => setTimeout(resolve, 20));
        assert.equal(await store.getGrant(expired.grant.familyId), undefined);
        assert.ok(await store.getGrant(live.grant.familyId));
        assert.ok(await store.findRefreshToken(live.tokenHash));
        assert.equal(await store.consumeOnce('jti', 'fresh', t + 600), false);
      } finally {
        await store.close();
      }
    } finally {
      await dropOwn();
    }
  });

  test('close() is idempotent and stops the purge timer', async () => {
    const store = await openPostgresStore(pgUrl, { schema, purgeIntervalMs: 10 });
    await store.close();
    await store.close();
  });
});
