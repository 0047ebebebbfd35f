/**
 * decideRefresh, the pure decision taken under the store's lock, table-driven over the
 * states a presented refresh token can be in. A successor is made only when rotating.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decideRefresh, type RefreshRules } from '../../../src/core/grants/refresh-token.ts';
import type { RefreshSnapshot } from '../../../src/core/store.ts';
import { clientDefaults, type ClientRecord } from '../../../src/core/types.ts';

const now = 1_800_000_000;
const client: ClientRecord = { clientId: 'app', authMethod: 'client_secret_basic', scope: '', resources: [], createdAt: 0, ...clientDefaults };

function snapshot(over: { token?: object; grant?: object; successor?: object | null } = {}): RefreshSnapshot {
  const s: RefreshSnapshot = {
    token: { tokenHash: 'h1', familyId: 'f', generation: 1, createdAt: now - 100, expiresAt: now + 100, state: 'active', ...over.token },
    grant: { familyId: 'f', clientId: 'app', subject: 's', scope: 'a b', resources: [], authTime: 0, createdAt: now - 100, expiresAt: now + 1000, ...over.grant },
  };
  if (over.successor) s.successor = { tokenHash: 'h2', familyId: 'f', generation: 2, createdAt: now - 5, expiresAt: now + 100, state: 'active', ...over.successor };
  return s;
}
const rotated = { state: 'rotated', rotatedAt: now - 5, successorHash: 'h2', successorSealed: 'sealed' };
const publicClient: ClientRecord = { ...client, authMethod: 'none' };

const cases: Array<{ name: string; snap: RefreshSnapshot | undefined; rules?: Partial<RefreshRules>; expect: string; reason?: string; bind?: string }> = [
  { name: 'unknown token', snap: undefined, expect: 'reject', reason: 'unknown' },
  { name: 'another client’s token', snap: snapshot({ grant: { clientId: 'other' } }), expect: 'reject', reason: 'foreign_client' },
  { name: 'revoked family', snap: snapshot({ grant: { revokedAt: now - 1 } }), expect: 'reject', reason: 'revoked' },
  { name: 'family past absolute expiry', snap: snapshot({ grant: { expiresAt: now } }), expect: 'reject', reason: 'expired' },
  { name: 'token past idle expiry', snap: snapshot({ token: { expiresAt: now - 1 } }), expect: 'reject', reason: 'expired' },
  { name: 'active token', snap: snapshot(), expect: 'rotate' },
  { name: 'rotated, in the window, successor unused', snap: snapshot({ token: rotated, successor: {} }), expect: 'replay' },
  { name: 'rotated, window over', snap: snapshot({ token: { ...rotated, rotatedAt: now - 31 }, successor: {} }), expect: 'reject', reason: 'reuse' },
  { name: 'rotated, successor already used', snap: snapshot({ token: rotated, successor: { state: 'rotated' } }), expect: 'reject', reason: 'reuse' },
  { name: 'rotated, window off', snap: snapshot({ token: rotated, successor: {} }), rules: { client: { ...client, retryWindow: 0 } }, expect: 'reject', reason: 'reuse' },
  { name: 'bound family, no proof', snap: snapshot({ grant: { dpopJkt: 'k' } }), expect: 'reject', reason: 'dpop_key_mismatch' },
  { name: 'bound family, proof by its key', snap: snapshot({ grant: { dpopJkt: 'k' } }), rules: { dpopJkt: 'k' }, expect: 'rotate' },
  { name: 'rotation off', snap: snapshot(), rules: { client: { ...client, rotation: false } }, expect: 'keep' },
  { name: 'public client, rotation off, unbound', snap: snapshot(), rules: { client: { ...client, authMethod: 'none', rotation: false } }, expect: 'rotate' },
  // Shadowing: replays in step across successive generations.
  { name: 'replay of generation 2 after a replay of generation 1 (in step)', snap: snapshot({ token: { ...rotated, generation: 2 }, grant: { replayGeneration: 1 }, successor: { generation: 3 } }), expect: 'reject', reason: 'shadowing' },
  { name: 'replay of generation 3 after a replay of generation 1 (a generation between)', snap: snapshot({ token: { ...rotated, generation: 3 }, grant: { replayGeneration: 1 }, successor: { generation: 4 } }), expect: 'replay' },
  { name: 'another replay of the same generation (retries, parallel requests)', snap: snapshot({ token: rotated, grant: { replayGeneration: 1 }, successor: {} }), expect: 'replay' },
  // RFC 9449 section 5: binding on proof.
  { name: 'public client, unbound family, valid proof', snap: snapshot(), rules: { client: publicClient, dpopJkt: 'k' }, expect: 'rotate', bind: 'k' },
  { name: 'public client, unbound family, no proof', snap: snapshot(), rules: { client: publicClient }, expect: 'rotate' },
  { name: 'confidential client, valid proof', snap: snapshot(), rules: { dpopJkt: 'k' }, expect: 'rotate' },
  { name: 'public client, bound family, proof by its key', snap: snapshot({ grant: { dpopJkt: 'k' } }), rules: { client: publicClient, dpopJkt: 'k' }, expect: 'rotate' },
  { name: 'token issued after the binding, another key', snap: snapshot({ token: { generation: 3 }, grant: { dpopJkt: 'k', dpopBoundFrom: 3 } }), rules: { client: publicClient, dpopJkt: 'x' }, expect: 'reject', reason: 'dpop_key_mismatch' },
  { name: 'token issued before the binding, replayed with the key', snap: snapshot({ token: rotated, grant: { dpopJkt: 'k', dpopBoundFrom: 2 }, successor: {} }), rules: { client: publicClient, dpopJkt: 'k' }, expect: 'replay' },
  { name: 'token issued before the binding, replayed without the key', snap: snapshot({ token: rotated, grant: { dpopJkt: 'k', dpopBoundFrom: 2 }, successor: {} }), rules: { client: publicClient }, expect: 'reject', reason: 'reuse' },
  { name: 'unbound family, replay with a proof (never binds)', snap: snapshot({ token: rotated, successor: {} }), rules: { client: publicClient, dpopJkt: 'k' }, expect: 'replay' },
];

describe('decideRefresh', () => {
  for (const c of cases) {
    it(`${c.name}: ${c.expect}${c.reason ? ` (${c.reason})` : ''}`, () => {
      let minted = 0;
      const rules: RefreshRules = {
        client,
        now,
        requestedScope: [],
        requestedResources: [],
        successor: () => (minted++, { tokenHash: 'new', sealed: 'sealed-new' }),
        ...c.rules,
      };
      const decision = decideRefresh(c.snap, rules);
      assert.equal(decision.action, c.expect);
      if (decision.action === 'reject') {
        assert.equal(decision.reason, c.reason);
        assert.equal(decision.revokeFamily === true, c.reason === 'reuse' || c.reason === 'shadowing', 'only reuse and shadowing revoke the family');
      }
      if (decision.action !== 'reject' && decision.action !== 'replay') assert.equal(decision.at, now);
      if (decision.action === 'replay') assert.equal(decision.at, now, 'the replay is recorded at the core clock');
      assert.equal(decision.action === 'rotate' ? decision.bindDpopJkt : undefined, c.bind);
      assert.equal(minted, decision.action === 'rotate' ? 1 : 0, 'a successor is made only to rotate');
    });
  }

  it('a scope beyond the grant throws invalid_scope (the store then changes nothing)', () => {
    const rules: RefreshRules = { client, now, requestedScope: ['a', 'c'], requestedResources: [], successor: () => ({ tokenHash: 'n', sealed: 's' }) };
    assert.throws(() => decideRefresh(snapshot(), rules), { error: 'invalid_scope' });
  });
});
