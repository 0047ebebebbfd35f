/**
 * The DPoP building blocks without HTTP: nonces that instances agree on, proof validation as a
 * resource server uses it (`ath`), `htu` normalization, and the refresh decision for bound families.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { DpopNonces, dpopDefaults, dpopSigningAlgs, normalizeHtu, SpentProofs, verifyDpopProof, type DpopSettings } from '../../../src/core/auth/dpop.ts';
import { OAuthError } from '../../../src/core/errors.ts';
import { decideRefresh, type RefreshRules } from '../../../src/core/grants/refresh-token.ts';
import type { RefreshSnapshot, Store } from '../../../src/core/store.ts';
import { clientDefaults, type ClientRecord } from '../../../src/core/types.ts';
import { openSqliteStore } from '../../../src/stores/sqlite-store.ts';

describe('DpopNonces', () => {
  const kek = new Uint8Array(randomBytes(32));
  it('accepts the current and the previous slot only; instances with the same KEK agree', () => {
    const a = new DpopNonces(kek, 60);
    const b = new DpopNonces(new Uint8Array(kek), 60);
    const t = 1_700_000_040; // slot 28333334
    const nonce = a.current(t);
    assert.equal(b.current(t), nonce);
    assert.equal(a.current(t + 19), nonce, 'same slot');
    assert.ok(b.accepts(nonce, t));
    assert.ok(b.accepts(nonce, t + 60), 'previous slot');
    assert.ok(!b.accepts(nonce, t + 120), 'two slots later');
    assert.ok(!b.accepts(nonce, t - 60), 'a nonce from the future slot');
    assert.ok(!new DpopNonces(new Uint8Array(randomBytes(32)), 60).accepts(nonce, t), 'another KEK');
    assert.ok(!a.accepts('', t));
    assert.throws(() => new DpopNonces(kek, 0), TypeError);
  });
});

describe('SpentProofs', () => {
  it('knows a consumed proof until its jti expires, and forgets the oldest beyond its size', () => {
    const spent = new SpentProofs(2);
    spent.add('proof-a', 100);
    assert.equal(spent.has('proof-a', 99), true);
    assert.equal(spent.has('proof-a', 100), false, 'expired');
    assert.equal(spent.has('proof-b', 99), false);
    spent.add('proof-b', 100);
    spent.add('proof-c', 100);
    assert.equal(spent.size, 2);
    assert.equal(spent.has('proof-a', 1), false, 'the oldest was forgotten');
    assert.equal(spent.has('proof-c', 1), true);
  });
});

describe('normalizeHtu', () => {
  it('ignores query and fragment, default ports and case of scheme and host', () => {
    assert.equal(normalizeHtu('HTTPS://AS.Example:443/token?x=1#f'), 'https://as.example/token');
    assert.equal(normalizeHtu('http://127.0.0.1:80/a/../token'), 'http://127.0.0.1/token');
    assert.notEqual(normalizeHtu('https://as.example/Token'), normalizeHtu('https://as.example/token'));
    assert.equal(normalizeHtu('not a url'), undefined);
  });
});

describe('verifyDpopProof at a resource server (ath)', () => {
  let dir: string;
  let store: Store;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rg-dpop-unit-'));
    store = await openSqliteStore(join(dir, 'unit.db'));
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const settings: DpopSettings = { algorithms: dpopSigningAlgs, maxAge: dpopDefaults.maxAge, futureSkew: dpopDefaults.futureSkew };
  const url = 'https://api.example/me';

  async function sign(claims: Record<string, unknown>) {
    const { privateKey, publicKey } = await generateKeyPair('Ed25519');
    const jwk = await exportJWK(publicKey);
    const token = await new SignJWT({ htm: 'GET', htu: url, jti: randomUUID(), ...claims })
      .setProtectedHeader({ alg: 'Ed25519', typ: 'dpop+jwt', jwk })
      .setIssuedAt()
      .sign(privateKey);
    return { token, jkt: await calculateJwkThumbprint(jwk) };
  }

  it('accepts a proof whose ath hashes the access token, and returns its thumbprint', async () => {
    const ath = createHash('sha256').update('the-access-token').digest('base64url');
    const { token, jkt } = await sign({ ath });
    const now = Math.floor(Date.now() / 1000);
    const result = await verifyDpopProof({ header: token, method: 'GET', url: `${url}?q=1`, now, accessToken: 'the-access-token' }, { settings, store });
    assert.equal(result?.jkt, jkt);
    assert.equal(await verifyDpopProof({ header: undefined, method: 'GET', url, now }, { settings, store }), undefined);
  });

  it('refuses a proof without ath, or for another access token', async () => {
    const now = Math.floor(Date.now() / 1000);
    for (const claims of [{}, { ath: createHash('sha256').update('other').digest('base64url') }]) {
      const { token } = await sign(claims);
      await assert.rejects(
        verifyDpopProof({ header: token, method: 'GET', url, now, accessToken: 'the-access-token' }, { settings, store }),
        (e) => e instanceof OAuthError && e.error === 'invalid_dpop_proof' && /ath/.test(e.detail!),
      );
    }
  });
});

describe('decideRefresh for a DPoP-bound family', () => {
  const client: ClientRecord = { clientId: 'spa', authMethod: 'none', scope: '', resources: [], ...clientDefaults, createdAt: 0 };
  const now = 1_700_000_000;
  const jkt = 'A'.repeat(43);
  const grant = { familyId: 'f', clientId: 'spa', subject: 's', scope: 'read', resources: [], authTime: now, createdAt: now, expiresAt: now + 3600, dpopJkt: jkt };
  const rules = (dpopJkt?: string): RefreshRules => ({
    client,
    now,
    requestedScope: [],
    requestedResources: [],
    dpopJkt,
    successor: () => ({ tokenHash: 'h2', sealed: 'sealed' }),
  });
  const active: RefreshSnapshot = { grant, token: { tokenHash: 'h1', familyId: 'f', generation: 1, createdAt: now, expiresAt: now + 60, state: 'active' } };
  const rotated: RefreshSnapshot = {
    grant,
    token: { ...active.token, state: 'rotated', rotatedAt: now - 3600, successorHash: 'h2', successorSealed: 'x' },
    successor: { tokenHash: 'h2', familyId: 'f', generation: 2, createdAt: now - 3600, expiresAt: now + 60, state: 'active' },
  };

  it('rotates with the right key, refuses without it or with another', () => {
    assert.equal(decideRefresh(active, rules(jkt)).action, 'rotate');
    assert.deepEqual(decideRefresh(active, rules()), { action: 'reject', reason: 'dpop_key_mismatch' });
    assert.deepEqual(decideRefresh(active, rules('B'.repeat(43))), { action: 'reject', reason: 'dpop_key_mismatch' });
  });

  it('an old token presented without the key does not revoke the family; with the key it is reuse', () => {
    assert.deepEqual(decideRefresh(rotated, rules()), { action: 'reject', reason: 'dpop_key_mismatch' });
    assert.deepEqual(decideRefresh(rotated, rules(jkt)), { action: 'reject', reason: 'reuse', revokeFamily: true, at: now });
  });
});
