import assert from 'node:assert/strict';
import { test } from 'node:test';
import { calculatePKCECodeChallenge, randomNonce, randomPKCECodeVerifier, randomState } from '../src/pkce.ts';

test('RFC 7636 appendix B: the S256 challenge of the example verifier', async () => {
  assert.equal(await calculatePKCECodeChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'), 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
});

test('random values: 43 base64url characters (256 bits), a verifier RFC 7636 accepts, never the same twice', async () => {
  for (const make of [randomPKCECodeVerifier, randomState, randomNonce]) {
    const values = new Set(Array.from({ length: 100 }, make));
    assert.equal(values.size, 100, make.name);
    for (const value of values) assert.match(value, /^[A-Za-z0-9_-]{43}$/, make.name);
  }
  const verifier = randomPKCECodeVerifier();
  assert.match(await calculatePKCECodeChallenge(verifier), /^[A-Za-z0-9_-]{43}$/);
});

test('calculatePKCECodeChallenge: a verifier outside RFC 7636 section 4.1 is a TypeError', async () => {
  const table: Array<[string, unknown]> = [
    ['42 characters', 'a'.repeat(42)],
    ['129 characters', 'a'.repeat(129)],
    ['a character outside the unreserved set', `${'a'.repeat(42)}+`],
    ['a space', `${'a'.repeat(42)} `],
    ['non-ASCII', `${'a'.repeat(42)}é`],
    ['not a string', 42],
    ['undefined', undefined],
  ];
  for (const [name, verifier] of table) await assert.rejects(calculatePKCECodeChallenge(verifier as string), TypeError, name);
  // The bounds themselves and every unreserved character are fine.
  await calculatePKCECodeChallenge('a'.repeat(43));
  await calculatePKCECodeChallenge(`${'Az09-._~'.repeat(16)}`);
});
