/**
 * Clients: a record round-trips with and without its optional fields, is replaced whole on save,
 * listed in byte order, and deleted with its grants revoked (kept as tombstones).
 */
import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import type { Store } from '../../../src/core/store.ts';
import type { ClientRecord } from '../../../src/core/types.ts';
import { randomId, sha256 } from '../../../src/core/crypto.ts';
import { now, type ConformanceContext } from './fixtures.ts';

/**
 * Registers these cases. `runStoreConformance` (index.ts) calls it inside `describe('clients')`;
 * `suite` gives the store and helpers, once its `before` has opened the store.
 *
 * @example
 * ```ts
 * describe('clients', () => clientCases(() => context))
 * ```
 */
export function clientCases(suite: () => ConformanceContext): void {
  let store: Store;
  let seedGrant: ConformanceContext['seedGrant'];
  before(() => ({ store, seedGrant } = suite()));

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
}
