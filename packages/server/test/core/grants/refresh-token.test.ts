/**
 * The refresh token grant's rules over real HTTP and a real SQLite file: rotation, the
 * lost-response retry window, reuse detection, scope and resource narrowing, lifetimes,
 * foreign tokens, offline_access, and concurrency.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import { randomHandle, randomId, refreshTokenKey, sha256, tokenPrefixes } from '../../../src/core/crypto.ts';
import { startHarness, type Harness } from '../../support/harness.ts';

describe('refresh token grant', () => {
  let h: Harness;
  let auth: Record<string, string>;
  let other: Record<string, string>;

  before(async () => {
    h = await startHarness();
    const c = await h.client({ clientId: 'app', scope: 'openid offline_access read write', resources: ['https://api.example/', 'https://other.example/'], introspection: true });
    auth = h.basic(c.clientId, c.clientSecret);
    const o = await h.client({ clientId: 'other' });
    other = h.basic(o.clientId, o.clientSecret);
  });
  after(() => h.close());

  async function grant(scope = 'read write', resources?: string[]) {
    return (await h.server.issueGrant({ clientId: 'app', subject: 'alice', scope, resources })).tokens;
  }
  const refresh = (refreshToken: string, extra: Record<string, string | string[]> = {}, headers = auth) =>
    h.post('/token', { grant_type: 'refresh_token', refresh_token: refreshToken, ...extra }, headers);

  it('still refreshes a token of the earlier form (no issue time, stored under its plain SHA-256)', async () => {
    const legacy = randomHandle(tokenPrefixes.refreshToken);
    assert.equal(refreshTokenKey(legacy), sha256(legacy));
    const now = Math.floor(Date.now() / 1000);
    await h.store.createGrant(
      { familyId: randomId(), clientId: 'app', subject: 'alice', scope: 'read', resources: [], authTime: now, createdAt: now, expiresAt: now + 3600 },
      { tokenHash: sha256(legacy), expiresAt: now + 3600 },
    );
    const res = await refresh(legacy);
    assert.equal(res.status, 200, res.text);
    // Its successor is of the new form, and a lost response is still answered with it.
    assert.match(res.json.refresh_token, /^rg_rt_[0-9a-f]{12}/);
    const retry = await refresh(legacy);
    assert.equal(retry.json.refresh_token, res.json.refresh_token);
  });

  it('a sealed successor that does not open to its recorded hash is a server_error, never handed out', async () => {
    const rt = (await grant()).refresh_token!;
    const first = await refresh(rt);
    assert.equal(first.status, 200);
    // Tamper with the stored seal (a damaged row): the retry must not answer with whatever it opens to.
    const db = new DatabaseSync(join(h.dir, 'test.db'));
    try {
      db.prepare('UPDATE refresh_tokens SET successor_sealed = ? WHERE token_hash = ?').run(`v2.${Buffer.alloc(61).toString('base64url')}`, refreshTokenKey(rt));
    } finally {
      db.close();
    }
    const retry = await refresh(rt);
    assert.equal(retry.status, 500);
    assert.deepEqual(Object.keys(retry.json).sort(), ['error', 'error_description']);
    assert.equal(retry.json.error, 'server_error');
    assert.equal(retry.text.includes('rg_rt_'), false);
    // The successor itself still works: nothing was revoked.
    assert.equal((await refresh(first.json.refresh_token)).status, 200);
  });

  it('rotates: a new refresh token with the recognisable prefix, its issue time and 256 bits, and a section 5.1 response', async () => {
    const first = await grant();
    const res = await refresh(first.refresh_token!);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const body = res.json;
    assert.match(body.refresh_token, /^rg_rt_[0-9a-f]{12}[A-Za-z0-9_-]{43}$/);
    const issuedAt = parseInt(body.refresh_token.slice(6, 18), 16);
    assert.ok(Math.abs(issuedAt - Date.now()) < 60_000, 'the issue time, in ms');
    assert.notEqual(body.refresh_token, first.refresh_token);
    assert.equal(body.token_type, 'Bearer');
    assert.equal(body.expires_in, 900);
    assert.equal(body.scope, 'read write');
    assert.equal(body.id_token, undefined);
    const jwks = createLocalJWKSet(h.server.keys.jwks());
    const { payload, protectedHeader } = await jwtVerify(body.access_token, jwks, { issuer: h.issuer, typ: 'at+jwt' });
    assert.equal(protectedHeader.alg, 'ES256');
    assert.equal(payload.client_id, 'app');
    assert.equal(payload.sub, 'alice');
    assert.equal(payload.scope, 'read write');
    assert.equal(payload.aud, h.issuer);
    assert.ok(payload.jti && payload.iat && payload.exp);
  });

  it('the successor works, and the chain goes on', async () => {
    let rt = (await grant()).refresh_token!;
    for (let i = 0; i < 5; i++) {
      const res = await refresh(rt);
      assert.equal(res.status, 200, res.text);
      rt = res.json.refresh_token;
    }
  });

  it('lost-response retry: the rotated token again within the window returns the SAME successor and a fresh access token', async () => {
    const rt = (await grant()).refresh_token!;
    const a = await refresh(rt);
    const b = await refresh(rt);
    assert.equal(a.status, 200);
    assert.equal(b.status, 200, b.text);
    assert.equal(b.json.refresh_token, a.json.refresh_token);
    assert.notEqual(b.json.access_token, a.json.access_token);
    // The successor still works afterwards.
    const c = await refresh(a.json.refresh_token);
    assert.equal(c.status, 200, c.text);
    assert.ok(h.events.some((e) => e.type === 'refresh_token.replayed'));
  });

  it('reuse after the window revokes the whole family', async () => {
    const rt = (await grant()).refresh_token!;
    const a = await refresh(rt);
    h.advance(31);
    try {
      const reuse = await refresh(rt);
      assert.equal(reuse.status, 400);
      assert.equal(reuse.json.error, 'invalid_grant');
      // The successor is dead too, and so are the family's access tokens.
      const next = await refresh(a.json.refresh_token);
      assert.equal(next.status, 400);
      assert.equal(next.json.error, 'invalid_grant');
      const intro = await h.post('/introspect', { token: a.json.access_token }, auth);
      assert.equal(intro.json.active, false);
    } finally {
      h.advance(-31);
    }
    const ev = h.events.find((e) => e.type === 'refresh_token.reuse_detected');
    assert.ok(ev?.familyId);
    assert.ok(!JSON.stringify(h.events).includes(rt), 'events never carry tokens');
  });

  it('reuse after the successor was used revokes the family, even within the window', async () => {
    const rt = (await grant()).refresh_token!;
    const a = await refresh(rt);
    const b = await refresh(a.json.refresh_token);
    assert.equal(b.status, 200);
    const reuse = await refresh(rt);
    assert.equal(reuse.json.error, 'invalid_grant');
    const next = await refresh(b.json.refresh_token);
    assert.equal(next.json.error, 'invalid_grant');
  });

  it('an older generation presented again revokes the family', async () => {
    const g1 = (await grant()).refresh_token!;
    const g2 = (await refresh(g1)).json.refresh_token;
    const g3 = (await refresh(g2)).json.refresh_token;
    h.advance(31);
    try {
      assert.equal((await refresh(g1)).json.error, 'invalid_grant');
      assert.equal((await refresh(g3)).json.error, 'invalid_grant');
    } finally {
      h.advance(-31);
    }
  });

  it('50 parallel requests with one refresh token: every 200 carries the same successor, no 5xx; the successor works; reuse after the window revokes', async () => {
    const rt = (await grant()).refresh_token!;
    const results = await Promise.all(Array.from({ length: 50 }, () => refresh(rt)));
    const statuses = results.map((r) => r.status);
    assert.ok(statuses.every((s) => s === 200), `statuses: ${statuses}`);
    const successors = new Set(results.map((r) => r.json.refresh_token));
    assert.equal(successors.size, 1);
    const [successor] = successors;
    const rotations = h.events.filter((e) => e.type === 'refresh_token.rotated' && e.familyId === decodeJwt(results[0].json.access_token).sid);
    assert.equal(rotations.length, 1);
    const next = await refresh(successor);
    assert.equal(next.status, 200, next.text);
    h.advance(31);
    try {
      assert.equal((await refresh(rt)).json.error, 'invalid_grant');
      assert.equal((await refresh(next.json.refresh_token)).json.error, 'invalid_grant');
    } finally {
      h.advance(-31);
    }
  });

  describe('race or theft (finding 1): the in-step thief is revoked by its second round; a client that loses responses is not', () => {
    const familyOf = (accessToken: string) => decodeJwt(accessToken).sid as string;
    const eventsOf = (familyId: string) => h.events.filter((e) => e.familyId === familyId).map((e) => `${e.type}${e.reason ? `:${e.reason}` : ''}`);

    for (const order of ['client first', 'thief first'] as const) {
      it(`a thief holding the chain and refreshing in step (${order}) shares it for one round at most, then the family is revoked`, async () => {
        let shared = (await grant()).refresh_token!;
        const rounds: string[] = [];
        let familyId = '';
        for (let round = 1; round <= 3; round++) {
          const [a, b] = order === 'client first' ? ['client', 'thief'] : ['thief', 'client'];
          const first = await refresh(shared);
          const second = await refresh(shared);
          rounds.push(`${a} ${first.status}, ${b} ${second.status}`);
          if (first.status === 200) familyId = familyOf(first.json.access_token);
          if (second.status !== 200) {
            assert.equal(second.json.error, 'invalid_grant');
            // Whoever got the successor this round holds a dead token: the family is revoked.
            assert.equal((await refresh(first.json.refresh_token)).json.error, 'invalid_grant');
            assert.equal((await h.post('/introspect', { token: first.json.access_token }, auth)).json.active, false);
            break;
          }
          assert.equal(second.json.refresh_token, first.json.refresh_token, 'in step, both hold the same successor');
          shared = first.json.refresh_token;
        }
        assert.deepEqual(rounds, [`${order === 'client first' ? 'client' : 'thief'} 200, ${order === 'client first' ? 'thief' : 'client'} 200`, `${order === 'client first' ? 'client' : 'thief'} 200, ${order === 'client first' ? 'thief' : 'client'} 400`]);
        assert.equal((await h.store.getGrant(familyId))?.revokedReason, 'shadowing');
        // Events (and so metrics) tell a benign replay, a shadow and a reuse apart.
        assert.deepEqual(eventsOf(familyId).slice(1), [
          'refresh_token.rotated', 'refresh_token.replayed:lost_response',
          'refresh_token.rotated', 'refresh_token.shadowing_detected:shadowing', 'grant.revoked:shadowing',
          'refresh_token.rejected:revoked',
        ]);
      });
    }

    it('a legitimate client that loses one response in ten refreshes, over 100 refreshes, is never revoked', async () => {
      let rt = (await grant()).refresh_token!;
      let familyId = '';
      for (let i = 1; i <= 100; i++) {
        const res = await refresh(rt);
        assert.equal(res.status, 200, `refresh ${i}: ${res.text}`);
        familyId = familyOf(res.json.access_token);
        if (i % 10 === 3) {
          // The response is lost: the client retries with the same token and gets the same successor.
          const retry = await refresh(rt);
          assert.equal(retry.status, 200, `retry ${i}: ${retry.text}`);
          assert.equal(retry.json.refresh_token, res.json.refresh_token);
        }
        rt = res.json.refresh_token;
      }
      assert.equal((await h.store.getGrant(familyId))?.revokedAt, undefined);
      const types = eventsOf(familyId);
      assert.equal(types.filter((t) => t === 'refresh_token.replayed:lost_response').length, 10);
      assert.equal(types.filter((t) => t === 'refresh_token.rotated').length, 100);
      assert.ok(!types.some((t) => /shadowing|reuse|revoked/.test(t)));
    });

    it('a replay that comes late (the successor used, or the window over) is reuse, not shadowing', async () => {
      const rt = (await grant()).refresh_token!;
      const a = await refresh(rt);
      await refresh(a.json.refresh_token);
      assert.equal((await refresh(rt)).json.error, 'invalid_grant');
      const familyId = familyOf(a.json.access_token);
      assert.equal((await h.store.getGrant(familyId))?.revokedReason, 'reuse');
      assert.ok(eventsOf(familyId).includes('refresh_token.reuse_detected:reuse'));
    });
  });

  it('a token of another client is invalid_grant and is not consumed', async () => {
    const rt = (await grant()).refresh_token!;
    const res = await refresh(rt, {}, other);
    assert.equal(res.status, 400);
    assert.equal(res.json.error, 'invalid_grant');
    assert.equal((await refresh(rt)).status, 200);
  });

  it('unknown, expired and revoked tokens get one generic description', async () => {
    const unknown = await refresh('rg_rt_' + 'x'.repeat(43));
    const revokedRt = (await grant()).refresh_token!;
    await h.post('/revoke', { token: revokedRt }, auth);
    const revoked = await refresh(revokedRt);
    const expiredRt = (await grant()).refresh_token!;
    h.advance(14 * 24 * 3600 + 1);
    let expired;
    try {
      expired = await refresh(expiredRt);
    } finally {
      h.advance(-(14 * 24 * 3600 + 1));
    }
    for (const r of [unknown, revoked, expired]) {
      assert.equal(r.status, 400);
      assert.equal(r.json.error, 'invalid_grant');
    }
    assert.equal(unknown.json.error_description, revoked.json.error_description);
    assert.equal(unknown.json.error_description, expired.json.error_description);
  });

  it('a refused refresh token is one event (refresh_token.rejected with its reason), not two', async () => {
    const before = h.events.length;
    const res = await refresh('rg_rt_' + 'y'.repeat(43));
    assert.equal(res.json.error, 'invalid_grant');
    const events = h.events.slice(before);
    assert.deepEqual(events.map((e) => e.type), ['refresh_token.rejected']);
    assert.equal(events[0].reason, 'unknown');
    // Other failures are still reported by the router.
    const missing = await h.post('/token', { grant_type: 'refresh_token' }, auth);
    assert.equal(missing.json.error, 'invalid_request');
    assert.equal(h.events.at(-1)?.type, 'request.failed');
  });

  it('scope: omitted means the original; a subset narrows the access token only; a superset is invalid_scope', async () => {
    const rt = (await grant('read write')).refresh_token!;
    const narrowed = await refresh(rt, { scope: 'read' });
    assert.equal(narrowed.status, 200, narrowed.text);
    assert.equal(narrowed.json.scope, 'read');
    assert.equal(decodeJwt(narrowed.json.access_token).scope, 'read');
    // The refresh token keeps the grant's scope.
    const full = await refresh(narrowed.json.refresh_token);
    assert.equal(full.json.scope, 'read write');
    const wider = await refresh(full.json.refresh_token, { scope: 'read write admin' });
    assert.equal(wider.status, 400);
    assert.equal(wider.json.error, 'invalid_scope');
    // A refused scope consumed nothing: the token still works.
    assert.equal((await refresh(full.json.refresh_token)).status, 200);
  });

  it('resource: must be one the grant holds (invalid_target), and sets the audience', async () => {
    const rt = (await grant('read', ['https://api.example/', 'https://other.example/'])).refresh_token!;
    const one = await refresh(rt, { resource: 'https://api.example/' });
    assert.equal(one.status, 200, one.text);
    assert.equal(decodeJwt(one.json.access_token).aud, 'https://api.example/');
    const both = await refresh(one.json.refresh_token, { resource: ['https://api.example/', 'https://other.example/'] });
    assert.equal(both.status, 200, both.text);
    assert.deepEqual(decodeJwt(both.json.access_token).aud, ['https://api.example/', 'https://other.example/']);
    const bad = await refresh(both.json.refresh_token, { resource: 'https://evil.example/' });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error, 'invalid_target');
  });

  it('openid: an id_token per OIDC Core 12.2 (same iss, sub, aud, azp, auth_time; fresh iat; no nonce)', async () => {
    const first = await grant('openid offline_access read');
    assert.ok(first.id_token && first.refresh_token);
    const res = await refresh(first.refresh_token!);
    assert.equal(res.status, 200, res.text);
    const jwks = createLocalJWKSet(h.server.keys.jwks());
    const original = (await jwtVerify(first.id_token!, jwks)).payload;
    const refreshed = (await jwtVerify(res.json.id_token, jwks, { issuer: h.issuer, audience: 'app' })).payload;
    for (const claim of ['iss', 'sub', 'aud', 'azp', 'auth_time'] as const) assert.deepEqual(refreshed[claim], original[claim], claim);
    assert.equal(refreshed.nonce, undefined);
    assert.ok(refreshed.iat! >= original.iat!);
    // Narrowing away openid drops the id_token.
    const noOpenid = await refresh(res.json.refresh_token, { scope: 'read' });
    assert.equal(noOpenid.json.id_token, undefined);
  });

  it('offline_access: an openid grant without it gets no refresh token', async () => {
    const tokens = await grant('openid read');
    assert.equal(tokens.refresh_token, undefined);
    assert.ok(tokens.id_token);
    assert.ok(tokens.access_token);
  });

  it('absolute lifetime: a successor never outlives the family', async () => {
    const c = await h.client({ clientId: 'short', idleTtl: 100, absoluteTtl: 150, introspection: true });
    const a = h.basic(c.clientId, c.clientSecret);
    const rt = (await h.server.issueGrant({ clientId: 'short', subject: 'bob', scope: 'x' })).tokens.refresh_token!;
    h.advance(90);
    try {
      const r1 = await refresh(rt, {}, a);
      assert.equal(r1.status, 200);
      const intro = await h.post('/introspect', { token: r1.json.refresh_token }, a);
      assert.equal(intro.json.active, true);
      assert.ok(intro.json.exp <= intro.json.iat + 60 + 1, 'successor capped at the absolute expiry');
      h.advance(61);
      const r2 = await refresh(r1.json.refresh_token, {}, a);
      assert.equal(r2.json.error, 'invalid_grant');
    } finally {
      h.advance(-151);
    }
  });

  it('rotation off: the same refresh token comes back and keeps working', async () => {
    const c = await h.client({ clientId: 'steady', rotation: false });
    const a = h.basic(c.clientId, c.clientSecret);
    const rt = (await h.server.issueGrant({ clientId: 'steady', subject: 'carol', scope: 'x' })).tokens.refresh_token!;
    const r1 = await refresh(rt, {}, a);
    const r2 = await refresh(rt, {}, a);
    assert.equal(r1.json.refresh_token, rt);
    assert.equal(r2.json.refresh_token, rt);
  });

  it('public clients without a sender constraint are rotated even when rotation is off', async () => {
    await h.client({ clientId: 'spa', authMethod: 'none', rotation: false });
    const rt = (await h.server.issueGrant({ clientId: 'spa', subject: 'dan', scope: 'x' })).tokens.refresh_token!;
    const r1 = await refresh(rt, { client_id: 'spa' }, {});
    assert.equal(r1.status, 200, r1.text);
    assert.notEqual(r1.json.refresh_token, rt);
  });

  it('retry window 0 turns the retry off: the second use is reuse', async () => {
    const c = await h.client({ clientId: 'strict', retryWindow: 0 });
    const a = h.basic(c.clientId, c.clientSecret);
    const rt = (await h.server.issueGrant({ clientId: 'strict', subject: 'erin', scope: 'x' })).tokens.refresh_token!;
    assert.equal((await refresh(rt, {}, a)).status, 200);
    h.advance(1);
    try {
      assert.equal((await refresh(rt, {}, a)).json.error, 'invalid_grant');
    } finally {
      h.advance(-1);
    }
  });

  it('opaque access tokens per client, introspectable', async () => {
    const c = await h.client({ clientId: 'opaque', accessTokenFormat: 'opaque', introspection: true });
    const a = h.basic(c.clientId, c.clientSecret);
    const rt = (await h.server.issueGrant({ clientId: 'opaque', subject: 'frank', scope: 'x' })).tokens.refresh_token!;
    const res = await refresh(rt, {}, a);
    assert.match(res.json.access_token, /^rg_at_/);
    const intro = await h.post('/introspect', { token: res.json.access_token }, a);
    assert.equal(intro.json.active, true);
    assert.equal(intro.json.sub, 'frank');
    assert.equal(intro.json.scope, 'x');
    // A lost-response retry gets the same refresh token and a new, stored access token.
    const retry = await refresh(rt, {}, a);
    assert.equal(retry.json.refresh_token, res.json.refresh_token);
    assert.notEqual(retry.json.access_token, res.json.access_token);
    assert.equal((await h.post('/introspect', { token: retry.json.access_token }, a)).json.active, true);
  });

  it('opaque access tokens of a non-rotating client are stored too, narrowed scope included', async () => {
    const c = await h.client({ clientId: 'opaque-keep', accessTokenFormat: 'opaque', rotation: false, scope: 'x y', introspection: true });
    const a = h.basic(c.clientId, c.clientSecret);
    const rt = (await h.server.issueGrant({ clientId: 'opaque-keep', subject: 'gina', scope: 'x y' })).tokens.refresh_token!;
    const res = await refresh(rt, { scope: 'y' }, a);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.refresh_token, rt, 'the same refresh token goes on');
    const intro = await h.post('/introspect', { token: res.json.access_token }, a);
    assert.equal(intro.json.active, true);
    assert.equal(intro.json.scope, 'y');
  });
});
