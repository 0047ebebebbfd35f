import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { accessTokenKey, deriveKey, handleKey, randomHandle, randomId, refreshTokenKey, seal, sealSuccessor, sha256, timeOrderedHandle, tokenPrefixes, unsealSuccessor } from '../../src/core/crypto.ts';

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

describe('timeOrderedHandle / handleKey', () => {
  const prefix = tokenPrefixes.refreshToken;

  it('makes a handle of prefix, 12 hex digits of the issue time in ms, and 256 random bits', () => {
    const before = Date.now();
    const handle = timeOrderedHandle(prefix);
    assert.match(handle, /^rg_rt_[0-9a-f]{12}[A-Za-z0-9_-]{43}$/);
    const at = parseInt(handle.slice(6, 18), 16);
    assert.ok(at >= before && at <= Date.now());
    assert.notEqual(timeOrderedHandle(prefix).slice(18), handle.slice(18));
  });

  it('keys sort by issue time and hold only the hash, never the handle', async () => {
    const first = timeOrderedHandle(prefix);
    await new Promise((resolve) => setTimeout(resolve, 3));
    const second = timeOrderedHandle(prefix);
    const [k1, k2] = [refreshTokenKey(first), refreshTokenKey(second)];
    assert.ok(k1 < k2, 'a later handle sorts after');
    assert.equal(k1, `${first.slice(6, 18)}.${sha256(first)}`);
    assert.equal(k1.includes(first.slice(18)), false);
  });

  it('falls back to the plain hash for anything not of that form', () => {
    for (const handle of [
      randomHandle(prefix), // the earlier form
      prefix + 'ZZZZZZZZZZZZ' + 'a'.repeat(43), // not hex
      prefix + '0'.repeat(12) + 'a'.repeat(42), // one short
      'rg_at_' + '0'.repeat(12) + 'a'.repeat(43), // another prefix
      '',
    ]) {
      assert.equal(handleKey(handle, prefix), sha256(handle), handle);
    }
    const at = timeOrderedHandle(tokenPrefixes.accessToken);
    assert.equal(accessTokenKey(at), `${at.slice(6, 18)}.${sha256(at)}`);
    assert.equal(refreshTokenKey(at), sha256(at));
  });
});

describe('randomId', () => {
  it('is 22 base64url characters that never begin with "-" (ids follow command-line flags)', () => {
    let dashes = 0;
    for (let i = 0; i < 20_000; i++) {
      const id = randomId();
      assert.match(id, /^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
      if (id.includes('-')) dashes++;
    }
    assert.ok(dashes > 0, 'dashes still occur after the first character');
  });
});
