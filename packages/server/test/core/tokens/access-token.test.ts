import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { accessTokenKey, tokenPrefixes } from '../../../src/core/crypto.ts';
import { clientDefaults } from '../../../src/core/types.ts';
import type { ClientRecord, GrantRecord, SigningAlg } from '../../../src/core/types.ts';
import { openSqliteStore } from '../../../src/stores/sqlite-store.ts';
import type { SqliteStore } from '../../../src/stores/sqlite-store.ts';
import { KeyRing } from '../../../src/core/tokens/keyring.ts';
import { issueAccessToken } from '../../../src/core/tokens/access-token.ts';

const issuer = 'https://as.example.com';
const now = Math.floor(Date.now() / 1000);
let dir: string;
let store: SqliteStore;
let dbPath: string;
const keyStores: SqliteStore[] = [];

/** A key ring on its own SQLite file, closed in `after`. */
async function keyRing(alg: SigningAlg): Promise<KeyRing> {
  const keyDb = await openSqliteStore(path.join(dir, `keys-${keyStores.length}.db`));
  keyStores.push(keyDb);
  return KeyRing.load(keyDb, randomBytes(32), { alg, now });
}

function client(overrides: Partial<ClientRecord> = {}): ClientRecord {
  return { clientId: 'app', authMethod: 'none', scope: '', resources: [], ...clientDefaults, createdAt: now - 1000, ...overrides };
}

const grant: GrantRecord = {
  familyId: 'fam-123',
  clientId: 'app',
  subject: 'alice',
  scope: 'openid read write',
  resources: ['https://api.example.com'],
  authTime: now - 500,
  createdAt: now - 500,
  expiresAt: now + 86400,
};

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rg-at-'));
  dbPath = path.join(dir, 'at.db');
  store = await openSqliteStore(dbPath);
});
after(async () => {
  await store.close();
  for (const keyDb of keyStores) await keyDb.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

for (const alg of ['ES256', 'EdDSA'] as SigningAlg[]) {
  describe(`JWT access tokens (RFC 9068), ${alg}`, () => {
    let keys: KeyRing;
    before(async () => {
      keys = await keyRing(alg);
    });

    test('header typ at+jwt and the required claims; verifies with jose against the JWKS', async () => {
      const issued = await issueAccessToken(
        { issuer, client: client(), grant, scope: 'read', audience: ['https://api.example.com'], now },
        { keys, store },
      );
      assert.equal(issued.tokenType, 'Bearer');
      assert.equal(issued.expiresIn, clientDefaults.accessTokenTtl);
      assert.equal(issued.expiresAt, now + clientDefaults.accessTokenTtl);
      const { payload, protectedHeader } = await jwtVerify(issued.accessToken, createLocalJWKSet(keys.jwks()), {
        typ: 'at+jwt',
        issuer,
        audience: 'https://api.example.com',
        requiredClaims: ['iss', 'exp', 'aud', 'sub', 'client_id', 'iat', 'jti'],
      });
      assert.deepEqual(protectedHeader, { alg, kid: keys.current.kid, typ: 'at+jwt' });
      assert.deepEqual(payload, {
        iss: issuer,
        sub: 'alice',
        aud: 'https://api.example.com',
        client_id: 'app',
        scope: 'read',
        jti: issued.jti,
        iat: now,
        exp: now + clientDefaults.accessTokenTtl,
        sid: 'fam-123',
        auth_time: now - 500,
      });
      assert.deepEqual(await keys.verify(issued.accessToken, 'at+jwt'), payload);
    });

    test('several audiences stay an array; a DPoP-bound token carries cnf.jkt and type DPoP', async () => {
      const jkt = 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs';
      const issued = await issueAccessToken(
        { issuer, client: client({ accessTokenTtl: 60 }), grant, scope: '', audience: ['https://a.example', 'https://b.example'], jkt, now },
        { keys, store },
      );
      assert.equal(issued.tokenType, 'DPoP');
      const { payload } = await jwtVerify(issued.accessToken, createLocalJWKSet(keys.jwks()), { typ: 'at+jwt', audience: 'https://b.example' });
      assert.deepEqual(payload.aud, ['https://a.example', 'https://b.example']);
      assert.deepEqual(payload.cnf, { jkt });
      assert.equal(payload.exp, now + 60);
      assert.equal('scope' in payload, false);
    });

    test('every token gets a fresh jti', async () => {
      const req = { issuer, client: client(), grant, scope: 'read', audience: ['https://api.example.com'], now };
      const a = await issueAccessToken(req, { keys, store });
      const b = await issueAccessToken(req, { keys, store });
      assert.notEqual(a.jti, b.jti);
      assert.notEqual(a.accessToken, b.accessToken);
    });

    test('refuses to issue a JWT without an audience', async () => {
      await assert.rejects(
        issueAccessToken({ issuer, client: client(), grant, scope: 'read', audience: [], now }, { keys, store }),
        TypeError,
      );
    });
  });
}

describe('opaque access tokens', () => {
  test('stored by hash only, with what introspection needs', async () => {
    const keys = await keyRing('ES256');
    const jkt = 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs';
    const issued = await issueAccessToken(
      { issuer, client: client({ accessTokenFormat: 'opaque', accessTokenTtl: 300 }), grant, scope: 'read', audience: ['https://api.example.com'], jkt, now },
      { keys, store },
    );
    assert.ok(issued.accessToken.startsWith(tokenPrefixes.accessToken));
    assert.equal(issued.accessToken.split('.').length, 1);
    assert.equal(issued.tokenType, 'DPoP');
    assert.equal(issued.expiresIn, 300);

    const record = await store.findOpaqueAccessToken(accessTokenKey(issued.accessToken));
    assert.deepEqual(record, {
      tokenHash: accessTokenKey(issued.accessToken),
      jti: issued.jti,
      familyId: 'fam-123',
      clientId: 'app',
      subject: 'alice',
      scope: 'read',
      audience: ['https://api.example.com'],
      issuedAt: now,
      expiresAt: now + 300,
      jkt,
    });
    assert.equal(await store.findOpaqueAccessToken(issued.accessToken), undefined);

    // The token itself appears nowhere on disk (database file and its WAL).
    const secret = issued.accessToken.slice(tokenPrefixes.accessToken.length);
    for (const file of fs.readdirSync(dir).filter((f) => f.startsWith('at.db'))) {
      assert.equal(fs.readFileSync(path.join(dir, file)).includes(secret), false, file);
    }
    assert.ok(fs.readFileSync(dbPath + '-wal').includes(accessTokenKey(issued.accessToken)), 'the hash was written');

    // A Bearer opaque token has no jkt.
    const bearer = await issueAccessToken(
      { issuer, client: client({ accessTokenFormat: 'opaque' }), grant, scope: 'read', audience: [], now },
      { keys, store },
    );
    assert.equal(bearer.tokenType, 'Bearer');
    assert.equal((await store.findOpaqueAccessToken(accessTokenKey(bearer.accessToken)))?.jkt, undefined);
  });
});
