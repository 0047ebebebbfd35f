/**
 * The store conformance suite, part two: authorization codes, pushed authorization requests
 * (RFC 9126) and consents. Registered by `runStoreConformance` (index.ts), so every backend
 * runs it unchanged, through the {@link Store} interface only, with fresh random ids.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { authorizationCodeRetention, type Store } from '../../../src/core/store.ts';
import type {
  AuthorizationCodeRecord,
  ClientRecord,
  GrantRecord,
  NewRefreshToken,
  PushedAuthorizationRequestRecord,
} from '../../../src/core/types.ts';
import { randomHandle, randomId, sha256 } from '../../../src/core/crypto.ts';

/** What the main suite hands over (its store is opened in its `before`). */
export interface AuthorizationConformanceContext {
  store: Store;
  seedGrant(overrides?: Partial<GrantRecord>): Promise<{ grant: GrantRecord; first: NewRefreshToken }>;
  newToken(expiresIn?: number): NewRefreshToken;
  grantFor(overrides?: Partial<GrantRecord>): GrantRecord;
}

const now = (): number => Math.floor(Date.now() / 1000);

function code(overrides: Partial<AuthorizationCodeRecord> = {}): AuthorizationCodeRecord {
  const t = now();
  return {
    codeHash: sha256(randomHandle('rg_ac_')),
    clientId: `client-${randomId()}`,
    redirectUri: 'https://app.example/cb',
    codeChallenge: sha256(randomId()),
    subject: `sub-${randomId()}`,
    scope: 'openid offline_access',
    resources: [],
    authTime: t - 5,
    familyId: randomId(),
    createdAt: t,
    expiresAt: t + 60,
    ...overrides,
  };
}

/** The grant an exchange of `c` creates. */
function grantOf(ctx: AuthorizationConformanceContext, c: AuthorizationCodeRecord): GrantRecord {
  return ctx.grantFor({ familyId: c.familyId, clientId: c.clientId, subject: c.subject, scope: c.scope });
}

/**
 * Registers the authorization-flow cases; `get` is called inside each test (the store opens in a `before`).
 *
 * @example
 * ```ts
 * runAuthorizationConformance(() => ({ store, seedGrant, newToken, grantFor }))
 * ```
 */
