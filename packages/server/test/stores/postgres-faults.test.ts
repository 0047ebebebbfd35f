/**
 * The PostgreSQL store under database faults: a backend terminated in the middle of a refresh,
 * idle connections terminated, the database unreachable, a pool that cannot connect in time, a
 * COMMIT whose answer is lost. Each time: the caller gets a StoreUnavailableError (never a
 * plain error that would become a 500, never a hang), nothing is applied that was not
 * committed, the process lives on, and the store recovers by itself.
 *
 * Backends are terminated by `application_name`, unique to each store here, so that no other
 * test's (or engineer's) connection is ever touched. Outages are made with a TCP proxy
 * (`support/tcp-proxy.ts`) between the store and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { StoreUnavailableError, type RefreshDecision, type RefreshSnapshot } from '../../src/core/store.ts';
import { openPostgresStore, type PostgresStore, type PostgresStoreOptions } from '../../src/stores/postgres-store.ts';
import { adminQuery, freshSchema, pgTestOptions, pgUrl, seedFamily } from '../support/postgres.ts';
import { startTcpProxy, throughProxy, type TcpProxy } from '../support/tcp-proxy.ts';

const pgOptions = await pgTestOptions();
const now = () => Math.floor(Date.now() / 1000);
const hash = () => randomBytes(32).toString('base64url');
const tick = () => new Promise((resolve) => setTimeout(resolve, 10));

/** The core's rule in miniature: rotate an active token to `successor`, replay a rotated one. */
function rotateOrReplay(successor = hash()) {
  return (snapshot: RefreshSnapshot | undefined): RefreshDecision => {
    if (!snapshot) return { action: 'reject', reason: 'unknown' };
    if (snapshot.token.state === 'active') {
      return { action: 'rotate', successor: { tokenHash: successor, expiresAt: now() + 600 }, successorSealed: 'sealed' };
    }
    return { action: 'replay' };
  };
}

/** Where the proxy forwards to: the test database's server. */
function pgTarget(): { host: string; port: number } {
  const url = new URL(pgUrl);
  return { host: url.hostname, port: Number(url.port || 5432) };
}

/** Backend pids of one application_name. */
async function backends(application: string): Promise<number[]> {
  const rows = await adminQuery<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [application]);
  return rows.map((row) => row.pid);
}

/** Terminates the backends of one application_name (only ever this test's own store). */
async function terminate(application: string): Promise<number> {
  const rows = await adminQuery<{ ok: boolean }>(
    'SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1',
    [application],
  );
  return rows.filter((row) => row.ok).length;
}

