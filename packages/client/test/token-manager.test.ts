import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { ClientSecretBasic } from '../src/client-auth.ts';
import { Configuration } from '../src/configuration.ts';
import { InvalidResponseError, OAuthResponseError, RefreshError, TransportError } from '../src/errors.ts';
import { createMemoryStore } from '../src/memory-store.ts';
import { parseRefreshResponse } from '../src/refresh-request.ts';
import { createTokenManager, ReauthenticationRequiredError, type TokenManagerOptions } from '../src/token-manager.ts';
import type { StoredTokens, TokenStore } from '../src/token-store.ts';
import { json, startServer, type TestServer } from './helpers/http-server.ts';
import { startTokenServer, type TokenServer, type TokenServerOptions } from './helpers/token-server.ts';

const servers: TestServer[] = [];
after(() => Promise.all(servers.map((s) => s.close())));

async function setup(serverOptions: TokenServerOptions = {}, managerOptions: Partial<TokenManagerOptions> = {}) {
  const server: TokenServer = await startTokenServer(serverOptions);
  servers.push(server);
  server.seed('rt-0');
  const store = managerOptions.store ?? createMemoryStore();
  const config = new Configuration({ issuer: server.url, token_endpoint: server.tokenEndpoint }, 'client-1', undefined, ClientSecretBasic('s'));
  const sleeps: number[] = [];
  const events: string[] = [];
  const manager = createTokenManager({
    config,
    store,
    random: () => 0.5,
    sleep: async (ms) => void sleeps.push(ms),
    retry: { baseDelay: 100 },
    ...managerOptions,
  });
  for (const name of ['tokens', 'retry', 'error', 'reauthentication-required'] as const) manager.on(name, () => events.push(name));
  await manager.setTokens({ refresh_token: 'rt-0' });
  events.length = 0;
  return { server, store, config, manager, sleeps, events };
}

test('1,000 concurrent getAccessToken() calls make exactly one HTTP refresh', async () => {
  const memory = createMemoryStore();
  let locks = 0;
  const { server, manager, store } = await setup({}, { store: { ...memory, lock: (key, critical) => (locks++, memory.lock(key, critical)) } });
  locks = 0;
  const tokens = await Promise.all(Array.from({ length: 1000 }, () => manager.getAccessToken()));
  assert.equal(server.refreshes(), 1);
  assert.equal(server.requests.length, 1);
  assert.equal(locks, 1, 'single flight in the process: one lock, not 1,000 queued');
  assert.deepEqual(new Set(tokens), new Set(['at-1']));
  assert.equal((await store.get('default'))!.refreshToken, 'rt-1');
  assert.equal(await manager.getAccessToken(), 'at-1');
  assert.equal(server.requests.length, 1);
});

test('the rotated refresh token is stored before the access token is handed out', async () => {
  const memory = createMemoryStore();
  let failWrites = false;
  const order: string[] = [];
  const store: TokenStore = {
    ...memory,
    async set(key, tokens) {
      if (failWrites) throw new Error('disk full');
      order.push(`stored ${tokens.refreshToken}`);
      return memory.set(key, tokens);
    },
  };
  const { manager, server } = await setup({}, { store });
  manager.on('tokens', ({ tokens }) => order.push(`event ${tokens.accessToken}`));
  order.length = 0;
  order.push(`handed out ${await manager.getAccessToken()}`);
  assert.deepEqual(order, ['stored rt-1', 'event at-1', 'handed out at-1']);
  failWrites = true;
  await assert.rejects(manager.refresh(), /disk full/);
  assert.equal(server.refreshes(), 2);
  assert.equal(await manager.getAccessToken(), 'at-1', 'the unstored at-2 is never handed out');
});

test('the old refresh token is kept when the server does not rotate', async () => {
  const { server, manager, store } = await setup({ rotate: false });
  assert.equal(await manager.getAccessToken(), 'at-1');
  assert.equal((await store.get('default'))!.refreshToken, 'rt-0');
  await manager.refresh();
  assert.equal(server.requests.at(-1)!.form.get('refresh_token'), 'rt-0');
  assert.equal(await manager.getAccessToken(), 'at-2');
});

