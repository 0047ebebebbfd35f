/**
 * `refresh-grant serve` on PostgreSQL under database faults, with a load of rotating chains:
 * its backends terminated (`pg_terminate_backend`, only this test's own: they carry an
 * `application_name` of their own), then the database unreachable for a while (a TCP proxy
 * between the server and PostgreSQL stops). Throughout: the process never exits; a request the
 * database could not serve gets 503 `temporarily_unavailable` with `Retry-After` (never a 500,
 * never a hang); the service recovers by itself; and every rotation a client received in a 200
 * is in the database, each chain one unbroken line of generations.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { refreshTokenKey } from '../../src/core/crypto.ts';
import { createAuthorizationServer } from '../../src/server.ts';
import { openStore } from '../../../cli/src/open-store.ts';
import { adminQuery, pgTestOptions, pgUrl } from '../support/postgres.ts';
import { startTcpProxy, throughProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { postgresDatabase, writeKekFile, type TestDatabase } from './support/databases.ts';
import { basicAuth, postForm } from './support/http.ts';
import { killAll, startServe, type ServeProcess } from './support/processes.ts';

const pgOptions = await pgTestOptions();
const issuer = 'http://auth.refresh-grant.test';
const chainCount = 12;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('serve on PostgreSQL under database faults', pgOptions, () => {
  let dir: string | undefined;
  let database: TestDatabase | undefined;
  let proxy: TcpProxy | undefined;
  let holder: pg.Client | undefined;
  const servers: ServeProcess[] = [];

  after(async () => {
    await killAll(servers);
    await holder?.end().catch(() => {});
    await proxy?.close();
    await database?.drop().catch(() => {});
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('survives terminated backends and an outage: 503 + Retry-After meanwhile, recovers by itself, loses no answered rotation', async (t) => {
    dir = mkdtempSync(join(tmpdir(), 'rg-pg-faults-'));
    database = postgresDatabase();
    const kekFile = writeKekFile(dir);
    const target = new URL(pgUrl);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const application = `rg_e2e_fault_${randomBytes(4).toString('hex')}`;
    const served = new URL(throughProxy(database.db, proxy));
    served.searchParams.set('application_name', application);

    // A client and one grant per chain (plus a probe), set up directly, before the server starts.
    const setup = await openStore(database.db);
    const chains: Array<{ familyId: string; received: string[] }> = [];
    let auth: Record<string, string>;
    try {
      const admin = await createAuthorizationServer({ issuer, store: setup, kek: { file: kekFile }, log: false });
      const { client, clientSecret } = await admin.registerClient({ authMethod: 'client_secret_basic' });
      auth = basicAuth(client.clientId, clientSecret!);
      for (let i = 0; i <= chainCount; i++) {
        const { familyId, tokens } = await admin.issueGrant({ clientId: client.clientId, subject: `user-${i}`, scope: 'read' });
        chains.push({ familyId, received: [tokens.refresh_token!] });
      }
    } finally {
      await setup.close();
    }
    const probe = chains[chainCount];

    const server = await startServe({ db: served.href, kekFile, issuer, quiet: false });
    servers.push(server);

    const failures: string[] = [];
    let successes = 0;
    let unavailable = 0;
    const sinceOutage = chains.slice(0, chainCount).map(() => ({ unavailable: 0, ok: 0 }));
    let outage: 'none' | 'down' | 'up' = 'none';

    /** One refresh of chain `i`: true on 200, false on a well-formed 503; anything else is recorded. */
    const step = async (i: number): Promise<boolean> => {
      const chain = chains[i];
      let answer: Awaited<ReturnType<typeof postForm>>;
      try {
        answer = await postForm(`${server.url}/token`, { grant_type: 'refresh_token', refresh_token: chain.received.at(-1)! }, auth);
      } catch (error) {
        failures.push(`chain ${i}: no answer: ${(error as Error).message}`);
        return false;
      }
      if (answer.status === 200) {
        chain.received.push(answer.json.refresh_token);
        successes++;
        if (outage === 'up') sinceOutage[i].ok++;
        return true;
      }
      if (
        answer.status !== 503 ||
        answer.json?.error !== 'temporarily_unavailable' ||
        !/^[1-9]\d*$/.test(answer.headers.get('retry-after') ?? '') ||
        answer.headers.get('cache-control') !== 'no-store'
      ) {
        failures.push(`chain ${i}: ${answer.status} ${answer.text} retry-after=${answer.headers.get('retry-after')}`);
        return false;
      }
      unavailable++;
      if (outage === 'down') sinceOutage[i].unavailable++;
      // A client waits before retrying; the same token again (a rotation whose answer was lost
      // is then answered with the same successor).
      await sleep(10);
      return false;
    };

    let stopped = false;
    const load = Promise.all(
      chains.slice(0, chainCount).map(async (_, i) => {
        while (!stopped && failures.length === 0) await step(i);
      }),
    );
    const until = async (condition: () => boolean, what: string) => {
      while (!condition()) {
        if (failures.length > 0 || !server.running()) assert.fail(`${what}: ${failures.join('; ')}\n${server.stderr().slice(-2000)}`);
        await sleep(20);
      }
    };

    try {
      await until(() => successes >= 100, 'warm-up');

      // 1. Backends terminated while a request certainly waits inside its transaction: another
      // session holds the probe's token row, so the probe's refresh is blocked in the database.
      holder = new pg.Client({ connectionString: pgUrl });
      await holder.connect();
      await holder.query('BEGIN');
      const schema = new URL(database.db).searchParams.get('schema')!;
      await holder.query(`SELECT 1 FROM "${schema}".refresh_tokens WHERE token_hash = $1 FOR UPDATE`, [
        refreshTokenKey(probe.received.at(-1)!),
      ]);
      const probed = postForm(`${server.url}/token`, { grant_type: 'refresh_token', refresh_token: probe.received.at(-1)! }, auth);
      for (;;) {
        const waiting = await adminQuery(
          "SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
          [application],
        );
        if (waiting.length > 0) break;
        await sleep(10);
      }
      const terminated = await adminQuery<{ ok: boolean }>(
        'SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1',
        [application],
      );
      assert.ok(terminated.some((row) => row.ok), 'terminated at least one of the server backends');
      const probeAnswer = await probed;
      assert.equal(probeAnswer.status, 503, probeAnswer.text);
      assert.equal(probeAnswer.json.error, 'temporarily_unavailable');
      assert.equal(probeAnswer.headers.get('retry-after'), '1');
      await holder.query('ROLLBACK');
      const afterTermination = successes;
      await until(() => successes >= afterTermination + 100, 'recovery after terminated backends');
      // The probe's token still works: its rotation was never applied.
      const probeRetry = await postForm(`${server.url}/token`, { grant_type: 'refresh_token', refresh_token: probe.received.at(-1)! }, auth);
      assert.equal(probeRetry.status, 200, probeRetry.text);
      probe.received.push(probeRetry.json.refresh_token);

      // 2. The database unreachable: every chain gets 503s, and the process stays up.
      outage = 'down';
      await proxy.down();
      await until(() => sinceOutage.every((s) => s.unavailable >= 2), 'every chain answered 503 during the outage');
      assert.ok(server.running());
      outage = 'up';
      await proxy.up();
      await until(() => sinceOutage.every((s) => s.ok >= 5), 'every chain recovered after the outage');
    } finally {
      stopped = true;
      await load;
    }
    assert.deepEqual(failures, []);
    assert.ok(server.running(), server.stderr().slice(-2000));
    t.diagnostic(`${successes} refreshes answered 200, ${unavailable} answered 503 during the faults`);

    // Under the store: every token a client received is there, in one line per family.
    const perFamily = await database.tokensPerFamily();
    const inspect = await openStore(database.db);
    try {
      for (const [i, chain] of chains.entries()) {
        assert.equal((await inspect.getGrant(chain.familyId))?.revokedAt, undefined, `chain ${i}: family revoked`);
        assert.equal(perFamily.get(chain.familyId), chain.received.length, `chain ${i}: the family holds tokens no client received`);
        for (const [g, token] of chain.received.entries()) {
          const found = await inspect.findRefreshToken(refreshTokenKey(token));
          assert.ok(found, `chain ${i}: token ${g + 1} is missing`);
          assert.equal(found.token.generation, g + 1, `chain ${i}: token ${g + 1}`);
          const last = g === chain.received.length - 1;
          assert.equal(found.token.state, last ? 'active' : 'rotated', `chain ${i}: token ${g + 1}`);
          assert.equal(found.token.successorHash, last ? undefined : refreshTokenKey(chain.received[g + 1]));
        }
      }
    } finally {
      await inspect.close();
    }
    assert.deepEqual(server.events().filter((e) => e.error === 'server_error'), []);
  });
});
