/**
 * The legacy password grant (RFC 6749 section 4.3) over real HTTP: off unless the client lists
 * it and the application supplies `verifyPassword`; the callback alone decides; the family it
 * starts rotates like any other.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../../support/harness.ts';

describe('password grant (legacy)', () => {
  let h: Harness;
  let legacy: Record<string, string>;
  const checks: Array<{ username: string; clientId: string }> = [];

  before(async () => {
    h = await startHarness({
      verifyPassword: async ({ username, password, clientId }) => {
        checks.push({ username, clientId });
        return username === 'erin' && password === 'correct horse' ? { subject: 'user-erin', amr: ['pwd', 'mfa'] } : undefined;
      },
    });
    const c = await h.client({ clientId: 'legacy', scope: 'openid offline_access', grantTypes: ['password', 'refresh_token'] });
    legacy = h.basic(c.clientId, c.clientSecret);
  });
  after(() => h.close());

  const grant = (form: Record<string, string>, headers = legacy) => h.post('/token', { grant_type: 'password', ...form }, headers);

  it('issues tokens for a password the application accepts; the family rotates', async () => {
    const res = await grant({ username: 'erin', password: 'correct horse', scope: 'openid offline_access' });
    assert.equal(res.status, 200, res.text);
    const claims = JSON.parse(Buffer.from(res.json.id_token.split('.')[1], 'base64url').toString());
    assert.equal(claims.sub, 'user-erin');
    assert.deepEqual(claims.amr, ['pwd', 'mfa']);
    assert.deepEqual(checks.at(-1), { username: 'erin', clientId: 'legacy' });
    const refreshed = await h.post('/token', { grant_type: 'refresh_token', refresh_token: res.json.refresh_token }, legacy);
    assert.equal(refreshed.status, 200, refreshed.text);
  });

  it('refuses what the application does not accept, missing fields, and a scope beyond the client', async () => {
    assert.equal((await grant({ username: 'erin', password: 'wrong' })).json.error, 'invalid_grant');
    assert.equal((await grant({ username: 'erin' })).json.error, 'invalid_request');
    assert.equal((await grant({ password: 'x' })).json.error, 'invalid_request');
    assert.equal((await grant({ username: 'erin', password: 'correct horse', scope: 'admin' })).json.error, 'invalid_scope');
  });

  it('never records the password (events, errors)', () => {
    assert.ok(h.events.every((e) => !JSON.stringify(e).includes('correct horse') && !JSON.stringify(e).includes('wrong')));
  });

  it('is off for a client that does not list it', async () => {
    const c = await h.client({ clientId: 'modern' });
    const res = await grant({ username: 'erin', password: 'correct horse' }, h.basic(c.clientId, c.clientSecret));
    assert.equal(res.json.error, 'unauthorized_client');
  });

  it('is unsupported without a verifyPassword callback, whatever the client lists', async () => {
    const bare = await startHarness();
    try {
      const c = await bare.client({ clientId: 'legacy', grantTypes: ['password'] });
      const res = await bare.post('/token', { grant_type: 'password', username: 'erin', password: 'x' }, bare.basic(c.clientId, c.clientSecret));
      assert.equal(res.json.error, 'unsupported_grant_type');
    } finally {
      await bare.close();
    }
  });
});