test('an older token set never overwrites a newer one', async () => {
  const store = createMemoryStore();
  const base = { refreshToken: 'rt', issuedAt: 0 };
  assert.equal(await store.set('k', { ...base, version: 2 }), true);
  assert.equal(await store.set('k', { ...base, refreshToken: 'older', version: 1 }), false);
  assert.equal(await store.set('k', { ...base, refreshToken: 'same', version: 2 }), false);
  assert.equal((await store.get('k'))!.refreshToken, 'rt');
  // A writer outside the lock stores version 10 while this refresh is in flight: it wins.
  let intruder!: TokenStore;
  const { manager } = await setup({
    intercept: async () => {
      await intruder.set('default', { refreshToken: 'rt-elsewhere', accessToken: 'at-elsewhere', expiresAt: Date.now() + 3600_000, version: 10, issuedAt: Date.now() });
      return false;
    },
  }, { store: (intruder = createMemoryStore()) });
  assert.equal(await manager.getAccessToken(), 'at-elsewhere');
  assert.equal((await intruder.get('default'))!.version, 10);
});

test('refreshes ahead of expiry: skew plus jitter, at most half the lifetime', async () => {
  let clock = 1_000_000;
  const { server, manager } = await setup({ expiresIn: 600 }, { now: () => clock, refreshSkew: 30, refreshJitter: 30 });
  assert.equal(await manager.getAccessToken(), 'at-1');
  // margin = 30 + 0.5 * 30 = 45 s before the 600 s expiry
  clock += (600 - 46) * 1000;
  assert.equal(await manager.getAccessToken(), 'at-1');
  clock += 2000;
  assert.equal(await manager.getAccessToken(), 'at-2');
  assert.equal(server.refreshes(), 2);
  const short = await setup({ expiresIn: 10 }, { now: () => clock });
  assert.equal(await short.manager.getAccessToken(), 'at-1');
  clock += 4900;
  assert.equal(await short.manager.getAccessToken(), 'at-1');
  clock += 200;
  assert.equal(await short.manager.getAccessToken(), 'at-2', 'a 10 s token refreshes at half its lifetime');
});

test('a failed refresh ahead of expiry falls back to the current token until it expires; final errors do not', async () => {
  let clock = 1_000_000;
  let down = false;
  let final = false;
  const { manager, events } = await setup(
    { expiresIn: 600, intercept: (_req, res) => (final ? (json(res, 400, { error: 'invalid_grant' }), true) : down && (json(res, 503, {}), true)) },
    { now: () => clock, retry: { attempts: 2 } },
  );
  assert.equal(await manager.getAccessToken(), 'at-1');
  down = true;
  clock += 590_000; // inside the refresh margin, 10 s before expiry
  assert.equal(await manager.getAccessToken(), 'at-1');
  assert.deepEqual(events, ['tokens', 'retry', 'error']);
  clock += 10_000; // expired now
  await assert.rejects(manager.getAccessToken(), InvalidResponseError);
  clock -= 10_000;
  final = true;
  await assert.rejects(manager.getAccessToken(), ReauthenticationRequiredError);
});

test('transport errors, 5xx and 429 are retried with exponential backoff and jitter, honouring Retry-After', async () => {
  const failures = ['destroy', '503', '429', 'html'];
  const { server, manager, sleeps, events } = await setup({
    intercept: (_req, res, count) => {
      const failure = failures[count - 1];
      if (!failure) return false;
      if (failure === 'destroy') res.socket!.destroy();
      else if (failure === '503') json(res, 503, { error: 'temporarily_unavailable' });
      else if (failure === '429') json(res, 429, { error: 'slow_down' }, { 'retry-after': '3' });
      else res.writeHead(502, { 'content-type': 'text/html' }).end('<h1>bad gateway</h1>');
      return true;
    },
  }, { retry: { attempts: 5, baseDelay: 100 } });
  assert.equal(await manager.getAccessToken(), 'at-1');
  // full jitter with random() = 0.5: 50, 100, then Retry-After 3 s plus that attempt's jitter (200), then 400
  assert.deepEqual(sleeps, [50, 100, 3200, 400]);
  assert.deepEqual(events, ['retry', 'retry', 'retry', 'retry', 'tokens']);
  assert.equal(server.requests.length, 5);
  assert.ok(server.requests.every((r) => r.form.get('refresh_token') === 'rt-0'), 'every retry uses the same refresh token');
});