describe('postgres store under database faults', pgOptions, () => {
  let schema: string;
  let drop: () => Promise<void>;
  const stores: PostgresStore[] = [];
  const proxies: TcpProxy[] = [];
  let seq = 0;

  /** A store whose connections carry their own application_name; optionally through a proxy. */
  async function open(options: PostgresStoreOptions & { proxy?: TcpProxy } = {}) {
    const application = `rg_fault_${randomBytes(4).toString('hex')}_${++seq}`;
    const url = new URL(options.proxy ? throughProxy(pgUrl, options.proxy) : pgUrl);
    url.searchParams.set('application_name', application);
    const store = await openPostgresStore(url.href, { schema, purgeIntervalMs: 0, ...options });
    stores.push(store);
    return { store, application };
  }

  before(async () => {
    ({ schema, drop } = await freshSchema());
  });
  after(async () => {
    await Promise.all(stores.map((store) => store.close().catch(() => {})));
    await Promise.all(proxies.map((proxy) => proxy.close()));
    await drop?.();
  });

  test('a backend terminated while a refresh waits inside its transaction: 503-class error, nothing applied, then recovery', async () => {
    const { store, application } = await open();
    const { tokenHash } = await seedFamily(store);
    // Another session holds the token's row, so the refresh is certainly inside its
    // transaction, waiting, when its backend is terminated.
    const holder = new pg.Client({ connectionString: pgUrl });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`SELECT 1 FROM "${schema}".refresh_tokens WHERE token_hash = $1 FOR UPDATE`, [tokenHash]);
      const successor = hash();
      const use = store.useRefreshToken(tokenHash, rotateOrReplay(successor));
      const settled = use.then(() => 'resolved', () => 'rejected');
      for (;;) {
        const waiting = await adminQuery(
          "SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
          [application],
        );
        if (waiting.length > 0) break;
        await tick();
      }
      assert.ok((await terminate(application)) >= 1);
      await assert.rejects(use, (error: unknown) => {
        assert.ok(error instanceof StoreUnavailableError, String(error));
        assert.equal(error.retryAfter, 1);
        return true;
      });
      assert.equal(await settled, 'rejected');
      await holder.query('ROLLBACK');
      // Nothing was applied: the token is still active, the successor absent.
      assert.equal((await store.findRefreshToken(tokenHash))?.token.state, 'active');
      assert.equal(await store.findRefreshToken(successor), undefined);
      // The pool opens a new connection by itself: the next refresh rotates.
      const next = await store.useRefreshToken(tokenHash, rotateOrReplay());
      assert.equal(next.decision.action, 'rotate');
    } finally {
      await holder.end();
    }
  });

  test('a backend terminated between two statements of a refresh (connection checked out, no query running): the process lives, nothing applied', async () => {
    // Without an 'error' listener on checked-out connections, the FATAL that arrives after the
    // read's answer is an unhandled 'error' event and ends this process.
    const proxy = await startTcpProxy(pgTarget());
    proxies.push(proxy);
    const { store } = await open({ proxy });
    const { tokenHash } = await seedFamily(store);
    const successor = hash();
    const terminated = proxy.terminateAfterNextAnswer('FOR UPDATE');
    await assert.rejects(store.useRefreshToken(tokenHash, rotateOrReplay(successor)), (error: unknown) => error instanceof StoreUnavailableError);
    await terminated;
    assert.equal((await store.findRefreshToken(tokenHash))?.token.state, 'active');
    assert.equal(await store.findRefreshToken(successor), undefined);
    assert.equal((await store.useRefreshToken(tokenHash, rotateOrReplay())).decision.action, 'rotate');
  });

  test('idle connections terminated: the pool drops them and the next calls work', async () => {
    const { store, application } = await open({ poolSize: 4 });
    const { tokenHash } = await seedFamily(store);
    // Fill the pool with idle connections.
    await Promise.all(Array.from({ length: 4 }, () => store.listClients()));
    assert.ok((await backends(application)).length >= 1);
    await terminate(application);
    // The pool hears of each termination on its idle connection and drops it.
    while ((store.stats().pool?.size ?? 0) > 0) await tick();
    assert.equal((await store.useRefreshToken(tokenHash, rotateOrReplay())).decision.action, 'rotate');
    assert.deepEqual(await store.listGrants({ subject: `nobody-${hash()}` }), []);
    assert.ok((await backends(application)).length >= 1, 'new connections were opened');
  });

  test('terminated under a load of concurrent refreshes: every call settles, each either applied or a StoreUnavailableError', async () => {
    const { store, application } = await open({ poolSize: 6, maxBatchesInFlight: 3 });
    const chains = await Promise.all(Array.from({ length: 24 }, () => seedFamily(store)));
    const received = chains.map((chain) => [chain.tokenHash]);
    let unavailable = 0;
    let terminated = 0;
    const run = async (i: number, rounds: number) => {
      for (let n = 0, failures = 0; n < rounds; ) {
        // The outage is one termination: a store that does not recover fails here, not by hanging.
        assert.ok(failures < 50, `chain ${i}: ${failures} failures in a row`);
        const successor = hash();
        try {
          const use = await store.useRefreshToken(received[i].at(-1)!, rotateOrReplay(successor));
          if (use.decision.action === 'rotate') received[i].push(successor);
          else received[i].push(use.snapshot!.token.successorHash!); // the retry of a lost answer
          n++;
          failures = 0;
        } catch (error) {
          assert.ok(error instanceof StoreUnavailableError, String(error));
          unavailable++;
          failures++;
        }
        if (i === 0 && n === 5 && terminated === 0) terminated = await terminate(application);
      }
    };
    await Promise.all(chains.map((_, i) => run(i, 15)));
    assert.ok(terminated >= 1);
    // Every rotation a caller saw applied is in the database, each chain one unbroken line.
    for (const [i, tokens] of received.entries()) {
      for (const [g, tokenHash] of tokens.entries()) {
        const found = await store.findRefreshToken(tokenHash);
        assert.ok(found, `chain ${i}: token ${g + 1} missing`);
        assert.equal(found.token.generation, g + 1);
        assert.equal(found.token.successorHash, tokens[g + 1], `chain ${i}: token ${g + 1}`);
      }
    }
    process.stdout.write(`# ${unavailable} calls answered unavailable, ${terminated} backends terminated\n`);
  });

  test('database unreachable: every kind of call fails fast with StoreUnavailableError; back up, the store recovers by itself', async () => {
    const proxy = await startTcpProxy(pgTarget());
    proxies.push(proxy);
    const { store } = await open({ proxy });
    const { grant, tokenHash } = await seedFamily(store);
    await proxy.down();
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['getClient', () => store.getClient('app')],
      ['useRefreshToken', () => store.useRefreshToken(tokenHash, rotateOrReplay())],
      ['consumeOnce', () => store.consumeOnce('jti', hash(), now() + 60)],
      ['createGrant', () => seedFamily(store)],
      ['revokeGrant', () => store.revokeGrant(grant.familyId, 'admin', now())],
      ['listSigningKeys', () => store.listSigningKeys()],
      ['findRefreshToken', () => store.findRefreshToken(tokenHash)],
    ];
    for (const [name, call] of calls) {
      await assert.rejects(call(), (error: unknown) => error instanceof StoreUnavailableError, name);
    }
    await proxy.up();
    assert.equal((await store.useRefreshToken(tokenHash, rotateOrReplay())).decision.action, 'rotate');
    assert.equal(await store.getClient('nobody'), undefined);
  });

  test('a silent database (no answer, no reset): calls fail with StoreUnavailableError at the connect timeout, not hang', async () => {
    const proxy = await startTcpProxy(pgTarget());
    proxies.push(proxy);
    const { store } = await open({ proxy, connectTimeoutMs: 200, poolSize: 2 });
    const { tokenHash } = await seedFamily(store);
    proxy.silence();
    // Every pooled connection was reset; new ones are never answered.
    while ((store.stats().pool?.size ?? 0) > 0) await tick();
    const calls: Promise<unknown>[] = Array.from({ length: 4 }, () => store.useRefreshToken(tokenHash, rotateOrReplay()));
    calls.push(store.getClient('app'));
    for (const outcome of await Promise.allSettled(calls)) {
      assert.equal(outcome.status, 'rejected');
      const error = (outcome as PromiseRejectedResult).reason;
      assert.ok(error instanceof StoreUnavailableError && /timeout/i.test(error.message), String(error));
    }
    await proxy.up();
    assert.equal((await store.useRefreshToken(tokenHash, rotateOrReplay())).decision.action, 'rotate');
  });

  test('a COMMIT whose answer is lost: the caller is never told it applied; its retry gets the same successor', async () => {
    const proxy = await startTcpProxy(pgTarget());
    proxies.push(proxy);
    const { store } = await open({ proxy });
    const { tokenHash } = await seedFamily(store);
    const successor = hash();
    const lost = proxy.loseNextCommitAnswer();
    await assert.rejects(store.useRefreshToken(tokenHash, rotateOrReplay(successor)), (error: unknown) => error instanceof StoreUnavailableError);
    await lost;
    // PostgreSQL did commit it.
    const rows = await adminQuery<{ state: string; successor_hash: string }>(
      `SELECT state, successor_hash FROM "${schema}".refresh_tokens WHERE token_hash = $1`,
      [tokenHash],
    );
    assert.deepEqual(rows, [{ state: 'rotated', successor_hash: successor }]);
    // The caller's retry (same token) is a replay of that very successor, not a second rotation.
    const retry = await store.useRefreshToken(tokenHash, rotateOrReplay());
    assert.equal(retry.decision.action, 'replay');
    assert.equal(retry.snapshot?.token.successorHash, successor);
  });

  test('stats() reports the pool: connections open, idle, callers waiting', async () => {
    const { store } = await open({ poolSize: 3 });
    assert.deepEqual(store.stats(), { pool: { size: 1, idle: 1, waiting: 0 } });
    await Promise.all(Array.from({ length: 6 }, () => store.consumeOnce('jti', hash(), now() + 60)));
    const { pool } = store.stats();
    assert.ok(pool && pool.size >= 1 && pool.size <= 3 && pool.idle === pool.size && pool.waiting === 0, JSON.stringify(pool));
  });
});
