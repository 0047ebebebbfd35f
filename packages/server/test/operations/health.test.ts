/**
 * GET /health and GET /ready: liveness without I/O, readiness from a store query within a
 * deadline (a PostgreSQL table lock makes the query wait: 503 `timeout`, then 200 once released),
 * one query shared by concurrent probes, 503 `draining` from the start of a shutdown.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { createMetrics } from '../../src/operations/metrics.ts';
import { openPostgresStore } from '../../src/stores/postgres-store.ts';
import { freshSchema, pgTestOptions, pgUrl } from '../support/postgres.ts';
import { sample, startOperated } from './support.ts';

describe('health checks on SQLite', () => {
  it('/health is 200 {"status":"ok"}; /ready is 200 with every check ok; both JSON, never cached', async () => {
    const ops = await startOperated();
    after(() => ops.close());
    const live = await ops.get('/health');
    assert.equal(live.status, 200);
    assert.deepEqual(JSON.parse(live.body), { status: 'ok' });
    assert.equal(live.headers.get('content-type'), 'application/json');
    assert.equal(live.headers.get('cache-control'), 'no-store');
    const ready = await ops.get('/ready');
    assert.equal(ready.status, 200);
    assert.deepEqual(JSON.parse(ready.body), { status: 'ready', checks: { store: 'ok', signing_keys: 'ok' } });
    const head = await fetch(`${ops.url}/ready`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    const post = await fetch(`${ops.url}/health`, { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
  });

  it('a store that fails its query makes /ready 503 not_ready, /health stays 200', async () => {
    const ops = await startOperated();
    await ops.store.close(); // every query now throws
    const ready = await ops.get('/ready');
    assert.equal(ready.status, 503);
    assert.equal(ready.headers.get('retry-after'), '1');
    assert.deepEqual(JSON.parse(ready.body), { status: 'not_ready', checks: { store: 'error', signing_keys: 'unknown' } });
    assert.equal((await ops.get('/health')).status, 200);
    await ops.close().catch(() => {});
  });

  it('drain() turns /ready into 503 draining', async () => {
    const ops = await startOperated();
    after(() => ops.close());
    ops.health.drain();
    const ready = await ops.get('/ready');
    assert.equal(ready.status, 503);
    assert.deepEqual(JSON.parse(ready.body), { status: 'draining' });
    assert.equal((await ops.get('/health')).status, 200);
  });
});

describe('health checks on PostgreSQL', await pgTestOptions(), () => {
  it('a store query that waits past the deadline is 503 timeout; probes share one query; ready again once it answers', async () => {
    const { schema, drop } = await freshSchema();
    const metrics = createMetrics({ processMetrics: false });
    const store = await openPostgresStore(pgUrl, { schema, poolSize: 3, purgeIntervalMs: 0 });
    const ops = await startOperated({ store, metrics, health: { readyTimeoutMs: 200 } });
    const locker = new pg.Client({ connectionString: pgUrl, application_name: 'rg-health-test' });
    await locker.connect();
    try {
      assert.equal((await ops.get('/ready')).status, 200);
      const before = await listQueries(metrics);
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE "${schema}".signing_keys IN ACCESS EXCLUSIVE MODE`);
      const probes = [...(await Promise.all([ops.get('/ready'), ops.get('/ready'), ops.get('/ready')])), await ops.get('/ready'), await ops.get('/ready')];
      for (const probe of probes) {
        assert.equal(probe.status, 503);
        assert.deepEqual(JSON.parse(probe.body), { status: 'not_ready', checks: { store: 'timeout', signing_keys: 'unknown' } });
      }
      assert.equal((await ops.get('/health')).status, 200, 'liveness does no I/O');
      await locker.query('COMMIT');
      let ready = await ops.get('/ready');
      for (let i = 0; i < 20 && ready.status !== 200; i++) ready = await ops.get('/ready');
      assert.equal(ready.status, 200);
      // Five probes while blocked ran one query; then at most one more answered the last probe.
      const ran = (await listQueries(metrics)) - before;
      assert.ok(ran >= 1 && ran <= 2, `readiness queries run: ${ran}`);
    } finally {
      await locker.end();
      await ops.close();
      await drop();
    }
  });
});

async function listQueries(metrics: ReturnType<typeof createMetrics>): Promise<number> {
  const text = (await metrics.response()).body;
  return sample(text, 'refresh_grant_store_operation_duration_seconds_count{operation="listSigningKeys"}') ?? 0;
}
