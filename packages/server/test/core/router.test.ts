/**
 * What the router reports for a refused request: `client_auth.failed` names the endpoint and the
 * authentication method tried (never the path in `reason`), `request.failed` the endpoint.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { startHarness, type Harness } from '../support/harness.ts';

describe('router events', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ signingThread: false });
  });
  after(() => h.close());

  it('client_auth.failed carries the method tried and the endpoint, table-driven', async () => {
    const { clientSecret } = await h.client({ clientId: 'basic-client', scope: 'read' });
    const hmac = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuer('ghost').setSubject('ghost').setAudience(h.issuer).setExpirationTime('1m').setJti('j1').sign(new TextEncoder().encode('x'.repeat(32)));
    const es = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJnaG9zdCJ9.c2ln';
    const cases: Array<[string, string, Record<string, string>, Record<string, string>]> = [
      ['/token', 'client_secret_basic', { grant_type: 'refresh_token', refresh_token: 'x' }, h.basic('basic-client', clientSecret + 'x')],
      ['/token', 'client_secret_basic', { grant_type: 'refresh_token', refresh_token: 'x' }, { authorization: 'Basic !!!' }],
      ['/token', 'client_secret_post', { grant_type: 'refresh_token', refresh_token: 'x', client_id: 'ghost', client_secret: 's' }, {}],
      ['/revoke', 'none', { token: 'x', client_id: 'ghost' }, {}],
      ['/introspect', 'unknown', { token: 'x' }, {}],
      ['/token', 'client_secret_jwt', { grant_type: 'refresh_token', refresh_token: 'x', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: hmac }, {}],
      ['/token', 'private_key_jwt', { grant_type: 'refresh_token', refresh_token: 'x', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: es }, {}],
      ['/token', 'client_assertion', { grant_type: 'refresh_token', refresh_token: 'x', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: 'not-a-jwt' }, {}],
    ];
    for (const [path, method, form, headers] of cases) {
      const before = h.events.length;
      const res = await h.post(path, form, headers);
      assert.equal(res.status, 401, `${path} ${method}`);
      const events = h.events.slice(before);
      assert.equal(events.length, 1, `${path} ${method}: one event`);
      const [event] = events;
      assert.equal(event.type, 'client_auth.failed');
      assert.equal(event.authMethod, method, `${path}: ${event.detail}`);
      assert.equal(event.endpoint, path);
      assert.equal(event.reason, undefined, 'no request path in reason');
    }
  });

  it('request.failed carries the endpoint', async () => {
    const { clientSecret } = await h.client({ clientId: 'c2', scope: 'read' });
    const before = h.events.length;
    await h.post('/token', { grant_type: 'client_credentials' }, h.basic('c2', clientSecret));
    const [event] = h.events.slice(before);
    assert.deepEqual([event.type, event.error, event.endpoint, event.reason], ['request.failed', 'unsupported_grant_type', '/token', undefined]);
  });
});
