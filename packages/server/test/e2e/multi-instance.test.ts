/**
 * Scale out: three `refresh-grant serve` processes on three ports sharing one PostgreSQL
 * database (same KEK file, same issuer, as behind a load balancer without sticky sessions).
 * One refresh token presented 200 times at once across the three yields exactly one
 * successor, handed to every caller; the successor works through any instance; a reuse through
 * another instance revokes the family on all of them; a client assertion `jti` accepted by
 * one instance is refused by the others.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import type { AuthorizationServer } from '../../src/core/authorization-server.ts';
import { randomId, refreshTokenKey } from '../../src/core/crypto.ts';
import type { ServerEvent } from '../../src/core/events.ts';
import type { Store } from '../../src/core/store.ts';
import type { Jwk } from '../../src/core/types.ts';
import { createAuthorizationServer } from '../../src/server.ts';
import { migrations, migrationsTable } from '../../src/stores/postgres-schema.ts';
import { openStore } from '../../../cli/src/open-store.ts';
import { adminQuery, pgTestOptions } from '../support/postgres.ts';
import { postgresDatabase, writeKekFile, type TestDatabase } from './support/databases.ts';
import { basicAuth, postForm, refresh, type TokenAnswer } from './support/http.ts';
import { killAll, startServe, type ServeProcess } from './support/processes.ts';

const pgOptions = await pgTestOptions();
/** The one issuer every instance is configured with: the load balancer's URL. */
const issuer = 'http://auth.refresh-grant.test';
const assertionType = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

