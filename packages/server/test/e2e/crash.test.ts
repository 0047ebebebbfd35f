/**
 * Crash: `kill -9` a `refresh-grant serve` process in the middle of a load of rotating chains,
 * on SQLite and on PostgreSQL, restart it on the same database, and check that nothing a
 * client received was lost and nothing was rotated twice.
 *
 * Each chain presents the refresh token its previous 200 returned. A request in flight at the
 * kill gets no response, though its rotation may have committed: presenting the chain's last
 * received token again must then return the same successor (the retry window), which is the
 * lost-response guarantee. Either way every chain's last received token works after restart.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { refreshTokenKey } from '../../src/core/crypto.ts';
import { createAuthorizationServer } from '../../src/server.ts';
import { openStore } from '../../../cli/src/open-store.ts';
import { pgTestOptions } from '../support/postgres.ts';
import { postgresDatabase, sqliteDatabase, writeKekFile, type TestDatabase } from './support/databases.ts';
import { basicAuth, refresh, type TokenAnswer } from './support/http.ts';
import { killAll, startServe, type ServeProcess } from './support/processes.ts';

const pgOptions = await pgTestOptions();
const issuer = 'http://auth.refresh-grant.test';
/** Rotating chains run at once. */
const chainCount = 16;
/** Successful refreshes before the kill. */
const killAfter = 300;
/** Chains that drop one answer (a lost response) before the kill. */
const lossyChains = 4;

for (const backend of ['sqlite', 'postgres'] as const) {
  describe(`kill -9 under load, then restart (${backend})`, backend === 'postgres' ? pgOptions : {}, () => {
    let dir: string | undefined;
    let database: TestDatabase | undefined;
    const servers: ServeProcess[] = [];

    after(async () => {
      await killAll(servers);
      await database?.drop().catch(() => {});
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('every token received in a 200 still works after the restart, and none was rotated twice', async (t) => {
      dir = mkdtempSync(join(tmpdir(), `rg-crash-${backend}-`));
      database = backend === 'postgres' ? postgresDatabase() : sqliteDatabase(dir);
      const kekFile = writeKekFile(dir);
      const { db } = database;

      // One client and a grant per chain, through the programmatic API, before the server starts.
      const setupStore = await openStore(db);
      const chains: Array<{ familyId: string; received: string[] }> = [];
      let auth: Record<string, string>;
      try {
        const admin = await createAuthorizationServer({ issuer, store: setupStore, kek: { file: kekFile }, log: false });
        const { client, clientSecret } = await admin.registerClient({ authMethod: 'client_secret_basic' });
        auth = basicAuth(client.clientId, clientSecret!);
        for (let i = 0; i < chainCount; i++) {
          const { familyId, tokens } = await admin.issueGrant({ clientId: client.clientId, subject: `user-${i}`, scope: 'read' });
          chains.push({ familyId, received: [tokens.refresh_token!] });
        }
      } finally {
        await setupStore.close();
      }

      const first = await startServe({ db, kekFile, issuer });
      servers.push(first);

      // The load: every chain refreshes its latest token, again and again, until the kill. The
      // first `lossyChains` drop one answer early and stop: a rotation that committed while its
      // response never reached the client, made certain rather than left to the kill's timing.
      let successes = 0;
      let killed: Promise<void> | undefined;
      let cutOff = 0;
      const refused: string[] = [];
      const dropped = new Map<number, string>();
      await Promise.all(
        chains.map(async (chain, i) => {
          while (!killed) {
            let answer: TokenAnswer;
            try {
              answer = await refresh(first.url, chain.received.at(-1)!, auth);
            } catch (error) {
              if (!killed) refused.push(`no response before the kill: ${(error as Error).message}`);
              cutOff++;
              return;
            }
            if (answer.status !== 200) {
              refused.push(`${answer.status} ${answer.text}`);
              return;
            }
            if (i < lossyChains && chain.received.length === 5) {
              dropped.set(i, answer.json.refresh_token);
              return;
            }
            chain.received.push(answer.json.refresh_token);
            // kill -9 in the middle of the load: the other chains have requests in flight.
            if (++successes === killAfter) killed = first.kill('SIGKILL');
          }
        }),
      );
      assert.deepEqual(refused, [], first.stderr());
      assert.ok(killed, 'the load reached the kill');
      await killed;
      assert.equal(first.child.signalCode, 'SIGKILL');
      assert.equal(dropped.size, lossyChains);

      // Restart on the same database; every chain presents the last token it received.
      const second = await startServe({ db, kekFile, issuer, quiet: false });
      servers.push(second);
      const answers = await Promise.all(chains.map((chain) => refresh(second.url, chain.received.at(-1)!, auth)));
      answers.forEach((answer, i) => {
        assert.equal(answer.status, 200, `chain ${i}: its last received token was lost: ${answer.text}`);
        chains[i].received.push(answer.json.refresh_token);
      });
      // A dropped answer is recovered as it was: the same successor, not a fork.
      for (const [i, token] of dropped) assert.equal(chains[i].received.at(-1), token, `chain ${i}`);
      // And each chain goes on rotating normally.
      for (const chain of chains) {
        const next = await refresh(second.url, chain.received.at(-1)!, auth);
        assert.equal(next.status, 200, next.text);
        chain.received.push(next.json.refresh_token);
      }
      const replayed = second.events().filter((e) => e.type === 'refresh_token.replayed').length;
      assert.ok(replayed >= lossyChains, `${replayed} replays after the restart`);
      t.diagnostic(
        `${successes} answers received under load (kill after ${killAfter}); ${cutOff} requests cut off by the kill, ` +
          `${replayed - lossyChains} of which had committed their rotation; ${lossyChains} answers dropped on purpose`,
      );

      // Under the store: each family is exactly the chain its client saw, one token per
      // generation, every token but the last rotated into the next, the last one active.
      const inspect = await openStore(db);
      try {
        const perFamily = await database.tokensPerFamily();
        for (const [i, chain] of chains.entries()) {
          const grant = await inspect.getGrant(chain.familyId);
          assert.equal(grant?.revokedAt, undefined, `chain ${i}: family revoked (${grant?.revokedReason})`);
          assert.equal(perFamily.get(chain.familyId), chain.received.length, `chain ${i}: the family holds tokens no client received`);
          for (const [g, token] of chain.received.entries()) {
            const found = await inspect.findRefreshToken(refreshTokenKey(token));
            assert.ok(found, `chain ${i}: token ${g + 1} is missing`);
            assert.equal(found.token.familyId, chain.familyId);
            assert.equal(found.token.generation, g + 1, `chain ${i}: token ${g + 1} has generation ${found.token.generation}`);
            const last = g === chain.received.length - 1;
            assert.equal(found.token.state, last ? 'active' : 'rotated', `chain ${i}: token ${g + 1}`);
            assert.equal(found.token.successorHash, last ? undefined : refreshTokenKey(chain.received[g + 1]), `chain ${i}: token ${g + 1} has another successor`);
          }
        }
      } finally {
        await inspect.close();
      }
      assert.ok(second.running(), second.stderr());
      assert.deepEqual(second.events().filter((e) => e.error === 'server_error'), []);
    });
  });
}
