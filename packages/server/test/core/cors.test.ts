/**
 * CORS for browser clients on other origins, over real HTTP: preflights, the headers of actual
 * answers (errors included), allowed and refused origins, '*', and CORS off by default.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { validateCors } from '../../src/core/cors.ts';
import { startHarness, type Harness } from '../support/harness.ts';

const app = 'https://app.example';
const other = 'https://evil.example';

async function call(h: Harness, method: string, path: string, headers: Record<string, string>, body?: string) {
  const res = await fetch(`${h.issuer}${path}`, { method, headers, body });
  await res.arrayBuffer();
  return res;
}

describe('CORS', () => {
  describe('with listed origins', () => {
    let h: Harness;
    let auth: Record<string, string>;
    before(async () => {
      h = await startHarness({ cors: { origins: [app, 'http://localhost:3000'] } });
      const c = await h.client({ clientId: 'spa' });
      auth = h.basic(c.clientId, c.clientSecret);
    });
    after(() => h.close());

    const preflights = [
      { path: '/token', methods: 'POST' },
      { path: '/revoke', methods: 'POST' },
      { path: '/introspect', methods: 'POST' },
      { path: '/jwks', methods: 'GET, HEAD' },
      { path: '/.well-known/openid-configuration', methods: 'GET, HEAD' },
    ];
    for (const { path, methods } of preflights) {
      it(`answers a preflight at ${path} for an allowed origin`, async () => {
        const res = await call(h, 'OPTIONS', path, { origin: app, 'access-control-request-method': methods.split(',')[0], 'access-control-request-headers': 'authorization, dpop' });
        assert.equal(res.status, 204);
        assert.equal(res.headers.get('access-control-allow-origin'), app);
        assert.equal(res.headers.get('access-control-allow-methods'), methods);
        assert.equal(res.headers.get('access-control-allow-headers'), 'authorization, content-type, dpop');
        assert.equal(res.headers.get('access-control-max-age'), '600');
        assert.equal(res.headers.get('access-control-allow-credentials'), null, 'never credentials mode');
        assert.equal(res.headers.get('vary'), 'Origin');
      });
    }

    it('gives a refused origin a preflight answer without CORS headers (the browser stops there)', async () => {
      const res = await call(h, 'OPTIONS', '/token', { origin: other, 'access-control-request-method': 'POST' });
      assert.equal(res.status, 204);
      assert.equal(res.headers.get('access-control-allow-origin'), null);
      assert.equal(res.headers.get('vary'), 'Origin');
    });

    it('marks actual answers for an allowed origin, errors included, and exposes DPoP-Nonce and WWW-Authenticate', async () => {
      const { refresh_token } = (await h.server.issueGrant({ clientId: 'spa', subject: 'ann', scope: 'a' })).tokens;
      const ok = await h.post('/token', { grant_type: 'refresh_token', refresh_token: refresh_token! }, { ...auth, origin: app });
      assert.equal(ok.status, 200);
      assert.equal(ok.headers.get('access-control-allow-origin'), app);
      assert.equal(ok.headers.get('access-control-expose-headers'), 'dpop-nonce, www-authenticate');
      assert.equal(ok.headers.get('cache-control'), 'no-store');
      assert.equal(ok.headers.get('vary'), 'Origin');
      const bad = await h.post('/token', { grant_type: 'refresh_token', refresh_token: 'rg_rt_nope' }, { ...auth, origin: app });
      assert.equal(bad.status, 400);
      assert.equal(bad.json.error, 'invalid_grant');
      assert.equal(bad.headers.get('access-control-allow-origin'), app);
      const unauthenticated = await h.post('/token', { grant_type: 'refresh_token', refresh_token: 'x' }, { origin: 'http://localhost:3000' });
      assert.equal(unauthenticated.status, 401);
      assert.equal(unauthenticated.headers.get('access-control-allow-origin'), 'http://localhost:3000');
    });

    it('does not mark answers for a refused origin, or for a request without Origin', async () => {
      const refused = await h.post('/token', { grant_type: 'refresh_token', refresh_token: 'x' }, { ...auth, origin: other });
      assert.equal(refused.headers.get('access-control-allow-origin'), null);
      assert.equal(refused.headers.get('vary'), 'Origin');
      const none = await h.post('/token', { grant_type: 'refresh_token', refresh_token: 'x' }, auth);
      assert.equal(none.headers.get('access-control-allow-origin'), null);
    });

    it('marks GET answers too (the JWKS, the metadata)', async () => {
      const res = await call(h, 'GET', '/jwks', { origin: app });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('access-control-allow-origin'), app);
    });
  });

  it("with '*': any origin, and no Vary", async () => {
    const h = await startHarness({ cors: { origins: '*', maxAge: 60 } });
    try {
      const pre = await call(h, 'OPTIONS', '/token', { origin: other, 'access-control-request-method': 'POST' });
      assert.equal(pre.headers.get('access-control-allow-origin'), '*');
      assert.equal(pre.headers.get('access-control-max-age'), '60');
      assert.equal(pre.headers.get('vary'), null);
      const res = await call(h, 'GET', '/jwks', { origin: other });
      assert.equal(res.headers.get('access-control-allow-origin'), '*');
    } finally {
      await h.close();
    }
  });

  it('is off by default: OPTIONS is 405, and no answer carries CORS headers', async () => {
    const h = await startHarness();
    try {
      const pre = await call(h, 'OPTIONS', '/token', { origin: app, 'access-control-request-method': 'POST' });
      assert.equal(pre.status, 405);
      assert.equal(pre.headers.get('access-control-allow-origin'), null);
      const res = await call(h, 'GET', '/jwks', { origin: app });
      assert.equal(res.headers.get('access-control-allow-origin'), null);
      assert.equal(res.headers.get('vary'), null);
    } finally {
      await h.close();
    }
  });

  it('refuses configured values that are not origins', () => {
    for (const origins of [['https://app.example/'], ['app.example'], ['https://app.example/path'], ['*.example.com']]) {
      assert.throws(() => validateCors({ origins }), TypeError, origins[0]);
    }
    assert.throws(() => validateCors({ origins: [app], maxAge: -1 }), TypeError);
    validateCors({ origins: [app, 'http://127.0.0.1:8081'] });
  });
});