describe('three serve processes on one PostgreSQL database', pgOptions, () => {
  let dir: string;
  let database: TestDatabase;
  let instances: ServeProcess[] = [];
  let store: Store | undefined;
  let admin: AuthorizationServer;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rg-multi-'));
    const kekFile = writeKekFile(dir);
    database = postgresDatabase();
    // Started together on an empty schema: the migration's advisory lock must serialize them.
    instances = await Promise.all([1, 2, 3].map(() => startServe({ db: database.db, kekFile, issuer, quiet: false })));
    // Clients and grants come from the programmatic API over the same database and KEK.
    store = await openStore(database.db);
    admin = await createAuthorizationServer({ issuer, store, kek: { file: kekFile }, log: false });
  });

  after(async () => {
    await killAll(instances);
    await store?.close().catch(() => {});
    await database?.drop().catch(() => {});
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Polls the instances' event logs (lines may trail the responses) until `done` holds. */
  async function eventsUntil(done: (events: ServerEvent[]) => boolean): Promise<ServerEvent[]> {
    const all = () => instances.flatMap((i) => i.events());
    for (let i = 0; i < 250 && !done(all()); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    return all();
  }

  const statuses = (answers: TokenAnswer[]) => answers.map((a) => a.status);

  it('all three started at once on an empty schema; each migration was applied once', async () => {
    assert.equal(new Set(instances.map((i) => i.issuer)).size, 1);
    assert.equal(instances[0].issuer, issuer);
    const schema = new URL(database.db).searchParams.get('schema')!;
    const rows = await adminQuery<{ version: number }>(`SELECT version FROM "${schema}".${migrationsTable} ORDER BY version`);
    assert.deepEqual(rows.map((r) => r.version), migrations.map((m) => m.version));
  });

  let auth: Record<string, string>;
  let familyId: string;
  let original: string;
  let successor: string;

  it('200 parallel refreshes of one token across the three: all 200, one and the same successor', async () => {
    const { client, clientSecret } = await admin.registerClient({ authMethod: 'client_secret_basic' });
    auth = basicAuth(client.clientId, clientSecret!);
    const issued = await admin.issueGrant({ clientId: client.clientId, subject: 'alice', scope: 'read' });
    familyId = issued.familyId;
    original = issued.tokens.refresh_token!;

    const answers = await Promise.all(Array.from({ length: 200 }, (_, n) => refresh(instances[n % 3].url, original, auth)));
    const refused = answers.filter((a) => a.status !== 200);
    assert.deepEqual(refused, [], `every request answered 200; got ${refused.length} others, e.g. ${refused[0]?.status} ${refused[0]?.text}`);
    const successors = new Set(answers.map((a) => a.json.refresh_token as string));
    assert.equal(successors.size, 1, 'exactly one successor, carried by every 200');
    successor = [...successors][0];
    assert.notEqual(successor, original);

    // In the database: the family holds the original (rotated into the successor) and the successor.
    assert.equal((await database.tokensPerFamily()).get(familyId), 2);
    const parent = await store!.findRefreshToken(refreshTokenKey(original));
    assert.equal(parent?.token.state, 'rotated');
    assert.equal(parent?.token.successorHash, refreshTokenKey(successor));
    assert.equal(parent?.successor?.state, 'active');
    assert.equal(parent?.successor?.generation, 2);

    // In the instances' event logs: one rotation in all, 199 lost-response replays.
    const ours = (events: ServerEvent[]) => events.filter((e) => e.familyId === familyId);
    const events = ours(await eventsUntil((all) => ours(all).length >= 200));
    assert.equal(events.filter((e) => e.type === 'refresh_token.rotated').length, 1);
    assert.equal(events.filter((e) => e.type === 'refresh_token.replayed').length, 199);
  });

  it('the successor works through any instance; a reuse through another revokes the family on all three', async () => {
    assert.ok(successor, 'needs the previous test');
    const [a, b, c] = instances;
    // The successor rotates on A, and each new token on the next instance.
    const viaA = await refresh(a.url, successor, auth);
    assert.equal(viaA.status, 200, viaA.text);
    const viaB = await refresh(b.url, viaA.json.refresh_token, auth);
    assert.equal(viaB.status, 200, viaB.text);
    const viaC = await refresh(c.url, viaB.json.refresh_token, auth);
    assert.equal(viaC.status, 200, viaC.text);
    const latest: string = viaC.json.refresh_token;

    // The original again, through B: its successor has been used since, so no retry window
    // applies; this is reuse (RFC 9700 section 4.14.2) and the whole family is revoked.
    const reuse = await refresh(b.url, original, auth);
    assert.equal(reuse.status, 400, reuse.text);
    assert.equal(reuse.json.error, 'invalid_grant');
    assert.equal((await store!.getGrant(familyId))?.revokedReason, 'reuse');
    const detected = await eventsUntil((all) => all.some((e) => e.type === 'refresh_token.reuse_detected' && e.familyId === familyId));
    assert.ok(detected.some((e) => e.type === 'refresh_token.reuse_detected' && e.familyId === familyId));

    // The latest token, valid a moment ago, now fails on every instance.
    const everywhere = await Promise.all(instances.map((i) => refresh(i.url, latest, auth)));
    assert.deepEqual(statuses(everywhere), [400, 400, 400]);
    assert.deepEqual(everywhere.map((x) => x.json.error), ['invalid_grant', 'invalid_grant', 'invalid_grant']);
  });

  it('a private_key_jwt assertion (one jti) accepted by one instance is refused by the others', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' } as Jwk;
    const { client } = await admin.registerClient({ authMethod: 'private_key_jwt', jwks: { keys: [jwk] } });
    const clientId = client.clientId;
    const issued = await admin.issueGrant({ clientId, subject: 'bob', scope: 'read' });
    const assertion = () => signAssertion(privateKey, clientId);
    const request = (url: string, clientAssertion: string, refreshToken: string) =>
      postForm(`${url}/token`, {
        grant_type: 'refresh_token',
        refresh_token: refreshToken,
        client_assertion_type: assertionType,
        client_assertion: clientAssertion,
      });
    const [a, b, c] = instances;

    const first = await assertion();
    const onA = await request(a.url, first, issued.tokens.refresh_token!);
    assert.equal(onA.status, 200, onA.text);
    const rt1: string = onA.json.refresh_token;
    // RFC 7523 section 3 / OIDC Core section 9: the jti is single use, across every instance.
    for (const other of [b, c, a]) {
      const replayed = await request(other.url, first, rt1);
      assert.equal(replayed.status, 401, replayed.text);
      assert.equal(replayed.json.error, 'invalid_client');
    }
    // B accepts this client's fresh assertions: the refusal above was the replay.
    const fresh = await request(b.url, await assertion(), rt1);
    assert.equal(fresh.status, 200, fresh.text);

    // One assertion raced through all three instances at once: exactly one gets through.
    const raced = await assertion();
    const answers = await Promise.all(Array.from({ length: 12 }, (_, n) => request(instances[n % 3].url, raced, fresh.json.refresh_token)));
    assert.equal(answers.filter((x) => x.status === 200).length, 1, statuses(answers).join(' '));
    assert.equal(answers.filter((x) => x.status === 401 && x.json.error === 'invalid_client').length, 11);
  });

  it('an instance with another KEK refuses to start (it cannot unseal the shared signing key)', async () => {
    const otherKek = writeKekFile(mkdtempSync(join(dir, 'other-')));
    await assert.rejects(startServe({ db: database.db, kekFile: otherKek, issuer }), /exited \(1\) before listening[\s\S]*(unable to authenticate|KEK|unseal)/i);
  });

  it('no instance answered 5xx or crashed', () => {
    for (const instance of instances) {
      assert.ok(instance.running(), instance.stderr());
      const failed = instance.events().filter((e) => e.error === 'server_error' || e.error === 'temporarily_unavailable');
      assert.deepEqual(failed, []);
    }
  });
});

/** A private_key_jwt client assertion (RFC 7523) with a fresh jti, for the load balancer's issuer. */
function signAssertion(key: CryptoKey, clientId: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: clientId, sub: clientId, aud: issuer, jti: randomId(), iat: now, exp: now + 60 })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
    .sign(key);
}
