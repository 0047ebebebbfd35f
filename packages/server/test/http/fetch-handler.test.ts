/**
 * The Fetch adapter `(Request) => Response`, mounted under a path prefix, gives the same
 * answers as the node:http adapter. Also served over real HTTP through a minimal bridge.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { AuthorizationServer } from '../../src/core/authorization-server.ts';
import { createFetchHandler } from '../../src/http/fetch-handler.ts';
import { createAuthorizationServer } from '../../src/server.ts';
import { openSqliteStore } from '../../src/stores/sqlite-store.ts';
import type { Store } from '../../src/core/store.ts';

describe('Fetch handler under a path prefix', () => {
  const issuer = 'https://auth.example.test/oauth';
  let dir: string;
  let store: Store;
  let server: AuthorizationServer;
  let handle: (r: Request) => Promise<Response>;
  let basic: string;
  const kek = new Uint8Array(randomBytes(32));

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rg-fetch-'));
    store = await openSqliteStore(join(dir, 'f.db'));
    server = await createAuthorizationServer({ issuer, store, kek, log: false });
    handle = createFetchHandler(server);
    const { clientSecret } = await server.registerClient({ clientId: 'web', authMethod: 'client_secret_basic' });
    basic = 'Basic ' + Buffer.from(`web:${encodeURIComponent(clientSecret!)}`).toString('base64');
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    handle(new Request(`https://auth.example.test${path}`, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic, ...headers } }));

  it('refreshes and rotates under /oauth/token', async () => {
    const rt = (await server.issueGrant({ clientId: 'web', subject: 'u', scope: 'a' })).tokens.refresh_token!;
    const res = await post('/oauth/token', `grant_type=refresh_token&refresh_token=${rt}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const body = await res.json();
    assert.match(body.refresh_token, /^rg_rt_/);
    // Lost-response retry works the same here.
    const again = await (await post('/oauth/token', `grant_type=refresh_token&refresh_token=${rt}`)).json();
    assert.equal(again.refresh_token, body.refresh_token);
  });

  it('serves both discovery forms for an issuer with a path', async () => {
    const inserted = await handle(new Request('https://auth.example.test/.well-known/oauth-authorization-server/oauth'));
    assert.equal(inserted.status, 200);
    assert.equal((await inserted.json()).issuer, issuer);
    const appended = await handle(new Request('https://auth.example.test/oauth/.well-known/openid-configuration'));
    assert.equal((await appended.json()).token_endpoint, `${issuer}/token`);
  });

  it('answers errors exactly like the node adapter', async () => {
    const notMine = await handle(new Request('https://auth.example.test/token', { method: 'POST' }));
    assert.equal(notMine.status, 404);
    const get = await handle(new Request('https://auth.example.test/oauth/token'));
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'POST');
    const big = await post('/oauth/token', 'a'.repeat(65 * 1024));
    assert.equal(big.status, 413);
    assert.equal((await big.json()).error, 'invalid_request');
    const dup = await post('/oauth/token', 'grant_type=refresh_token&refresh_token=a&refresh_token=b');
    assert.equal((await dup.json()).error, 'invalid_request');
    const json = await post('/oauth/token', '{}', { 'content-type': 'application/json' });
    assert.equal(json.status, 400);
    const noAuth = await post('/oauth/token', 'grant_type=refresh_token&refresh_token=x', { authorization: 'Basic !!!' });
    assert.equal(noAuth.status, 401);
    assert.match(noAuth.headers.get('www-authenticate') ?? '', /^Basic/);
  });

  it('the authorization endpoint reads its query through the Fetch adapter; the development login works under /oauth', async () => {
    const dev = await createAuthorizationServer({ issuer, store, kek, log: false, devLogin: true });
    const devHandle = createFetchHandler(dev);
    const start = await devHandle(new Request('https://auth.example.test/oauth/dev-login/start'));
    assert.equal(start.status, 303);
    assert.match(start.headers.get('set-cookie')!, /Path=\/oauth\/dev-login;/);
    const authorize = new URL(start.headers.get('location')!);
    assert.equal(authorize.pathname, '/oauth/authorize');
    const toLogin = await devHandle(new Request(authorize));
    assert.equal(toLogin.status, 303, await toLogin.clone().text());
    const login = new URL(toLogin.headers.get('location')!);
    assert.equal(login.origin + login.pathname, `${issuer}/dev-login`);
    const page = await devHandle(new Request(login));
    assert.equal(page.status, 200);
    assert.match(await page.text(), /name="subject"/);
    // Without its query, the same URL is a request without client_id: a page, not a redirect.
    const bare = await devHandle(new Request('https://auth.example.test/oauth/authorize'));
    assert.equal(bare.status, 400);
    assert.equal(bare.headers.get('location'), null);
    await dev.close();
  });

  it('revocation revokes the family through the Fetch adapter', async () => {
    const rt = (await server.issueGrant({ clientId: 'web', subject: 'u', scope: 'a' })).tokens.refresh_token!;
    const res = await post('/oauth/revoke', `token=${rt}`);
    assert.equal(res.status, 200);
    const after = await (await post('/oauth/token', `grant_type=refresh_token&refresh_token=${rt}`)).json();
    assert.equal(after.error, 'invalid_grant');
  });

  it('works on at most maxInFlight requests at once: beyond, 503 temporarily_unavailable with Retry-After at once, then serves again', async () => {
    const bounded = createFetchHandler(server, { maxInFlight: 2, retryAfter: 3 });
    const rt = (await server.issueGrant({ clientId: 'web', subject: 'u', scope: 'a' })).tokens.refresh_token!;
    // Two requests whose bodies have not finished arriving hold both places.
    const encoder = new TextEncoder();
    const pending = [0, 1].map(() => {
      let push!: ReadableStreamDefaultController<Uint8Array>;
      const body = new ReadableStream<Uint8Array>({ start: (controller) => void (push = controller) });
      const response = bounded(
        new Request('https://auth.example.test/oauth/token', {
          method: 'POST',
          body,
          duplex: 'half',
          headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic },
        } as RequestInit),
      );
      return { push, response };
    });
    const refused = await bounded(new Request('https://auth.example.test/oauth/jwks'));
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get('retry-after'), '3');
    assert.equal(refused.headers.get('cache-control'), 'no-store');
    assert.deepEqual(await refused.json(), { error: 'temporarily_unavailable', error_description: 'The server is busy. Retry later.' });
    // The first finishes its body: a refresh, answered; the second an empty form, answered 400.
    pending[0].push.enqueue(encoder.encode(`grant_type=refresh_token&refresh_token=${rt}`));
    pending[0].push.close();
    pending[1].push.close();
    assert.equal((await pending[0].response).status, 200);
    assert.equal((await pending[1].response).status, 400);
    // Both places are free again.
    assert.equal((await bounded(new Request('https://auth.example.test/oauth/jwks'))).status, 200);
    assert.throws(() => createFetchHandler(server, { maxInFlight: 0 }), /maxInFlight must be a whole number >= 1/);
    assert.throws(() => createFetchHandler(server, { retryAfter: 1.5 }), /retryAfter must be a whole number >= 1/);
  });
});
