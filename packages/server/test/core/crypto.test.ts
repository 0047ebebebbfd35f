import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { deriveKey, randomHandle, seal, sealSuccessor, sha256, tokenPrefixes, unsealSuccessor } from '../../src/core/crypto.ts';

describe('sealSuccessor / unsealSuccessor', () => {
  const parent = randomHandle(tokenPrefixes.refreshToken);
  const successor = randomHandle(tokenPrefixes.refreshToken);

  it('recovers the successor with the parent token', () => {
    const sealed = sealSuccessor(parent, successor);
    assert.match(sealed, /^v2\.[A-Za-z0-9_-]+$/);
    assert.equal(unsealSuccessor(parent, sealed), successor);
  });

  it('hides the successor and depends on the parent, not on what the store holds', () => {
    const sealed = sealSuccessor(parent, successor);
    assert.equal(sealed.includes(successor.slice(tokenPrefixes.refreshToken.length, 20)), false);
    // Another parent (or the parent's stored hash) gives something that is not the successor.
    assert.notEqual(unsealSuccessor(randomHandle(tokenPrefixes.refreshToken), sealed), successor);
    assert.notEqual(unsealSuccessor(sha256(parent), sealed), successor);
    // Two parents sealing one successor use two different pads.
    assert.notEqual(sealSuccessor(randomHandle(tokenPrefixes.refreshToken), successor), sealed);
  });

  it('still opens successors sealed by earlier versions (AES-256-GCM under HKDF)', () => {
    const legacy = seal(deriveKey(parent, 'refresh-grant successor v1'), successor, 'successor');
    assert.equal(unsealSuccessor(parent, legacy), successor);
    assert.throws(() => unsealSuccessor(randomHandle(tokenPrefixes.refreshToken), legacy));
  });

  it('refuses successors longer than the pad', () => {
    assert.throws(() => sealSuccessor(parent, 'x'.repeat(65)), TypeError);
    assert.throws(() => unsealSuccessor(parent, `v2.${Buffer.alloc(65).toString('base64url')}`));
  });
});
