/**
 * The token endpoint's request handling over real HTTP: methods, content types, sizes,
 * duplicated and missing parameters, grant type dispatch. Every refusal is a section 5.2
 * error with Cache-Control: no-store, and the server keeps serving afterwards.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../../support/harness.ts';

describe('token endpoint: request handling', () => {
  let h: Harness;
  let auth: Record<string, string>;
  let refreshToken: string;

  before(async () => {
    h = await startHarness();
    const c = await h.client({ clientId: 'app', scope: 'read write' });
    auth = h.basic(c.clientId, c.clientSecret);
    refreshToken = (await h.server.issueGrant({ clientId: 'app', subject: 'alice', scope: 'read write' })).tokens.refresh_token!;
  });
  after(() => h.close());

  const badRequests: Array<{ name: string; body: string; headers?: Record<string, string>; status: number; error: string }> = [
    { name: 'wrong content type (JSON)', body: '{"grant_type":"refresh_token"}', headers: { 'content-type': 'application/json' }, status: 400, error: 'invalid_request' },
    { name: 'no content type', body: 'grant_type=refresh_token', headers: { 'content-type': '' }, status: 400, error: 'invalid_request' },
    { name: 'non UTF-8 charset', body: 'grant_type=refresh_token', headers: { 'content-type': 'application/x-www-form-urlencoded; charset=iso-8859-1' }, status: 400, error: 'invalid_request' },
    { name: 'missing grant_type', body: 'refresh_token=x', status: 400, error: 'invalid_request' },
    { name: 'empty body', body: '', status: 400, error: 'invalid_request' },
    { name: 'duplicated grant_type', body: 'grant_type=refresh_token&grant_type=refresh_token&refresh_token=x', status: 400, error: 'invalid_request' },
    { name: 'duplicated refresh_token', body: 'grant_type=refresh_token&refresh_token=a&refresh_token=b', status: 400, error: 'invalid_request' },
    { name: 'duplicated scope', body: 'grant_type=refresh_token&refresh_token=a&scope=read&scope=write', status: 400, error: 'invalid_request' },
    { name: 'unsupported grant type', body: 'grant_type=client_credentials', status: 400, error: 'unsupported_grant_type' },
    { name: 'password grant not allowed for the client', body: 'grant_type=password&username=a&password=b', status: 400, error: 'unauthorized_client' },
    { name: 'jwt-bearer grant not allowed for the client', body: 'grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=x', status: 400, error: 'unauthorized_client' },
    { name: 'authorization_code without a code', body: 'grant_type=authorization_code', status: 400, error: 'invalid_request' },
    { name: 'duplicated code', body: 'grant_type=authorization_code&code=a&code=b&redirect_uri=x&code_verifier=y', status: 400, error: 'invalid_request' },
    { name: 'grant_type=__proto__', body: 'grant_type=__proto__', status: 400, error: 'unsupported_grant_type' },
    { name: 'missing refresh_token', body: 'grant_type=refresh_token', status: 400, error: 'invalid_request' },
    { name: 'malformed percent-encoding in token', body: 'grant_type=refresh_token&refresh_token=%E0%A4%A', status: 400, error: 'invalid_grant' },
    { name: 'unknown refresh token', body: 'grant_type=refresh_token&refresh_token=rg_rt_nope', status: 400, error: 'invalid_grant' },
    { name: 'resource that is not an absolute URI', body: 'grant_type=refresh_token&refresh_token=x&resource=api', status: 400, error: 'invalid_target' },
    { name: 'resource with a fragment', body: 'grant_type=refresh_token&refresh_token=x&resource=https%3A%2F%2Fapi.example%2F%23frag', status: 400, error: 'invalid_target' },
  ];

  for (const t of badRequests) {
    it(`refuses ${t.name} with ${t.status} ${t.error}`, async () => {
      const res = await h.post('/token', t.body, { ...auth, ...(t.headers ?? {}) });
      assert.equal(res.status, t.status, res.text);
      assert.equal(res.json.error, t.error);
      assert.equal(typeof res.json.error_description, 'string');
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    });
  }

  it('accepts the content type with charset=UTF-8 (seed 003)', async () => {
    const res = await h.post('/token', `grant_type=refresh_token&refresh_token=${refreshToken}`, {
      ...auth,
      'content-type': 'application/x-www-form-urlencoded;charset=UTF-8',
    });
    assert.equal(res.status, 200, res.text);
    refreshToken = res.json.refresh_token;
  });

  it('ignores unknown parameters', async () => {
    const res = await h.post('/token', { grant_type: 'refresh_token', refresh_token: refreshToken, foo: 'bar', foo2: ['a', 'b'] }, auth);
    assert.equal(res.status, 200, res.text);
    refreshToken = res.json.refresh_token;
  });

  it('answers 405 with Allow to other methods', async () => {
    for (const method of ['GET', 'PUT', 'DELETE', 'PATCH']) {
      const res = await fetch(h.tokenEndpoint, { method });
      assert.equal(res.status, 405, method);
      assert.equal(res.headers.get('allow'), 'POST');
      assert.equal((await res.json()).error, 'invalid_request');
    }
  });

  it('answers 413 with a JSON error to bodies over 64 KiB, declared or streamed', async () => {
    const big = 'grant_type=refresh_token&refresh_token=' + 'a'.repeat(70 * 1024);
    const res = await h.post('/token', big, auth);
    assert.equal(res.status, 413);
    assert.equal(res.json.error, 'invalid_request');
    // Streamed without Content-Length (chunked).
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 80; i++) controller.enqueue(new TextEncoder().encode('a'.repeat(1024)));
        controller.close();
      },
    });
    const res2 = await fetch(h.tokenEndpoint, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: stream, duplex: 'half' } as RequestInit);
    assert.equal(res2.status, 413);
    assert.equal((await res2.json()).error, 'invalid_request');
  });

  it('answers 404 JSON for unknown paths', async () => {
    const res = await fetch(`${h.issuer}/nope`);
    assert.equal(res.status, 404);
    assert.equal((await res.json()).error, 'not_found');
  });

  it('keeps serving after every bad request', async () => {
    const res = await h.post('/token', { grant_type: 'refresh_token', refresh_token: refreshToken }, auth);
    assert.equal(res.status, 200, res.text);
  });

  it('authenticates the client before dispatching the grant type', async () => {
    const res = await h.post('/token', 'grant_type=password');
    assert.equal(res.status, 401);
    assert.equal(res.json.error, 'invalid_client');
  });
});
