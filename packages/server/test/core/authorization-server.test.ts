/**
 * Sessions (finding 4): a subject's grants listed with client, scope, creation, last use,
 * generation and DPoP binding; every grant of a subject, or of a client, revoked at once, one
 * `grant.revoked` event per grant with its reason. Real HTTP, real SQLite.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../support/harness.ts';

describe('AuthorizationServer sessions: listGrants and revokeGrants', () => {
  let h: Harness;
  const basic: Record<string, Record<string, string>> = {};

  before(async () => {
    h = await startHarness({ signingThread: false, frozenClock: true });
    for (const clientId of ['mail', 'calendar']) {
      const c = await h.client({ clientId, introspection: true });
      basic[clientId] = h.basic(c.clientId, c.clientSecret);
    }
    await h.client({ clientId: 'spa', authMethod: 'none' });
  });
  after(() => h.close());

  const refresh = (rt: string, clientId: string) =>
    h.post('/token', { grant_type: 'refresh_token', refresh_token: rt, ...(basic[clientId] ? {} : { client_id: clientId }) }, basic[clientId] ?? {});

  it("lists a subject's live grants with client, scope, created, last used, generation and DPoP binding, newest first", async () => {
    const mail = await h.server.issueGrant({ clientId: 'mail', subject: 'ann', scope: 'read' });
    h.advance(10);
    const calendar = await h.server.issueGrant({ clientId: 'calendar', subject: 'ann', scope: 'write' });
    h.advance(10);
    const spa = await h.server.issueGrant({ clientId: 'spa', subject: 'ann', scope: '', dpopJkt: 'a'.repeat(43) });
    await h.server.issueGrant({ clientId: 'mail', subject: 'someone-else', scope: 'read' });
    try {
      h.advance(5);
      let rt = (await refresh(mail.tokens.refresh_token!, 'mail')).json.refresh_token;
      h.advance(5);
      rt = (await refresh(rt, 'mail')).json.refresh_token;
      assert.ok(rt);

      const listed = await h.server.listGrants({ subject: 'ann' });
      assert.deepEqual(listed.map((g) => g.familyId), [spa.familyId, calendar.familyId, mail.familyId]);
      const byId = new Map(listed.map((g) => [g.familyId, g]));
      const m = byId.get(mail.familyId)!;
      assert.equal(m.clientId, 'mail');
      assert.equal(m.scope, 'read');
      assert.equal(m.createdAt, (await h.store.getGrant(mail.familyId))!.createdAt);
      assert.equal(m.generation, 3);
      assert.equal(m.lastUsedAt, m.createdAt + 30);
      assert.equal(m.dpopBound, false);
      assert.equal(m.active, true);
      const c = byId.get(calendar.familyId)!;
      assert.equal(c.generation, 1);
      assert.equal(c.lastUsedAt, undefined, 'never refreshed');
      const s = byId.get(spa.familyId)!;
      assert.equal(s.dpopBound, true);
      assert.equal(s.dpopJkt, 'a'.repeat(43));
      assert.deepEqual((await h.server.listGrants({ subject: 'ann', clientId: 'calendar' })).map((g) => g.familyId), [calendar.familyId]);
    } finally {
      h.advance(-30);
    }
  });

  it('revokes every grant of a subject ("log out everywhere"), one event per grant with its reason; inactive ones are listed only on request', async () => {
    const a = await h.server.issueGrant({ clientId: 'mail', subject: 'bea', scope: 'read' });
    const b = await h.server.issueGrant({ clientId: 'calendar', subject: 'bea', scope: 'read' });
    const other = await h.server.issueGrant({ clientId: 'mail', subject: 'cid', scope: 'read' });
    const before = h.events.length;
    const revoked = await h.server.revokeGrants({ subject: 'bea' }, 'account_compromised');
    assert.deepEqual([...revoked].sort(), [a.familyId, b.familyId].sort());
    const events = h.events.slice(before);
    assert.deepEqual(events.map((e) => [e.type, e.familyId, e.reason, e.subject]).sort(), [
      ['grant.revoked', a.familyId, 'account_compromised', 'bea'],
      ['grant.revoked', b.familyId, 'account_compromised', 'bea'],
    ].sort());
    for (const [{ tokens }, clientId] of [[a, 'mail'], [b, 'calendar']] as const) {
      assert.equal((await refresh(tokens.refresh_token!, clientId)).json.error, 'invalid_grant');
      assert.equal((await h.post('/introspect', { token: tokens.refresh_token! }, basic[clientId])).json.active, false);
    }
    assert.deepEqual(await h.server.listGrants({ subject: 'bea' }), []);
    const all = await h.server.listGrants({ subject: 'bea', includeInactive: true });
    assert.deepEqual(all.map((g) => [g.active, g.revokedReason]), [[false, 'account_compromised'], [false, 'account_compromised']]);
    assert.equal((await refresh(other.tokens.refresh_token!, 'mail')).status, 200);
    // Nothing left to revoke: no events.
    assert.deepEqual(await h.server.revokeGrants({ subject: 'bea' }), []);
  });

  it("revokes every grant of a client, and refuses a call that names neither subject nor client", async () => {
    await h.client({ clientId: 'retired' });
    const grants = await Promise.all(['dee', 'eve'].map((subject) => h.server.issueGrant({ clientId: 'retired', subject, scope: '' })));
    const revoked = await h.server.revokeGrants({ clientId: 'retired' }, 'client_retired');
    assert.deepEqual([...revoked].sort(), grants.map((g) => g.familyId).sort());
    const events = h.events.filter((e) => e.type === 'grant.revoked' && e.reason === 'client_retired');
    assert.deepEqual(events.map((e) => e.clientId), ['retired', 'retired']);
    await assert.rejects(h.server.revokeGrants({}), TypeError);
    await assert.rejects(h.server.revokeGrants({ subject: 'x' }, 'two words'), TypeError);
  });
});