export function runAuthorizationConformance(get: () => AuthorizationConformanceContext): void {
  describe('authorization codes', () => {
    it('round-trips a code with every optional field, and without them', async () => {
      const { store } = get();
      const full = code({
        resources: ['https://api.example/'],
        nonce: 'n-0S6_WzA2Mj',
        idTokenClaims: { acr: 'urn:x:loa:2', amr: ['pwd', 'otp'] },
        dpopJkt: 'jkt-thumbprint',
      });
      const bare = code();
      await store.saveAuthorizationCode(full);
      await store.saveAuthorizationCode(bare);
      assert.deepStrictEqual(await store.findAuthorizationCode(full.codeHash), full);
      assert.deepStrictEqual(await store.findAuthorizationCode(bare.codeHash), bare);
      assert.equal(await store.findAuthorizationCode(sha256(randomId())), undefined);
    });

    it('redeems once: the code is marked used and its grant created with its first token', async () => {
      const ctx = get();
      const c = code();
      await ctx.store.saveAuthorizationCode(c);
      const grant = grantOf(ctx, c);
      const first = ctx.newToken();
      const at = now();
      assert.equal(await ctx.store.redeemAuthorizationCode(c.codeHash, { grant, firstToken: first, now: at }), 'redeemed');
      assert.deepStrictEqual(await ctx.store.findAuthorizationCode(c.codeHash), { ...c, usedAt: at });
      assert.deepStrictEqual(await ctx.store.getGrant(c.familyId), grant);
      assert.equal((await ctx.store.findRefreshToken(first.tokenHash))?.token.generation, 1);
    });

    it('a second redemption revokes the family the first created (reason code_replay), creating nothing', async () => {
      const ctx = get();
      const c = code();
      await ctx.store.saveAuthorizationCode(c);
      const first = ctx.newToken();
      await ctx.store.redeemAuthorizationCode(c.codeHash, { grant: grantOf(ctx, c), firstToken: first, now: now() });
      const again = ctx.newToken();
      const later = now() + 7;
      assert.equal(await ctx.store.redeemAuthorizationCode(c.codeHash, { grant: grantOf(ctx, c), firstToken: again, now: later }), 'replayed');
      const grant = await ctx.store.getGrant(c.familyId);
      assert.equal(grant?.revokedAt, later);
      assert.equal(grant?.revokedReason, 'code_replay');
      assert.equal(await ctx.store.findRefreshToken(again.tokenHash), undefined);
      assert.equal((await ctx.store.findAuthorizationCode(c.codeHash))?.usedAt !== undefined, true);
    });

    it('an unknown code is unknown and changes nothing', async () => {
      const ctx = get();
      const grant = ctx.grantFor();
      const first = ctx.newToken();
      assert.equal(await ctx.store.redeemAuthorizationCode(sha256(randomId()), { grant, firstToken: first, now: now() }), 'unknown');
      assert.equal(await ctx.store.getGrant(grant.familyId), undefined);
    });

    it('is atomic: a redemption whose grant cannot be created leaves the code unused', async () => {
      const ctx = get();
      const { first: taken } = await ctx.seedGrant();
      const c = code();
      await ctx.store.saveAuthorizationCode(c);
      // The first token's hash collides with an existing token: the insert fails.
      await assert.rejects(ctx.store.redeemAuthorizationCode(c.codeHash, { grant: grantOf(ctx, c), firstToken: { tokenHash: taken.tokenHash, expiresAt: now() + 60 }, now: now() }));
      assert.equal((await ctx.store.findAuthorizationCode(c.codeHash))?.usedAt, undefined);
      assert.equal(await ctx.store.getGrant(c.familyId), undefined);
      assert.equal(await ctx.store.redeemAuthorizationCode(c.codeHash, { grant: grantOf(ctx, c), firstToken: ctx.newToken(), now: now() }), 'redeemed');
    });

    it('20 concurrent redemptions of one code: exactly one redeems, the others revoke its family', async () => {
      const ctx = get();
      const c = code();
      await ctx.store.saveAuthorizationCode(c);
      const tokens = Array.from({ length: 20 }, () => ctx.newToken());
      const results = await Promise.all(
        tokens.map((firstToken) => ctx.store.redeemAuthorizationCode(c.codeHash, { grant: grantOf(ctx, c), firstToken, now: now() })),
      );
      assert.equal(results.filter((r) => r === 'redeemed').length, 1);
      assert.equal(results.filter((r) => r === 'replayed').length, 19);
      let rows = 0;
      for (const t of tokens) if (await ctx.store.findRefreshToken(t.tokenHash)) rows++;
      assert.equal(rows, 1, 'one grant, one first token');
      assert.equal((await ctx.store.getGrant(c.familyId))?.revokedReason, 'code_replay');
    });
  });

  describe('pushed authorization requests', () => {
    function pushed(expiresAt = now() + 60): PushedAuthorizationRequestRecord {
      return {
        key: sha256(randomId()),
        request: {
          clientId: `client-${randomId()}`,
          redirectUri: 'https://app.example/cb',
          scope: 'openid offline_access',
          resources: ['https://api.example/'],
          state: 'xyz',
          nonce: 'n',
          codeChallenge: sha256(randomId()),
          prompt: ['login', 'consent'],
          maxAge: 0,
          loginHint: 'alice@example.com',
          dpopJkt: 'jkt',
        },
        expiresAt,
      };
    }

    it('is taken once: the first take returns it, every later one nothing', async () => {
      const { store } = get();
      const r = pushed();
      await store.savePushedAuthorizationRequest(r);
      assert.deepStrictEqual(await store.takePushedAuthorizationRequest(r.key, now()), r);
      assert.equal(await store.takePushedAuthorizationRequest(r.key, now()), undefined);
      assert.equal(await store.takePushedAuthorizationRequest(sha256(randomId()), now()), undefined);
      // Without the optional fields.
      const bare: PushedAuthorizationRequestRecord = { key: sha256(randomId()), request: { clientId: 'c', redirectUri: 'https://a/cb', scope: '', resources: [], codeChallenge: 'x', prompt: [] }, expiresAt: now() + 60 };
      await store.savePushedAuthorizationRequest(bare);
      assert.deepStrictEqual(await store.takePushedAuthorizationRequest(bare.key, now()), bare);
    });

    it('an expired request is not returned, and is gone', async () => {
      const { store } = get();
      const r = pushed(now() + 10);
      await store.savePushedAuthorizationRequest(r);
      assert.equal(await store.takePushedAuthorizationRequest(r.key, now() + 10), undefined);
      assert.equal(await store.takePushedAuthorizationRequest(r.key, now()), undefined);
    });

    it('10 concurrent takes of one request: exactly one gets it', async () => {
      const { store } = get();
      const r = pushed();
      await store.savePushedAuthorizationRequest(r);
      const results = await Promise.all(Array.from({ length: 10 }, () => store.takePushedAuthorizationRequest(r.key, now())));
      assert.equal(results.filter(Boolean).length, 1);
    });
  });

  describe('consents', () => {
    it('are remembered per client and subject, and replaced on save', async () => {
      const { store } = get();
      const clientId = `c-${randomId()}`;
      const subject = `s-${randomId()}`;
      assert.equal(await store.getConsent(clientId, subject), undefined);
      const first = { clientId, subject, scope: 'openid offline_access', grantedAt: now() - 10 };
      await store.saveConsent(first);
      assert.deepStrictEqual(await store.getConsent(clientId, subject), first);
      assert.equal(await store.getConsent(clientId, `other-${randomId()}`), undefined);
      assert.equal(await store.getConsent(`other-${randomId()}`, subject), undefined);
      const second = { clientId, subject, scope: 'openid', grantedAt: now() };
      await store.saveConsent(second);
      assert.deepStrictEqual(await store.getConsent(clientId, subject), second);
    });

    it('deleteClient forgets the consents given to the client, not those of others', async () => {
      const { store } = get();
      const client: ClientRecord = {
        clientId: `c-${randomId()}`, authMethod: 'none', scope: '', resources: [], rotation: true, retryWindow: 0,
        idleTtl: 1, absoluteTtl: 1, accessTokenTtl: 1, accessTokenFormat: 'jwt', idTokenTtl: 1, createdAt: now(),
      };
      await store.saveClient(client);
      const subject = `s-${randomId()}`;
      const other = { clientId: `o-${randomId()}`, subject, scope: 'openid', grantedAt: now() };
      await store.saveConsent({ clientId: client.clientId, subject, scope: 'openid', grantedAt: now() });
      await store.saveConsent(other);
      await store.deleteClient(client.clientId, now());
      assert.equal(await store.getConsent(client.clientId, subject), undefined);
      assert.deepStrictEqual(await store.getConsent(other.clientId, subject), other);
    });
  });

  describe('purgeExpired, authorization flow', () => {
    it(`deletes codes ${authorizationCodeRetention} s past their expiry and expired pushed requests, keeping the rest`, async () => {
      const { store } = get();
      const T = 3_000_000 + Math.floor(Math.random() * 1_000_000);
      while ((await store.purgeExpired(T, 1000)) === 1000);
      const dead = code({ createdAt: T - authorizationCodeRetention - 100, expiresAt: T - authorizationCodeRetention - 1 });
      // Expired, but within the retention: a second use must still find it.
      const retained = code({ createdAt: T - 100, expiresAt: T - 10, usedAt: T - 50 });
      await store.saveAuthorizationCode(dead);
      await store.saveAuthorizationCode(retained);
      const deadPar: PushedAuthorizationRequestRecord = { key: sha256(randomId()), request: { clientId: 'c', redirectUri: 'https://a/cb', scope: '', resources: [], codeChallenge: 'x', prompt: [] }, expiresAt: T - 1 };
      await store.savePushedAuthorizationRequest(deadPar);
      assert.equal(await store.purgeExpired(T, 1), 1);
      assert.equal(await store.purgeExpired(T, 10), 1);
      assert.equal(await store.purgeExpired(T, 10), 0);
      assert.equal(await store.findAuthorizationCode(dead.codeHash), undefined);
      assert.deepStrictEqual(await store.findAuthorizationCode(retained.codeHash), retained);
    });
  });
}
