/**
 * The store conformance suite: every backend runs it unchanged. It talks to the store only
 * through the {@link Store} interface and uses fresh random ids in every test, so it can run
 * again on a database that earlier runs (or other suites) have written to.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RefreshDecision, RefreshSnapshot, Store } from '../../src/core/store.ts';
import type {
  ClientRecord,
  GrantRecord,
  NewRefreshToken,
  OpaqueAccessTokenRecord,
  SigningKeyRecord,
} from '../../src/core/types.ts';
import { randomHandle, randomId, sha256, tokenPrefixes } from '../../src/core/crypto.ts';
import { runAuthorizationConformance } from './conformance-authorization.ts';

/** What a backend hands the suite: an open store, a way to open a second handle, and cleanup. */
export interface StoreHarness {
  store: Store;
  /** Opens another handle on the same data (a new connection or process-level reopen). */
  reopen(): Promise<Store>;
  /** Closes every handle this harness opened and removes what it created. */
  cleanup(): Promise<void>;
}

const now = (): number => Math.floor(Date.now() / 1000);

function newHash(): string {
  return sha256(randomHandle(tokenPrefixes.refreshToken));
}

function newToken(expiresIn = 3600): NewRefreshToken {
  return { tokenHash: newHash(), expiresAt: now() + expiresIn };
}

function grantFor(overrides: Partial<GrantRecord> = {}): GrantRecord {
  const t = now();
  return {
    familyId: randomId(),
    clientId: `client-${randomId()}`,
    subject: `sub-${randomId()}`,
    scope: 'openid offline_access',
    resources: [],
    authTime: t - 10,
    createdAt: t,
    expiresAt: t + 86_400,
    ...overrides,
  };
}

function key(createdAt: number): SigningKeyRecord {
  const kid = randomId();
  return {
    kid,
    alg: 'ES256',
    publicJwk: { kty: 'EC', crv: 'P-256', x: randomId(), y: randomId(), kid, alg: 'ES256', use: 'sig' },
    privateSealed: `sealed-${randomId()}`,
    createdAt,
  };
}

function rotateTo(successor: NewRefreshToken, sealed = `sealed-${randomId()}`): RefreshDecision {
  return { action: 'rotate', successor, successorSealed: sealed };
}

/**
 * Registers the conformance suite for one backend.
 *
 * @example
 * ```ts
 * runStoreConformance('sqlite', async () => {
 *   const dir = mkdtempSync(join(tmpdir(), 'rg-'))
 *   const store = await openSqliteStore(join(dir, 'db.sqlite'))
 *   return { store, reopen: () => openSqliteStore(join(dir, 'db.sqlite')), cleanup: async () => { ... } }
 * })
 * ```
 */