test('retries stop after the attempts, or when Retry-After asks for more than maxDelay', async () => {
  const always = await setup({ intercept: (_req, res) => (json(res, 503, { error: 'server_error' }), true) });
  await assert.rejects(always.manager.getAccessToken(), (e) => e instanceof OAuthResponseError && e.error === 'server_error');
  assert.equal(always.server.requests.length, 4);
  assert.deepEqual(always.events, ['retry', 'retry', 'retry', 'error']);
  const patient = await setup({ intercept: (_req, res) => (json(res, 503, { error: 'temporarily_unavailable' }, { 'retry-after': '120' }), true) });
  await assert.rejects(patient.manager.getAccessToken(), OAuthResponseError);
  assert.equal(patient.server.requests.length, 1);
  const date = await setup({
    intercept: (_req, res, count) => count === 1 && (json(res, 503, {}, { 'retry-after': new Date(Date.now() + 10_000).toUTCString() }), true),
  });
  assert.equal(await date.manager.getAccessToken(), 'at-1');
  // The date is to the second (up to 10 s away), plus the jitter of random() = 0.5 (50 ms).
  assert.ok(date.sleeps[0] > 8050 && date.sleeps[0] <= 10_050, String(date.sleeps));
});

test('a Retry-After wait gets the backoff jitter on top: never shorter than asked, spread across clients, at most maxDelay', async () => {
  /** The one wait of a manager whose first refresh is answered 503 with `retryAfter`. */
  const waitFor = async (retryAfter: string, random: number, retry: TokenManagerOptions['retry'] = { baseDelay: 100 }) => {
    const { manager, sleeps, server } = await setup(
      { intercept: (_req, res, count) => count === 1 && (json(res, 503, { error: 'temporarily_unavailable' }, { 'retry-after': retryAfter }), true) },
      { random: () => random, retry },
    );
    await manager.getAccessToken();
    return { sleeps, requests: server.requests.length };
  };
  // RFC 9110 section 10.2.3: the jitter of the first attempt (random() times 100 ms) is added, never taken off.
  assert.deepEqual(await waitFor('1', 0), { sleeps: [1000], requests: 2 });
  assert.deepEqual(await waitFor('1', 0.25), { sleeps: [1025], requests: 2 });
  assert.deepEqual(await waitFor('1', 0.75), { sleeps: [1075], requests: 2 });
  // The same jitter as the backoff's: random() times the attempt's ceiling (baseDelay at the first attempt).
  assert.deepEqual(await waitFor('1', 0.5, { baseDelay: 4000 }), { sleeps: [3000], requests: 2 });
  // maxDelay still bounds the wait, and only a Retry-After beyond it ends the retries.
  assert.deepEqual(await waitFor('1', 0.5, { baseDelay: 100, maxDelay: 1020 }), { sleeps: [1020], requests: 2 });
  await assert.rejects(waitFor('2', 0, { baseDelay: 100, maxDelay: 1999 }), OAuthResponseError);
});

for (const error of ['invalid_grant', 'invalid_client', 'unauthorized_client']) {
  test(`${error} is final: no retry, and re-authentication is required`, async () => {
    const { server, manager, events } = await setup({ intercept: (_req, res) => (json(res, error === 'invalid_client' ? 401 : 400, { error }), true) });
    const reauth: unknown[] = [];
    manager.on('reauthentication-required', ({ error }) => reauth.push(error));
    await assert.rejects(manager.getAccessToken(), (e) =>
      e instanceof ReauthenticationRequiredError && e.cause instanceof OAuthResponseError && e.cause.error === error);
    assert.equal(server.requests.length, 1);
    assert.deepEqual(events, ['error', 'reauthentication-required']);
    assert.ok(reauth[0] instanceof OAuthResponseError);
  });
}

