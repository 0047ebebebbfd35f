import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { calculateJwkThumbprint, createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { randomBytes } from 'node:crypto';
import { unseal } from '../../../src/core/crypto.ts';
import type { SigningAlg } from '../../../src/core/types.ts';
import { openSqliteStore } from '../../../src/stores/sqlite-store.ts';
import type { SqliteStore } from '../../../src/stores/sqlite-store.ts';
import { KeyRing, generateSigningKey } from '../../../src/core/tokens/keyring.ts';

const now = Math.floor(Date.now() / 1000);
let dir: string;
const stores: SqliteStore[] = [];

async function freshStore(): Promise<SqliteStore> {
  const store = await openSqliteStore(path.join(dir, `keys-${stores.length}.db`));
  stores.push(store);
  return store;
}

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rg-keyring-'));
});
after(async () => {
  for (const store of stores) await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('KeyRing.load', () => {
  test('creates the first ES256 key once and reuses it on reload and in another ring', async () => {
    const store = await freshStore();
    const kek = randomBytes(32);
    const ring = await KeyRing.load(store, kek, { now });
    assert.equal(ring.current.alg, 'ES256');
    const stored = await store.listSigningKeys();
    assert.equal(stored.length, 1);
    assert.equal(stored[0].kid, ring.current.kid);

    await ring.reload();
    const again = await KeyRing.load(store, kek, { now: now + 10 });
    assert.equal(ring.current.kid, stored[0].kid);
    assert.equal(again.current.kid, stored[0].kid);
    assert.equal((await store.listSigningKeys()).length, 1);

    // A token signed by one ring verifies in the other (same key, unsealed from the store).
    const jwt = await ring.sign({ sub: 'a', exp: now + 60 }, 'JWT');
    assert.deepEqual(await again.verify(jwt, 'JWT'), { sub: 'a', exp: now + 60 });
  });

  test('never stores the private key in plaintext; it is sealed to its kid', async () => {
    const kek = randomBytes(32);
    const record = await generateSigningKey('ES256', kek, now);
    assert.equal(record.publicJwk.d, undefined);
    const privateJwk = JSON.parse(unseal(kek, record.privateSealed, 'signing-key:' + record.kid)) as Record<string, string>;
    assert.equal(typeof privateJwk.d, 'string');
    assert.ok(!record.privateSealed.includes(privateJwk.d));
    assert.throws(() => unseal(kek, record.privateSealed, 'signing-key:other'));
    assert.throws(() => unseal(randomBytes(32), record.privateSealed, 'signing-key:' + record.kid));
  });

  test('the kid is the RFC 7638 thumbprint and the JWKS holds public members only', async () => {
    const store = await freshStore();
    const ring = await KeyRing.load(store, randomBytes(32), { alg: 'EdDSA', now });
    const { keys } = ring.jwks();
    assert.equal(keys.length, 1);
    assert.deepEqual(Object.keys(keys[0]).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x']);
    assert.equal(keys[0].kid, ring.current.kid);
    assert.equal(keys[0].alg, 'EdDSA');
    assert.equal(keys[0].use, 'sig');
    assert.equal(await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: keys[0].x as string }), ring.current.kid);
  });

  test('refuses a KEK that did not seal the keys', async () => {
    const store = await freshStore();
    await KeyRing.load(store, randomBytes(32), { now });
    await assert.rejects(KeyRing.load(store, randomBytes(32), { now }));
  });
});

for (const alg of ['ES256', 'EdDSA'] as SigningAlg[]) {
  describe(`${alg} signing`, () => {
    let ring: KeyRing;
    before(async () => {
      ring = await KeyRing.load(await freshStore(), randomBytes(32), { alg, now });
    });

    test('fast-path JWS verifies with jose against the published JWKS', async () => {
      const jwt = await ring.sign({ iss: 'https://as.example', sub: 'u', iat: now, exp: now + 60 }, 'at+jwt');
      const { payload, protectedHeader } = await jwtVerify(jwt, createLocalJWKSet(ring.jwks()), {
        typ: 'at+jwt',
        issuer: 'https://as.example',
      });
      assert.deepEqual(protectedHeader, { alg, kid: ring.current.kid, typ: 'at+jwt' });
      assert.equal(payload.sub, 'u');
      // The cached header is reused for the same typ and not for another.
      assert.equal((await ring.sign({ a: 1 }, 'at+jwt')).split('.')[0], jwt.split('.')[0]);
      assert.deepEqual(decodeProtectedHeader(await ring.sign({ a: 1 }, 'JWT')), { alg, kid: ring.current.kid, typ: 'JWT' });
    });

    test('verify() returns the payload of a valid token', async () => {
      const jwt = await ring.sign({ sub: 'u', exp: now + 60 }, 'at+jwt');
      assert.deepEqual(await ring.verify(jwt, 'at+jwt'), { sub: 'u', exp: now + 60 });
    });

    test('verify() rejects a wrong typ', async () => {
      const jwt = await ring.sign({ sub: 'u', exp: now + 60 }, 'JWT');
      assert.equal(await ring.verify(jwt, 'at+jwt'), undefined);
    });

    test('verify() rejects a tampered payload and a tampered signature', async () => {
      const [h, , s] = (await ring.sign({ sub: 'u', exp: now + 60 }, 'JWT')).split('.');
      const forged = Buffer.from(JSON.stringify({ sub: 'admin', exp: now + 60 })).toString('base64url');
      assert.equal(await ring.verify(`${h}.${forged}.${s}`, 'JWT'), undefined);
      const [h2, p2, s2] = (await ring.sign({ sub: 'u', exp: now + 60 }, 'JWT')).split('.');
      const sig = Buffer.from(s2, 'base64url');
      sig[0] ^= 1;
      assert.equal(await ring.verify(`${h2}.${p2}.${sig.toString('base64url')}`, 'JWT'), undefined);
    });

    test('verify() rejects an expired token', async () => {
      const jwt = await ring.sign({ sub: 'u', iat: now - 7200, exp: now - 3600 }, 'JWT');
      assert.equal(await ring.verify(jwt, 'JWT'), undefined);
    });

    test('verify() rejects a token from a key it does not hold and alg none', async () => {
      const other = await KeyRing.load(await freshStore(), randomBytes(32), { alg, now });
      assert.equal(await ring.verify(await other.sign({ sub: 'u', exp: now + 60 }, 'JWT'), 'JWT'), undefined);
      const none = Buffer.from(JSON.stringify({ alg: 'none', kid: ring.current.kid, typ: 'JWT' })).toString('base64url');
      const body = Buffer.from(JSON.stringify({ sub: 'u', exp: now + 60 })).toString('base64url');
      assert.equal(await ring.verify(`${none}.${body}.`, 'JWT'), undefined);
    });
  });
}

describe('rotation', () => {
  test('the new key signs; the old one stays published until removeAfter and its tokens still verify', async () => {
    const store = await freshStore();
    const kek = randomBytes(32);
    const ring = await KeyRing.load(store, kek, { now: now - 100 });
    const oldKid = ring.current.kid;
    const oldToken = await ring.sign({ sub: 'u', exp: now + 600 }, 'at+jwt');

    const removeAfter = now + 900;
    const record = await ring.rotate({ now, removeRetiredAfter: removeAfter, alg: 'EdDSA' });
    assert.equal(ring.current.kid, record.kid);
    assert.equal(ring.current.alg, 'EdDSA');
    assert.notEqual(record.kid, oldKid);
    const newToken = await ring.sign({ sub: 'u', exp: now + 600 }, 'at+jwt');
    assert.equal(decodeProtectedHeader(newToken).kid, record.kid);

    const stored = await store.listSigningKeys();
    assert.equal(stored.length, 2);
    assert.equal(stored[0].retiredAt, now);
    assert.equal(stored[0].removeAfter, removeAfter);
    assert.equal(stored[1].retiredAt, undefined);

    // Both published now; both tokens verify with jose against the JWKS and with verify().
    assert.deepEqual(ring.jwks().keys.map((k) => k.kid).sort(), [oldKid, record.kid].sort());
    const jwks = createLocalJWKSet(ring.jwks());
    for (const jwt of [oldToken, newToken]) {
      await jwtVerify(jwt, jwks, { typ: 'at+jwt' });
      assert.ok(await ring.verify(jwt, 'at+jwt'));
    }

    // Past removeAfter, the old key is no longer published nor trusted.
    assert.deepEqual(ring.jwks(removeAfter).keys.map((k) => k.kid), [record.kid]);
    assert.ok(await ring.verify(await ring.sign({ sub: 'u', exp: removeAfter + 600 }, 'at+jwt'), 'at+jwt', removeAfter));
    assert.equal(await ring.verify(oldToken, 'at+jwt', removeAfter), undefined);

    // Rotating again keeps the alg of the current key by default.
    const third = await ring.rotate({ now: now + 1, removeRetiredAfter: now + 901 });
    assert.equal(third.alg, 'EdDSA');
  });

  test('reload() picks up a rotation done through another ring (another process)', async () => {
    const store = await freshStore();
    const kek = randomBytes(32);
    const server = await KeyRing.load(store, kek, { now: now - 100 });
    const cli = await KeyRing.load(store, kek, { now: now - 100 });
    const record = await cli.rotate({ now, removeRetiredAfter: now + 900 });
    assert.notEqual(server.current.kid, record.kid);
    const beforeReload = await server.sign({ sub: 'u', exp: now + 60 }, 'JWT');
    await server.reload();
    assert.equal(server.current.kid, record.kid);
    // What it signed before the reload still verifies everywhere.
    assert.ok(await cli.verify(beforeReload, 'JWT'));
    assert.ok(await server.verify(beforeReload, 'JWT'));
    assert.ok(await cli.verify(await server.sign({ sub: 'u', exp: now + 60 }, 'JWT'), 'JWT'));
  });
});