export function runStoreConformance(name: string, open: () => Promise<StoreHarness>): void {
  describe(`Store conformance: ${name}`, () => {
    let harness: StoreHarness;
    let store: Store;

    before(async () => {
      harness = await open();
      store = harness.store;
    });
    after(async () => {
      await harness?.cleanup();
    });

    /** Creates a grant with its first token; returns both. */
    async function seedGrant(overrides: Partial<GrantRecord> = {}, first = newToken()) {
      const grant = grantFor(overrides);
      await store.createGrant(grant, first);
      return { grant, first };
    }

    it('declares its capabilities', () => {
      assert.equal(typeof store.capabilities.sharedAcrossProcesses, 'boolean');
      assert.equal(typeof store.capabilities.purgesInBackground, 'boolean');
    });

    describe('clients', () => {
      it('round-trips a client with every optional field, and without them', async () => {
        const full: ClientRecord = {
          clientId: `full-${randomId()}`,
          authMethod: 'private_key_jwt',
          secretHash: sha256('s'),
          secretSealed: 'sealed-secret',
          jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', kid: 'k1', alg: 'ES256', use: 'sig' }] },
          jwksUri: 'https://client.example/jwks',
          assertionMaxLifetime: 900,
          scope: 'openid offline_access api:read',
          resources: ['https://api.example/', 'urn:x'],
          rotation: false,
          retryWindow: 0,
          idleTtl: 100,
          absoluteTtl: 1000,
          accessTokenTtl: 60,
          accessTokenFormat: 'opaque',
          idTokenTtl: 120,
          redirectUris: ['https://app.example/cb', 'http://127.0.0.1/cb'],
          grantTypes: ['authorization_code', 'refresh_token', 'password', 'urn:ietf:params:oauth:grant-type:jwt-bearer'],
          requirePushedAuthorizationRequests: true,
          jwtBearerIssuers: [{ issuer: 'https://idp.example', jwksUri: 'https://idp.example/jwks' }, { issuer: 'urn:x', jwks: { keys: [{ kty: 'OKP', crv: 'Ed25519', x: 'x' }] } }],
          introspection: true,
          createdAt: now(),
        };
        const bare: ClientRecord = {
          clientId: `bare-${randomId()}`,
          authMethod: 'none',
          scope: '',
          resources: [],
          rotation: true,
          retryWindow: 30,
          idleTtl: 1,
          absoluteTtl: 2,
          accessTokenTtl: 3,
          accessTokenFormat: 'jwt',
          idTokenTtl: 4,
          createdAt: now(),
        };
        await store.saveClient(full);
        await store.saveClient(bare);
        // Optional fields come back absent, not null or undefined-valued keys.
        assert.deepStrictEqual(await store.getClient(full.clientId), full);
        assert.deepStrictEqual(await store.getClient(bare.clientId), bare);
        // false and empty lists are values, not absence.
        const explicit: ClientRecord = { ...bare, clientId: `explicit-${randomId()}`, redirectUris: [], grantTypes: [], requirePushedAuthorizationRequests: false };
        await store.saveClient(explicit);
        assert.deepStrictEqual(await store.getClient(explicit.clientId), explicit);
        assert.equal(await store.getClient(`missing-${randomId()}`), undefined);
      });

      it('replaces a client on save, dropping fields no longer set', async () => {
        const client: ClientRecord = {
          clientId: `c-${randomId()}`,
          authMethod: 'client_secret_basic',
          secretHash: sha256('one'),
          introspection: true,
          scope: 'a',
          resources: [],
          rotation: true,
          retryWindow: 30,
          idleTtl: 10,
          absoluteTtl: 20,
          accessTokenTtl: 5,
          accessTokenFormat: 'jwt',
          idTokenTtl: 5,
          createdAt: now(),
        };
        await store.saveClient(client);
        const { secretHash: _dropped, introspection: _alsoDropped, ...rest } = client;
        const replaced: ClientRecord = { ...rest, authMethod: 'none', scope: 'a b' };
        await store.saveClient(replaced);
        assert.deepStrictEqual(await store.getClient(client.clientId), replaced);
      });

      it('lists clients ordered by clientId', async () => {
        const prefix = `list-${randomId()}-`;
        const ids = [`${prefix}b`, `${prefix}c`, `${prefix}a`];
        for (const clientId of ids) {
          await store.saveClient({
            clientId, authMethod: 'none', scope: '', resources: [], rotation: true, retryWindow: 0,
            idleTtl: 1, absoluteTtl: 1, accessTokenTtl: 1, accessTokenFormat: 'jwt', idTokenTtl: 1, createdAt: now(),
          });
        }
        // Only ours are compared: they differ in their last letter, so every collation agrees.
        const all = (await store.listClients()).map((c) => c.clientId);
        assert.deepStrictEqual(all.filter((id) => id.startsWith(prefix)), [...ids].sort());
      });

      it('deleteClient removes the client and revokes its grants, keeping them as tombstones', async () => {
        const clientId = `del-${randomId()}`;
        await store.saveClient({
          clientId, authMethod: 'none', scope: '', resources: [], rotation: true, retryWindow: 0,
          idleTtl: 1, absoluteTtl: 1, accessTokenTtl: 1, accessTokenFormat: 'jwt', idTokenTtl: 1, createdAt: now(),
        });
        const a = await seedGrant({ clientId });
        const b = await seedGrant({ clientId });
        const earlier = now() - 100;
        assert.equal(await store.revokeGrant(b.grant.familyId, 'revocation', earlier), true);
        const other = await seedGrant();

        const at = now();
        assert.equal(await store.deleteClient(clientId, at), true);
        assert.equal(await store.getClient(clientId), undefined);

        const ga = await store.getGrant(a.grant.familyId);
        assert.equal(ga?.revokedAt, at);
        assert.equal(typeof ga?.revokedReason, 'string');
        // An already revoked grant keeps its original revocation.
        const gb = await store.getGrant(b.grant.familyId);
        assert.equal(gb?.revokedAt, earlier);
        assert.equal(gb?.revokedReason, 'revocation');
        assert.equal((await store.getGrant(other.grant.familyId))?.revokedAt, undefined);
        // The tokens remain findable (reuse detection), under a revoked grant.
        assert.equal((await store.findRefreshToken(a.first.tokenHash))?.grant.revokedAt, at);

        assert.equal(await store.deleteClient(clientId, at), false);
      });
    });

    describe('grants', () => {
      it('createGrant stores the grant and its first token at generation 1', async () => {
        const t = now();
        const grant = grantFor({
          resources: ['https://api.example/'],
          idTokenClaims: { acr: 'urn:mace:incommon:iap:silver', amr: ['pwd', 'otp'], nested: { a: 1 } },
          dpopJkt: 'jkt-thumbprint',
          createdAt: t - 5,
        });
        const first = newToken();
        await store.createGrant(grant, first);

        assert.deepStrictEqual(await store.getGrant(grant.familyId), grant);
        const snap = await store.findRefreshToken(first.tokenHash);
        assert.ok(snap);
        assert.deepStrictEqual(snap.grant, grant);
        assert.deepStrictEqual(snap.token, {
          tokenHash: first.tokenHash,
          familyId: grant.familyId,
          generation: 1,
          createdAt: grant.createdAt,
          expiresAt: first.expiresAt,
          state: 'active',
        });
        assert.equal(snap.successor, undefined);
        assert.equal(await store.getGrant(randomId()), undefined);
        assert.equal(await store.findRefreshToken(newHash()), undefined);
      });

      it('createGrant is atomic: a token hash collision leaves no grant behind', async () => {
        const { first } = await seedGrant();
        const grant = grantFor();
        await assert.rejects(store.createGrant(grant, { tokenHash: first.tokenHash, expiresAt: now() + 60 }));
        assert.equal(await store.getGrant(grant.familyId), undefined);
        assert.equal((await store.findRefreshToken(first.tokenHash))?.token.generation, 1);
      });

      it('listGrants filters by subject and client, newest first, revoked included', async () => {
        const subject = `sub-${randomId()}`;
        const c1 = `c1-${randomId()}`;
        const c2 = `c2-${randomId()}`;
        const t = now();
        const g100 = (await seedGrant({ subject, clientId: c1, createdAt: t - 300 })).grant;
        const g300 = (await seedGrant({ subject, clientId: c1, createdAt: t - 100 })).grant;
        const g200 = (await seedGrant({ subject, clientId: c2, createdAt: t - 200 })).grant;
        const otherSubject = (await seedGrant({ clientId: c1, createdAt: t - 50 })).grant;
        await store.revokeGrant(g100.familyId, 'admin', t);

        const ids = (gs: GrantRecord[]) => gs.map((g) => g.familyId);
        assert.deepStrictEqual(ids(await store.listGrants({ subject })), [g300, g200, g100].map((g) => g.familyId));
        assert.deepStrictEqual(ids(await store.listGrants({ subject, clientId: c1 })), [g300.familyId, g100.familyId]);
        assert.deepStrictEqual(
          ids(await store.listGrants({ clientId: c1 })),
          [otherSubject, g300, g100].map((g) => g.familyId),
        );
        assert.deepStrictEqual(ids(await store.listGrants({ clientId: c2 })), [g200.familyId]);
        assert.deepStrictEqual(await store.listGrants({ subject: `nobody-${randomId()}` }), []);
        const listed = await store.listGrants({ subject });
        assert.equal(listed[2].revokedReason, 'admin');
        assert.deepStrictEqual(listed[1], g200);

        const all = await store.listGrants({});
        const mine = new Set([g100, g200, g300, otherSubject].map((g) => g.familyId));
        assert.deepStrictEqual(
          all.filter((g) => mine.has(g.familyId)).map((g) => g.familyId),
          [otherSubject, g300, g200, g100].map((g) => g.familyId),
        );
        for (let i = 1; i < all.length; i++) assert.ok(all[i - 1].createdAt >= all[i].createdAt);
      });

      it('createGrant round-trips the binding and replay fields', async () => {
        const grant = grantFor({ dpopJkt: 'jkt', dpopBoundFrom: 4, replayGeneration: 3, replayedAt: now() - 9 });
        await store.createGrant(grant, newToken());
        assert.deepStrictEqual(await store.getGrant(grant.familyId), grant);
      });

      it('listSessions: each grant with its newest generation and last use (rotation, keep, replay), filtered, newest first', async () => {
        const subject = `sessions-${randomId()}`;
        const c1 = `c1-${randomId()}`;
        const c2 = `c2-${randomId()}`;
        const t = now();
        const unused = await seedGrant({ subject, clientId: c1, createdAt: t - 400 });
        const rotated = await seedGrant({ subject, clientId: c1, createdAt: t - 300 });
        const kept = await seedGrant({ subject, clientId: c2, createdAt: t - 200 });
        const replayed = await seedGrant({ subject, clientId: c2, createdAt: t - 100 });
        const second = newToken();
        await store.useRefreshToken(rotated.first.tokenHash, () => ({ ...rotateTo(second), at: t - 250 }));
        await store.useRefreshToken(second.tokenHash, () => ({ ...rotateTo(newToken()), at: t - 240 }));
        await store.useRefreshToken(kept.first.tokenHash, () => ({ action: 'keep', expiresAt: t + 999, at: t - 150 }));
        const next = newToken();
        await store.useRefreshToken(replayed.first.tokenHash, () => ({ ...rotateTo(next), at: t - 90 }));
        await store.useRefreshToken(replayed.first.tokenHash, () => ({ action: 'replay', at: t - 80 }));
        await store.revokeGrant(unused.grant.familyId, 'admin', t);

        const sessions = await store.listSessions({ subject });
        assert.deepStrictEqual(sessions.map((s) => s.grant.familyId), [replayed, kept, rotated, unused].map((g) => g.grant.familyId));
        assert.deepStrictEqual(sessions.map((s) => s.generation), [2, 1, 3, 1]);
        assert.deepStrictEqual(sessions.map((s) => s.lastUsedAt), [t - 80, t - 150, t - 240, undefined]);
        assert.equal('lastUsedAt' in sessions[3], false);
        assert.equal(sessions[3].grant.revokedReason, 'admin');
        assert.deepStrictEqual((await store.listSessions({ subject, clientId: c2 })).map((s) => s.grant.familyId), [replayed, kept].map((g) => g.grant.familyId));
        assert.deepStrictEqual((await store.listSessions({ clientId: c1 })).map((s) => s.grant.familyId), [rotated, unused].map((g) => g.grant.familyId));
        assert.deepStrictEqual(await store.listSessions({ subject: `nobody-${randomId()}` }), []);
      });

      it('revokeGrants revokes the active grants of a subject, of a client, or of both, once; needs a filter', async () => {
        const subject = `bulk-${randomId()}`;
        const c1 = `c1-${randomId()}`;
        const c2 = `c2-${randomId()}`;
        const a = (await seedGrant({ subject, clientId: c1 })).grant;
        const { grant: b, first: bFirst } = await seedGrant({ subject, clientId: c2 });
        const c = (await seedGrant({ subject, clientId: c2 })).grant;
        const earlier = (await seedGrant({ subject, clientId: c1 })).grant;
        const other = (await seedGrant({ clientId: c1 })).grant;
        const t = now();
        await store.revokeGrant(earlier.familyId, 'revocation', t - 50);

        const sorted = (ids: string[]) => [...ids].sort();
        // Subject and client: only b and c.
        assert.deepStrictEqual(sorted(await store.revokeGrants({ subject, clientId: c2 }, 'logout', t)), sorted([b.familyId, c.familyId]));
        assert.equal((await store.getGrant(b.familyId))?.revokedReason, 'logout');
        assert.equal((await store.getGrant(a.familyId))?.revokedAt, undefined);
        // The subject: a is left; b and c are already revoked, earlier keeps its revocation.
        assert.deepStrictEqual(await store.revokeGrants({ subject }, 'account_compromised', t + 1), [a.familyId]);
        const kept = await store.getGrant(earlier.familyId);
        assert.equal(kept?.revokedAt, t - 50);
        assert.equal(kept?.revokedReason, 'revocation');
        assert.equal((await store.getGrant(a.familyId))?.revokedReason, 'account_compromised');
        // The client: only other is left.
        assert.deepStrictEqual(await store.revokeGrants({ clientId: c1 }, 'client_disabled', t + 2), [other.familyId]);
        assert.deepStrictEqual(await store.revokeGrants({ clientId: c1 }, 'client_disabled', t + 3), []);
        // The tokens stay findable under a revoked grant (reuse stays detectable).
        assert.equal((await store.findRefreshToken(bFirst.tokenHash))?.grant.revokedReason, 'logout');
        await assert.rejects(store.revokeGrants({}, 'admin', t), TypeError);
      });

      it('revokeGrant returns true once, then false; the grant and its tokens stay as tombstones', async () => {
        const { grant, first } = await seedGrant();
        const at = now();
        assert.equal(await store.revokeGrant(grant.familyId, 'revocation', at), true);
        assert.equal(await store.revokeGrant(grant.familyId, 'admin', at + 5), false);
        assert.deepStrictEqual(await store.getGrant(grant.familyId), {
          ...grant,
          revokedAt: at,
          revokedReason: 'revocation',
        });
        const snap = await store.findRefreshToken(first.tokenHash);
        assert.equal(snap?.token.state, 'active');
        assert.equal(snap?.grant.revokedAt, at);
        assert.equal(await store.revokeGrant(randomId(), 'admin', at), false);
      });
    });

    describe('useRefreshToken', () => {
      it('passes undefined to decide for an unknown token and returns the decision', async () => {
        let seen: RefreshSnapshot | undefined | null = null;
        const use = await store.useRefreshToken(newHash(), (s) => {
          seen = s;
          return { action: 'reject', reason: 'unknown' };
        });
        assert.equal(seen, undefined);
        assert.equal(use.snapshot, undefined);
        assert.deepStrictEqual(use.decision, { action: 'reject', reason: 'unknown' });
      });

      it('rotate marks the parent rotated and inserts the successor at generation + 1', async () => {
        const { grant, first } = await seedGrant();
        const successor = newToken(7200);
        const sealed = `sealed-${randomId()}`;
        const before = now();
        const use = await store.useRefreshToken(first.tokenHash, (s) => {
          assert.equal(s?.token.tokenHash, first.tokenHash);
          assert.deepStrictEqual(s?.grant, grant);
          return rotateTo(successor, sealed);
        });
        const afterwards = now();
        assert.equal(use.snapshot?.token.state, 'active');
        assert.equal(use.decision.action, 'rotate');

        const parent = await store.findRefreshToken(first.tokenHash);
        assert.ok(parent);
        assert.equal(parent.token.state, 'rotated');
        assert.equal(parent.token.successorHash, successor.tokenHash);
        assert.equal(parent.token.successorSealed, sealed);
        assert.ok(parent.token.rotatedAt !== undefined);
        assert.ok(parent.token.rotatedAt >= before && parent.token.rotatedAt <= afterwards);
        assert.equal(parent.token.generation, 1);

        const child = await store.findRefreshToken(successor.tokenHash);
        assert.ok(child);
        assert.equal(child.token.familyId, grant.familyId);
        assert.equal(child.token.generation, 2);
        assert.equal(child.token.state, 'active');
        assert.equal(child.token.expiresAt, successor.expiresAt);
        assert.ok(child.token.createdAt >= before && child.token.createdAt <= afterwards);
        assert.equal(child.token.rotatedAt, undefined);
        assert.equal(child.token.successorHash, undefined);
        assert.equal(child.token.successorSealed, undefined);
        assert.deepStrictEqual(parent.successor, child.token);

        // The next use of the parent sees the successor in its snapshot.
        const replay = await store.useRefreshToken(first.tokenHash, (s) => {
          assert.deepStrictEqual(s?.successor, child.token);
          return { action: 'replay' };
        });
        assert.deepStrictEqual(replay.snapshot?.successor, child.token);

        // And the chain goes on from the successor.
        const third = newToken();
        await store.useRefreshToken(successor.tokenHash, () => rotateTo(third));
        assert.equal((await store.findRefreshToken(third.tokenHash))?.token.generation, 3);
      });

      it('refuses to rotate a token that is no longer active, changing nothing', async () => {
        const { first } = await seedGrant();
        const second = newToken();
        await store.useRefreshToken(first.tokenHash, () => rotateTo(second));
        const before = await store.findRefreshToken(first.tokenHash);
        const third = newToken();
        await assert.rejects(store.useRefreshToken(first.tokenHash, () => rotateTo(third)));
        assert.deepStrictEqual(await store.findRefreshToken(first.tokenHash), before);
        assert.equal(await store.findRefreshToken(third.tokenHash), undefined);
      });

      it('rolls back a rotation whose successor cannot be inserted', async () => {
        const { first } = await seedGrant();
        const taken = (await seedGrant()).first;
        const before = await store.findRefreshToken(first.tokenHash);
        await assert.rejects(
          store.useRefreshToken(first.tokenHash, () => rotateTo({ tokenHash: taken.tokenHash, expiresAt: now() + 60 })),
        );
        assert.deepStrictEqual(await store.findRefreshToken(first.tokenHash), before);
        assert.equal((await store.findRefreshToken(taken.tokenHash))?.token.generation, 1);
      });

      it("rotate and reject record the decision's time (one clock: the core's)", async () => {
        const { first } = await seedGrant();
        const successor = newToken();
        const at = now() - 1234;
        await store.useRefreshToken(first.tokenHash, () => ({ ...rotateTo(successor), at }));
        const parent = await store.findRefreshToken(first.tokenHash);
        assert.equal(parent?.token.rotatedAt, at);
        const child = await store.findRefreshToken(successor.tokenHash);
        assert.equal(child?.token.createdAt, at);
        await store.useRefreshToken(first.tokenHash, () => ({ action: 'reject', reason: 'reuse', revokeFamily: true, at: at + 7 }));
        assert.equal((await store.getGrant(parent!.grant.familyId))?.revokedAt, at + 7);
      });

      it('keep slides the expiry and leaves the token active', async () => {
        const { first } = await seedGrant();
        const slid = first.expiresAt + 500;
        const use = await store.useRefreshToken(first.tokenHash, () => ({ action: 'keep', expiresAt: slid }));
        assert.equal(use.snapshot?.token.expiresAt, first.expiresAt);
        const snap = await store.findRefreshToken(first.tokenHash);
        assert.equal(snap?.token.expiresAt, slid);
        assert.equal(snap?.token.state, 'active');
        assert.equal(snap?.token.successorHash, undefined);
      });

      it('replay changes no token; the family records the replayed generation and when', async () => {
        const { grant, first } = await seedGrant();
        const second = newToken();
        await store.useRefreshToken(first.tokenHash, () => rotateTo(second));
        const before = await store.findRefreshToken(first.tokenHash);
        const at = now() - 77;
        const use = await store.useRefreshToken(first.tokenHash, () => ({ action: 'replay', at }));
        assert.deepStrictEqual(use.snapshot, before);
        const afterwards = await store.findRefreshToken(first.tokenHash);
        assert.deepStrictEqual(afterwards?.token, before?.token);
        assert.deepStrictEqual(afterwards?.successor, before?.successor);
        assert.deepStrictEqual(afterwards?.grant, { ...grant, replayGeneration: 1, replayedAt: at });
        const successor = before?.successor;
        assert.ok(successor);
        assert.deepStrictEqual((await store.findRefreshToken(successor.tokenHash))?.token, successor);
        // The next generation's replay is recorded over it, and seen in the next snapshot.
        await store.useRefreshToken(second.tokenHash, () => rotateTo(newToken()));
        await store.useRefreshToken(second.tokenHash, (s) => {
          assert.equal(s?.grant.replayGeneration, 1);
          return { action: 'replay', at: at + 1 };
        });
        const latest = await store.getGrant(grant.familyId);
        assert.equal(latest?.replayGeneration, 2);
        assert.equal(latest?.replayedAt, at + 1);
      });

      it('keep records when the token was used', async () => {
        const { first } = await seedGrant();
        const at = now() - 55;
        await store.useRefreshToken(first.tokenHash, () => ({ action: 'keep', expiresAt: first.expiresAt + 10, at }));
        const snap = await store.findRefreshToken(first.tokenHash);
        assert.equal(snap?.token.usedAt, at);
        assert.equal(snap?.token.expiresAt, first.expiresAt + 10);
      });

      it('rotate with bindDpopJkt binds the unbound family from the successor on, atomically', async () => {
        const { grant, first } = await seedGrant();
        const second = newToken();
        await store.useRefreshToken(first.tokenHash, () => ({ ...rotateTo(second), bindDpopJkt: 'jkt-bound' }));
        assert.deepStrictEqual(await store.getGrant(grant.familyId), { ...grant, dpopJkt: 'jkt-bound', dpopBoundFrom: 2 });
        assert.equal((await store.findRefreshToken(second.tokenHash))?.token.generation, 2);
        // A bound family is never bound again: the rotation fails and changes nothing.
        const before = await store.findRefreshToken(second.tokenHash);
        const third = newToken();
        await assert.rejects(store.useRefreshToken(second.tokenHash, () => ({ ...rotateTo(third), bindDpopJkt: 'jkt-other' })));
        assert.deepStrictEqual(await store.findRefreshToken(second.tokenHash), before);
        assert.equal(await store.findRefreshToken(third.tokenHash), undefined);
        assert.equal((await store.getGrant(grant.familyId))?.dpopJkt, 'jkt-bound');
        // Without a binding, rotation goes on.
        await store.useRefreshToken(second.tokenHash, () => rotateTo(third));
        assert.equal((await store.findRefreshToken(third.tokenHash))?.token.generation, 3);
      });

      it('reject with revokeFamily revokes the grant with reason reuse; without it changes nothing', async () => {
        const { grant, first } = await seedGrant();
        await store.useRefreshToken(first.tokenHash, () => ({ action: 'reject', reason: 'expired' }));
        assert.deepStrictEqual(await store.getGrant(grant.familyId), grant);

        const before = now();
        const use = await store.useRefreshToken(first.tokenHash, () => ({
          action: 'reject',
          reason: 'reuse',
          revokeFamily: true,
        }));
        assert.equal(use.snapshot?.grant.revokedAt, undefined);
        const revoked = await store.getGrant(grant.familyId);
        assert.equal(revoked?.revokedReason, 'reuse');
        assert.ok(revoked?.revokedAt !== undefined && revoked.revokedAt >= before);
        assert.equal((await store.findRefreshToken(first.tokenHash))?.grant.revokedReason, 'reuse');
      });

      it("reject with revokeFamily records the rejection's reason (shadowing)", async () => {
        const { grant, first } = await seedGrant();
        await store.useRefreshToken(first.tokenHash, () => ({ action: 'reject', reason: 'shadowing', revokeFamily: true }));
        assert.equal((await store.getGrant(grant.familyId))?.revokedReason, 'shadowing');
      });

      it('reject with revokeFamily keeps an earlier revocation', async () => {
        const { grant, first } = await seedGrant();
        const at = now() - 30;
        await store.revokeGrant(grant.familyId, 'revocation', at);
        await store.useRefreshToken(first.tokenHash, () => ({ action: 'reject', reason: 'revoked', revokeFamily: true }));
        const g = await store.getGrant(grant.familyId);
        assert.equal(g?.revokedAt, at);
        assert.equal(g?.revokedReason, 'revocation');
      });

      it('a throwing decide propagates its error and changes nothing', async () => {
        const { grant, first } = await seedGrant();
        const before = await store.findRefreshToken(first.tokenHash);
        const boom = new Error('decide failed');
        await assert.rejects(
          store.useRefreshToken(first.tokenHash, () => {
            throw boom;
          }),
          (error) => error === boom,
        );
        assert.deepStrictEqual(await store.findRefreshToken(first.tokenHash), before);
        assert.deepStrictEqual(await store.getGrant(grant.familyId), grant);
        // The store is still usable afterwards (no transaction left open).
        await store.useRefreshToken(first.tokenHash, () => rotateTo(newToken()));
        assert.equal((await store.findRefreshToken(first.tokenHash))?.token.state, 'rotated');
      });

      it('50 concurrent uses of one token: exactly one rotation, 49 replays, one successor row', async () => {
        const { first } = await seedGrant();
        const candidates: string[] = [];
        const uses = await Promise.all(
          Array.from({ length: 50 }, () => {
            const successor = newToken();
            candidates.push(successor.tokenHash);
            return store.useRefreshToken(first.tokenHash, (s): RefreshDecision =>
              s?.token.state === 'active' ? rotateTo(successor) : { action: 'replay' },
            );
          }),
        );
        const rotations = uses.filter((u) => u.decision.action === 'rotate');
        assert.equal(rotations.length, 1);
        assert.equal(uses.filter((u) => u.decision.action === 'replay').length, 49);
        // Every replay saw the committed rotation.
        for (const u of uses) {
          if (u.decision.action === 'replay') assert.equal(u.snapshot?.token.state, 'rotated');
        }
        const found = [];
        for (const hash of candidates) {
          if (await store.findRefreshToken(hash)) found.push(hash);
        }
        assert.equal(found.length, 1);
        const winner = rotations[0].decision;
        assert.ok(winner.action === 'rotate');
        assert.equal(found[0], winner.successor.tokenHash);
        assert.equal((await store.findRefreshToken(first.tokenHash))?.token.successorHash, found[0]);
      });
    });

    describe('durability across handles', () => {
      it('a second handle sees what the first committed, and the other way round', async () => {
        const { grant, first } = await seedGrant();
        const successor = newToken();
        await store.useRefreshToken(first.tokenHash, () => rotateTo(successor));
        const other = await harness.reopen();
        const seen = await other.findRefreshToken(first.tokenHash);
        assert.equal(seen?.token.state, 'rotated');
        assert.equal(seen?.successor?.tokenHash, successor.tokenHash);
        assert.deepStrictEqual(await other.getGrant(grant.familyId), grant);

        // Rotation through the second handle is visible to the first, and holds across both.
        const third = newToken();
        await other.useRefreshToken(successor.tokenHash, () => rotateTo(third));
        assert.equal((await store.findRefreshToken(successor.tokenHash))?.token.state, 'rotated');
        await assert.rejects(store.useRefreshToken(successor.tokenHash, () => rotateTo(newToken())));
        const key = randomId();
        assert.equal(await other.consumeOnce('conformance', key, now() + 60), true);
        assert.equal(await store.consumeOnce('conformance', key, now() + 60), false);
      });
    });

    describe('consumeOnce', () => {
      it('is true the first time and false until the entry expires', async () => {
        const key = randomId();
        assert.equal(await store.consumeOnce('jti', key, now() + 60), true);
        assert.equal(await store.consumeOnce('jti', key, now() + 60), false);
        assert.equal(await store.consumeOnce('jti', key, now() + 3600), false);
        // Namespaces are independent.
        assert.equal(await store.consumeOnce('dpop', key, now() + 60), true);
      });

      it('treats an expired entry as absent', async () => {
        const key = randomId();
        assert.equal(await store.consumeOnce('jti', key, now() - 5), true);
        // Its expiry has passed, so it may be consumed again (and now holds until the new expiry).
        assert.equal(await store.consumeOnce('jti', key, now() + 60), true);
        assert.equal(await store.consumeOnce('jti', key, now() + 60), false);
      });

      it('holds under concurrency: one of 20 concurrent calls wins', async () => {
        const key = randomId();
        const results = await Promise.all(Array.from({ length: 20 }, () => store.consumeOnce('jti', key, now() + 60)));
        assert.equal(results.filter(Boolean).length, 1);
      });
    });

    describe('access tokens', () => {
      it('saves and finds opaque access tokens by hash, with and without jkt', async () => {
        const t = now();
        const bound: OpaqueAccessTokenRecord = {
          tokenHash: sha256(randomHandle(tokenPrefixes.accessToken)),
          jti: randomId(),
          familyId: randomId(),
          clientId: `c-${randomId()}`,
          subject: 'alice',
          scope: 'openid api:read',
          audience: ['https://api.example/', 'https://other.example/'],
          issuedAt: t,
          expiresAt: t + 900,
          jkt: 'thumb',
        };
        const { jkt: _omit, ...unbound } = { ...bound, tokenHash: sha256(randomHandle('x')), jti: randomId() };
        await store.saveOpaqueAccessToken(bound);
        await store.saveOpaqueAccessToken(unbound);
        assert.deepStrictEqual(await store.findOpaqueAccessToken(bound.tokenHash), bound);
        assert.deepStrictEqual(await store.findOpaqueAccessToken(unbound.tokenHash), unbound);
        assert.equal(await store.findOpaqueAccessToken(newHash()), undefined);
      });

      it('revokes access tokens by jti', async () => {
        const jti = randomId();
        assert.equal(await store.isAccessTokenRevoked(jti), false);
        await store.revokeAccessToken(jti, now() + 900);
        assert.equal(await store.isAccessTokenRevoked(jti), true);
        await store.revokeAccessToken(jti, now() + 900);
        assert.equal(await store.isAccessTokenRevoked(jti), true);
        assert.equal(await store.isAccessTokenRevoked(randomId()), false);
      });
    });

    describe('signing keys', () => {
      it('addSigningKey retires every earlier active key; listSigningKeys is oldest first', async () => {
        const t = now();
        const k1 = key(t);
        const k2 = key(t + 10);
        const k3 = key(t + 20);
        await store.addSigningKey(k1, t + 1000);
        await store.addSigningKey(k2, t + 2000);
        const afterK2 = (await store.listSigningKeys()).filter((k) => k.kid === k1.kid || k.kid === k2.kid);
        assert.deepStrictEqual(afterK2, [{ ...k1, retiredAt: k2.createdAt, removeAfter: t + 2000 }, k2]);

        await store.addSigningKey(k3, t + 3000);
        const mine = new Set([k1.kid, k2.kid, k3.kid]);
        const all = await store.listSigningKeys();
        for (let i = 1; i < all.length; i++) assert.ok(all[i - 1].createdAt <= all[i].createdAt);
        assert.deepStrictEqual(
          all.filter((k) => mine.has(k.kid)),
          [
            // Already retired: unchanged.
            { ...k1, retiredAt: k2.createdAt, removeAfter: t + 2000 },
            { ...k2, retiredAt: k3.createdAt, removeAfter: t + 3000 },
            k3,
          ],
        );
        // Exactly one key is not retired: the newest.
        assert.deepStrictEqual(all.filter((k) => k.retiredAt === undefined).map((k) => k.kid), [k3.kid]);
      });
    });

    describe('purgeExpired', () => {
      it('deletes at most limit rows, only expired ones, and counts them', async () => {
        // A clock far in the past: only rows this test writes with earlier expiries are expired.
        const T = 1_000_000 + Math.floor(Math.random() * 1_000_000);
        while ((await store.purgeExpired(T, 1000)) === 1000);
        assert.equal(await store.purgeExpired(T, 1000), 0);

        // Expired: a grant with two tokens (3 rows), one consumed key, one revoked mark,
        // one opaque access token, one signing key past removeAfter. 7 rows.
        const dead = await seedGrant({ createdAt: T - 100, authTime: T - 100, expiresAt: T - 10 }, {
          tokenHash: newHash(),
          expiresAt: T - 50,
        });
        const deadSuccessor = { tokenHash: newHash(), expiresAt: T - 10 };
        await store.useRefreshToken(dead.first.tokenHash, () => rotateTo(deadSuccessor));
        // Alive at T: a grant with one token.
        const live = await seedGrant({ createdAt: T - 100, authTime: T - 100, expiresAt: T + 1000 }, {
          tokenHash: newHash(),
          expiresAt: T - 50,
        });
        const ns = `purge-${randomId()}`;
        assert.equal(await store.consumeOnce(ns, 'dead', T - 10), true);
        assert.equal(await store.consumeOnce(ns, 'live', T + 10), true);
        const deadJti = randomId();
        const liveJti = randomId();
        await store.revokeAccessToken(deadJti, T - 10);
        await store.revokeAccessToken(liveJti, T + 10);
        const at = (expiresAt: number): OpaqueAccessTokenRecord => ({
          tokenHash: newHash(), jti: randomId(), familyId: live.grant.familyId, clientId: live.grant.clientId,
          subject: live.grant.subject, scope: '', audience: [], issuedAt: T - 100, expiresAt,
        });
        const deadAt = at(T - 10);
        const liveAt = at(T + 10);
        await store.saveOpaqueAccessToken(deadAt);
        await store.saveOpaqueAccessToken(liveAt);
        const kx = key(now() + 100);
        const ky = key(now() + 200);
        // Adding kx retires every other active key until far in the future; adding ky retires only kx, until T - 10.
        await store.addSigningKey(kx, now() + 100_000);
        await store.addSigningKey(ky, T - 10);

        assert.equal(await store.purgeExpired(T, 3), 3);
        assert.equal(await store.purgeExpired(T, 3), 3);
        assert.equal(await store.purgeExpired(T, 3), 1);
        assert.equal(await store.purgeExpired(T, 3), 0);

        assert.equal(await store.getGrant(dead.grant.familyId), undefined);
        assert.equal(await store.findRefreshToken(dead.first.tokenHash), undefined);
        assert.equal(await store.findRefreshToken(deadSuccessor.tokenHash), undefined);
        assert.deepStrictEqual(await store.getGrant(live.grant.familyId), live.grant);
        assert.equal((await store.findRefreshToken(live.first.tokenHash))?.token.generation, 1);
        assert.equal(await store.isAccessTokenRevoked(deadJti), false);
        assert.equal(await store.isAccessTokenRevoked(liveJti), true);
        assert.equal(await store.findOpaqueAccessToken(deadAt.tokenHash), undefined);
        assert.deepStrictEqual(await store.findOpaqueAccessToken(liveAt.tokenHash), liveAt);
        const kids = (await store.listSigningKeys()).map((k) => k.kid);
        assert.ok(!kids.includes(kx.kid));
        assert.ok(kids.includes(ky.kid));

        // What is left is alive at T.
        assert.equal(await store.purgeExpired(T, 1000), 0);
      });

      it('purges a large backlog in limit-sized batches', async () => {
        const T = 1_000_000 + Math.floor(Math.random() * 1_000_000);
        while ((await store.purgeExpired(T, 1000)) === 1000);
        const ns = `batch-${randomId()}`;
        for (let i = 0; i < 25; i++) await store.consumeOnce(ns, String(i), T - 1);
        const counts: number[] = [];
        for (let n = -1; n !== 0; ) counts.push((n = await store.purgeExpired(T, 10)));
        assert.deepStrictEqual(counts, [10, 10, 5, 0]);
      });
    });

    runAuthorizationConformance(() => ({ store, seedGrant, newToken, grantFor }));
  });
}