test('on invalid_grant the store is re-read once: tokens another process just stored are used', async () => {
  let store!: TokenStore;
  const { server, manager } = await setup({
    intercept: async (req, res) => {
      // Another process (without the lock) rotated rt-0 a moment ago and stored its result.
      await store.set('default', { refreshToken: 'rt-other', accessToken: 'at-other', expiresAt: Date.now() + 3600_000, version: 2, issuedAt: Date.now() });
      json(res, 400, { error: 'invalid_grant' });
      return true;
    },
  }, { store: (store = createMemoryStore()) });
  assert.equal(await manager.getAccessToken(), 'at-other');
  assert.equal(server.requests.length, 1);
});

test('on invalid_grant, a newer refresh token in the store (no usable access token) is used for one more try', async () => {
  let store!: TokenStore;
  const { server, manager } = await setup({
    intercept: async (req, res) => {
      if (req.form.get('refresh_token') !== 'rt-0') return false;
      await store.set('default', { refreshToken: 'rt-other', version: 2, issuedAt: Date.now() });
      json(res, 400, { error: 'invalid_grant' });
      return true;
    },
  }, { store: (store = createMemoryStore()) });
  server.seed('rt-other');
  assert.equal(await manager.getAccessToken(), 'at-1');
  assert.deepEqual(server.requests.map((r) => r.form.get('refresh_token')), ['rt-0', 'rt-other']);
  // A second invalid_grant ends the session: the re-read happens once.
  const twice = await setup({ intercept: async (req, res) => (json(res, 400, { error: 'invalid_grant' }), true) });
  await assert.rejects(twice.manager.getAccessToken(), ReauthenticationRequiredError);
  assert.equal(twice.server.requests.length, 1);
});

test('a response that fails validation still has its rotated refresh token stored', async () => {
  const { server, manager, store } = await setup({
    intercept: (req, res, count) => count === 1 && (json(res, 200, { access_token: 'at-x', token_type: 'mac', refresh_token: 'rt-x' }), true),
  });
  server.seed('rt-x');
  await assert.rejects(manager.getAccessToken(), (e) => e instanceof InvalidResponseError && !e.retryable);
  assert.equal((await store.get('default'))!.refreshToken, 'rt-x');
  assert.equal(await manager.getAccessToken(), 'at-1');
  assert.equal(server.requests.at(-1)!.form.get('refresh_token'), 'rt-x');
});

