/**
 * `--db` values: SQLite paths, PostgreSQL URLs and our own URL parameters.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { defaultKekFile, isPostgresUrl, postgresSchemaParam } from '../src/open-store.ts';

describe('openStore parameters', () => {
  it('tells PostgreSQL URLs from SQLite paths', () => {
    assert.equal(isPostgresUrl('postgres://root@127.0.0.1:5432/test'), true);
    assert.equal(isPostgresUrl('postgresql://h/db'), true);
    assert.equal(isPostgresUrl('./refresh-grant.db'), false);
    assert.equal(defaultKekFile('./x.db'), './x.db.kek');
    assert.equal(defaultKekFile('postgres://h/db'), 'refresh-grant.kek');
  });

  it('splits schema and pool_size off the URL and keeps the driver parameters', () => {
    assert.deepEqual(postgresSchemaParam('postgres://h/db'), { connectionString: 'postgres://h/db' });
    assert.deepEqual(postgresSchemaParam('postgres://h/db?schema=auth&pool_size=20&sslmode=disable'), {
      connectionString: 'postgres://h/db?sslmode=disable',
      schema: 'auth',
      poolSize: 20,
    });
    assert.deepEqual(postgresSchemaParam('postgres://h/db?max_batch=1&batches_in_flight=4&application_name=x'), {
      connectionString: 'postgres://h/db?application_name=x',
      maxBatch: 1,
      maxBatchesInFlight: 4,
    });
  });

  it('refuses malformed parameters', () => {
    assert.throws(() => postgresSchemaParam('postgres://h/db?schema='), /schema/);
    for (const bad of ['0', '-1', 'ten', '1.5', '100000']) {
      assert.throws(() => postgresSchemaParam(`postgres://h/db?pool_size=${bad}`), /pool_size/, bad);
      assert.throws(() => postgresSchemaParam(`postgres://h/db?max_batch=${bad}`), /max_batch/, bad);
      assert.throws(() => postgresSchemaParam(`postgres://h/db?batches_in_flight=${bad}`), /batches_in_flight/, bad);
    }
  });
});
