/**
 * The node:crypto JWS signer against jose's verifier: thousands of ES256 signatures (so that
 * the short R and S values DER encodes in fewer octets, about 1 in 128 signatures, are among
 * them) and EdDSA ones, each verified by jose; and the DER to R || S conversion on edge cases.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { compactVerify } from 'jose';
import { derToRaw, JwsSigner } from '../../../src/core/tokens/jws.ts';

for (const [alg, type, count] of [['ES256', 'ec', 3000], ['EdDSA', 'ed25519', 200]] as const) {
  test(`${alg}: every signature verifies with jose (${count} signatures)`, async () => {
    const { privateKey, publicKey } =
      type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
    const signer = new JwsSigner({ kid: 'k1', alg, privateKey });
    for (let i = 0; i < count; i++) {
      const jwt = await signer.sign({ sub: 'alice', i }, 'at+jwt');
      const { protectedHeader, payload } = await compactVerify(jwt, publicKey, { algorithms: [alg] });
      assert.deepEqual(protectedHeader, { alg, kid: 'k1', typ: 'at+jwt' });
      assert.deepEqual(JSON.parse(new TextDecoder().decode(payload)), { sub: 'alice', i });
      if (alg === 'ES256') assert.equal(Buffer.from(jwt.split('.')[2], 'base64url').length, 64);
    }
  });
}

test('derToRaw: a 33-octet INTEGER loses its sign octet, a short one is left-padded', () => {
  const r = Buffer.concat([Buffer.from([0x00, 0x80]), Buffer.alloc(31, 0x11)]); // 33 octets
  const s = Buffer.from([0x01, 0x02]); // 2 octets
  const der = Buffer.concat([Buffer.from([0x30, 4 + r.length + s.length, 0x02, r.length]), r, Buffer.from([0x02, s.length]), s]);
  const raw = derToRaw(der, 32);
  assert.equal(raw.length, 64);
  assert.deepEqual(raw.subarray(0, 32), Buffer.concat([Buffer.from([0x80]), Buffer.alloc(31, 0x11)]));
  assert.deepEqual(raw.subarray(32), Buffer.concat([Buffer.alloc(30), Buffer.from([0x01, 0x02])]));
  assert.throws(() => derToRaw(Buffer.from([0x31, 0x00]), 32), /not a DER SEQUENCE/);
});