test('a response lost on the way back (proxy closes the socket after the server answered) does not end the session', async () => {
  const { server, store, manager: _ } = await setup();
  let drops = 1;
  const proxy = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const upstream = await fetch(server.tokenEndpoint, { method: 'POST', headers: req.headers as Record<string, string>, body: Buffer.concat(chunks) });
    const body = await upstream.text(); // the server has answered (and rotated)
    if (drops-- > 0) return res.socket!.destroy();
    res.writeHead(upstream.status, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  servers.push({ close: () => new Promise<void>((r) => (proxy.closeAllConnections(), proxy.close(() => r()))) } as TestServer);
  const config = new Configuration({ issuer: server.url, token_endpoint: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/token` }, 'client-1', 's');
  const errors: unknown[] = [];
  const manager = createTokenManager({ config, store, sleep: async () => {}, random: () => 0 });
  manager.on('retry', ({ error }) => errors.push(error));
  assert.equal(await manager.getAccessToken(), 'at-1');
  assert.ok(errors[0] instanceof TransportError);
  assert.equal(server.refreshes(), 1, 'the retry got the same successor from the retry window');
  assert.deepEqual(server.requests.map((r) => r.form.get('refresh_token')), ['rt-0', 'rt-0']);
  assert.equal((await store.get('default'))!.refreshToken, 'rt-1');
  await manager.refresh();
  assert.equal(await manager.getAccessToken(), 'at-2');
  assert.equal(server.rejections(), 0);
});

test('fetch wrapper: Bearer header, one refresh and one retry after 401 invalid_token, request body replayed', async () => {
  const { server, manager } = await setup();
  const api = await startServer((req, res) => {
    if (req.headers.authorization === 'Bearer at-1') return json(res, 401, {}, { 'www-authenticate': 'Bearer error="invalid_token", error_description="revoked"' });
    if (req.path === '/plain-401') return json(res, 401, {}, { 'www-authenticate': 'Bearer realm="api"' });
    if (req.path === '/always') return json(res, 401, {}, { 'www-authenticate': 'Bearer error="invalid_token"' });
    json(res, 200, { auth: req.headers.authorization, body: req.body });
  });
  servers.push(api);
  const response = await manager.fetch(`${api.url}/me`, { method: 'POST', body: 'payload', headers: { 'content-type': 'text/plain' } });
  assert.deepEqual(await response.json(), { auth: 'Bearer at-2', body: 'payload' });
  assert.equal(server.refreshes(), 2);
  assert.deepEqual(api.requests.map((r) => r.headers.authorization), ['Bearer at-1', 'Bearer at-2']);
  const plain = await manager.fetch(`${api.url}/plain-401`);
  assert.equal(plain.status, 401);
  assert.equal(server.refreshes(), 2, 'a 401 without invalid_token does not refresh');
  const always = await manager.fetch(new Request(`${api.url}/always`));
  assert.equal(always.status, 401);
  assert.equal(server.refreshes(), 3, 'retried once, not more');
});

test('concurrent 401s cause one refresh', async () => {
  const { server, manager } = await setup();
  const api = await startServer((req, res) =>
    req.headers.authorization === 'Bearer at-1' ? json(res, 401, {}, { 'www-authenticate': 'Bearer error="invalid_token"' }) : json(res, 200, {}));
  servers.push(api);
  await manager.getAccessToken();
  const responses = await Promise.all(Array.from({ length: 20 }, () => manager.fetch(api.url)));
  assert.ok(responses.every((r) => r.status === 200));
  assert.equal(server.refreshes(), 2);
});

test('an empty store requires re-authentication; setTokens validates its input', async () => {
  const server = await startTokenServer();
  servers.push(server);
  const config = new Configuration({ issuer: server.url, token_endpoint: server.tokenEndpoint }, 'c', 's');
  const manager = createTokenManager({ config, store: createMemoryStore(), key: 'nobody' });
  let events = 0;
  manager.on('reauthentication-required', () => events++);
  await assert.rejects(manager.getAccessToken(), ReauthenticationRequiredError);
  assert.equal(events, 1);
  assert.equal(server.requests.length, 0);
  await assert.rejects(manager.setTokens({} as never), TypeError);
  const stored: StoredTokens = await manager.setTokens({ refresh_token: 'r', access_token: 'a', token_type: 'Bearer', expires_in: 60, scope: 's' });
  assert.equal(stored.version, 1);
  assert.equal(stored.tokenType, 'bearer');
  assert.equal(await manager.getAccessToken(), 'a');
  assert.equal((await manager.setTokens({ refresh_token: 'r2' })).version, 2);
});

test('the fetch wrapper refuses DPoP-bound tokens (DPoP is not supported yet)', async () => {
  const { manager } = await setup();
  await manager.setTokens({ refresh_token: 'rt', access_token: 'at', token_type: 'DPoP' });
  await assert.rejects(manager.fetch('http://127.0.0.1:9/'), TypeError);
});

test('setTokens takes a parsed token response as it is, its lifetime counted from when it arrived', async () => {
  const server = await startTokenServer();
  servers.push(server);
  const config = new Configuration({ issuer: server.url, token_endpoint: server.tokenEndpoint }, 'c', 's');
  const clock = 1_000_000_000_000;
  const manager = createTokenManager({ config, store: createMemoryStore(), now: () => clock });
  // A response that arrived 100 s ago with 600 s to live has (at most) 500 s left, not 600.
  const result = parseRefreshResponse({ status: 200, headers: { 'content-type': 'application/json' }, bodyText: JSON.stringify({
    access_token: 'at', token_type: 'DPoP', expires_in: 600, refresh_token: 'rt', id_token: 'a.b.c', scope: 'openid offline_access',
  }) }, Date.now() - 100_000);
  assert.ok(result.ok);
  const stored = await manager.setTokens(result.tokens);
  const left = stored.expiresAt! - clock;
  assert.ok(left <= 500_000 && left > 400_000, `${left} ms left`);
  assert.deepEqual({ ...stored, expiresAt: undefined }, {
    accessToken: 'at', tokenType: 'dpop', expiresAt: undefined, refreshToken: 'rt', scope: 'openid offline_access', idToken: 'a.b.c', version: 1, issuedAt: clock,
  });
  // Without a refresh token (a sign-in without offline_access) there is no session to manage.
  const bare = parseRefreshResponse({ status: 200, headers: { 'content-type': 'application/json' }, bodyText: '{"access_token":"at","token_type":"Bearer"}' });
  assert.ok(bare.ok);
  await assert.rejects(manager.setTokens(bare.tokens), TypeError);
});

test('finding 5: a refused session is remembered until new tokens are set: no request is ever sent with the dead token', async () => {
  const { server, manager, events, store, config } = await setup({ intercept: (_req, res) => (json(res, 400, { error: 'invalid_grant' }), true) });
  const failures: unknown[] = [];
  for (const call of [() => manager.getAccessToken(), () => manager.refresh(), () => manager.fetch(`${server.url}/api`), () => manager.getTokens()]) {
    await call().catch((e) => failures.push(e));
  }
  assert.equal(server.requests.length, 1, 'one refresh request, then none');
  assert.deepEqual(events, ['error', 'reauthentication-required'], 'one event per refused session');
  assert.equal(failures.length, 4);
  for (const e of failures) {
    assert.ok(e instanceof ReauthenticationRequiredError);
    assert.ok(e instanceof RefreshError);
    assert.equal(e.kind, 'reauthentication_required');
    assert.equal(e.retryable, false);
    assert.equal(e.name, 'ReauthenticationRequiredError');
  }
  // The refusal is in the store: another process using it sends nothing either.
  assert.equal((await store.get('default'))!.refusal, 'invalid_grant');
  const other = createTokenManager({ config, store });
  await assert.rejects(other.getAccessToken(), ReauthenticationRequiredError);
  assert.equal(server.requests.length, 1);
  // New tokens (a new sign-in) end the refusal.
  server.handle((req, res) => json(res, 200, { access_token: 'at-new', token_type: 'Bearer', expires_in: 3600, refresh_token: 'rt-new' }));
  await manager.setTokens({ refresh_token: 'rt-signed-in' });
  assert.equal((await store.get('default'))!.refusedAt, undefined);
  assert.equal(await manager.getAccessToken(), 'at-new');
  assert.equal(server.requests.at(-1)!.form.get('refresh_token'), 'rt-signed-in');
  assert.equal(await other.getAccessToken(), 'at-new', 'the other process sees the new session');
});

for (const [name, respond] of [
  ['an empty 400 (glewlwyd)', (res: ServerResponse) => (res.writeHead(400), res.end())],
  ['a 401 HTML page', (res: ServerResponse) => (res.writeHead(401, { 'content-type': 'text/html' }), res.end('<h1>Unauthorized</h1>'))],
  ['a 403 JSON body without an error member', (res: ServerResponse) => json(res, 403, { message: 'forbidden' })],
] as const) {
  test(`finding 5: ${name} to a refresh is final: re-authentication, then no more requests`, async () => {
    const { server, manager, events } = await setup({ intercept: (_req, res) => (respond(res), true) });
    await assert.rejects(manager.getAccessToken(), (e) => e instanceof ReauthenticationRequiredError && e.cause instanceof InvalidResponseError);
    await assert.rejects(manager.getAccessToken(), ReauthenticationRequiredError);
    assert.equal(server.requests.length, 1);
    assert.deepEqual(events, ['error', 'reauthentication-required']);
  });
}

for (const status of [408, 429]) {
  test(`an empty ${status} is not final: it is retried`, async () => {
    const { server, manager, events } = await setup({ intercept: (_req, res, count) => (count === 1 ? (res.writeHead(status), res.end(), true) : false) });
    assert.equal(await manager.getAccessToken(), 'at-1');
    assert.equal(server.requests.length, 2);
    assert.deepEqual(events, ['retry', 'tokens']);
  });
}

test('expiry on the wire: the stored set carries the refresh token and authorization expiries; authorization-expiring is emitted once, ahead of the absolute expiry', async () => {
  let clock = 1_000_000_000;
  const end = clock + 3 * 86_400_000;
  const { server, manager, store } = await setup(
    // Like our server: the authorization's lifetime counts down across refreshes.
    { intercept: (_req, res) => (json(res, 200, { access_token: `at-${clock}`, token_type: 'Bearer', expires_in: 600, refresh_token: `rt-${clock}`, refresh_token_timeout: 3600, authorization_expires_in: (end - clock) / 1000 }), true) },
    { now: () => clock, expiryWarning: 86_400 },
  );
  const warnings: number[] = [];
  manager.on('authorization-expiring', ({ expiresAt }) => warnings.push(expiresAt));
  await manager.getAccessToken();
  const stored = (await store.get('default'))!;
  assert.equal(stored.refreshExpiresAt, clock + 3600_000);
  assert.equal(stored.authorizationExpiresAt, clock + 3 * 86_400_000);
  assert.deepEqual(warnings, [], 'three days away, warned one day ahead');
  clock += 2 * 86_400_000 - 1000;
  await manager.getAccessToken();
  assert.deepEqual(warnings, []);
  clock += 2000;
  await manager.getAccessToken();
  assert.deepEqual(warnings, [stored.authorizationExpiresAt], 'within a day of the absolute expiry');
  clock += 10_000;
  await manager.refresh();
  assert.equal(warnings.length, 1, 'once per expiry');
  assert.ok(server.requests.length >= 2);
});

test('setTokens takes the expiries of a sign-in response; a rotation without them keeps the authorization expiry, not the old refresh expiry', async () => {
  let clock = 5_000_000;
  const { manager, store } = await setup({ expiresIn: 60 }, { now: () => clock });
  await manager.setTokens({ refresh_token: 'rt-0', access_token: 'at-0', expires_in: 60, refresh_token_timeout: 100, authorization_expires_in: 1000 });
  let stored = (await store.get('default'))!;
  assert.equal(stored.refreshExpiresAt, clock + 100_000);
  assert.equal(stored.authorizationExpiresAt, clock + 1000_000);
  clock += 59_000;
  await manager.getAccessToken();
  stored = (await store.get('default'))!;
  assert.equal(stored.refreshToken, 'rt-1');
  assert.equal(stored.refreshExpiresAt, undefined, 'a new refresh token whose lifetime the server did not say');
  assert.equal(stored.authorizationExpiresAt, 5_000_000 + 1000_000);
});

test('setTokens with a parsed response takes its expiries counted from when it arrived', async () => {
  const clock = 2_000_000_000_000;
  const { manager, store } = await setup({}, { now: () => clock });
  const result = parseRefreshResponse({ status: 200, bodyText: JSON.stringify({ access_token: 'a', token_type: 'bearer', refresh_token: 'r', refresh_token_timeout: 600, authorization_expires_in: 3600 }) }, clock - 100_000);
  assert.ok(result.ok);
  await manager.setTokens(result.tokens);
  const stored = (await store.get('default'))!;
  assert.equal(stored.refreshExpiresAt, clock + 500_000);
  assert.equal(stored.authorizationExpiresAt, clock + 3_500_000);
});
