import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inspect } from 'node:util';
import { ClientSecretBasic } from '../src/client-auth.ts';
import { Configuration } from '../src/configuration.ts';
import { InvalidResponseError, OAuthResponseError } from '../src/errors.ts';
import { buildRefreshRequest, parseRefreshResponse } from '../src/refresh-request.ts';

const config = new Configuration({ issuer: 'https://as.example', token_endpoint: 'https://as.example/token' }, 'c', undefined, ClientSecretBasic('s'));

test('buildRefreshRequest: POST form to the token endpoint with Accept: application/json, nothing sent', async () => {
  const request = await buildRefreshRequest(config, 'rt-1', { scope: 'read write', resource: ['https://a.example', 'https://b.example'], audience: 'x' });
  assert.equal(request.method, 'POST');
  assert.equal(request.url.href, 'https://as.example/token');
  assert.equal(request.headers.get('accept'), 'application/json');
  assert.equal(request.headers.get('content-type'), 'application/x-www-form-urlencoded;charset=UTF-8');
  assert.equal(request.headers.get('authorization'), `Basic ${btoa('c:s')}`);
  assert.equal(request.body.get('grant_type'), 'refresh_token');
  assert.equal(request.body.get('refresh_token'), 'rt-1');
  assert.equal(request.body.get('scope'), 'read write');
  assert.deepEqual(request.body.getAll('resource'), ['https://a.example', 'https://b.example']);
  assert.equal(request.body.get('audience'), 'x');
});

test('buildRefreshRequest: URLSearchParams (repeatable), scope array joined, reserved names cannot be overridden', async () => {
  const params = new URLSearchParams([['resource', 'r1'], ['resource', 'r2'], ['grant_type', 'password'], ['refresh_token', 'other']]);
  const request = await buildRefreshRequest(config, 'rt-1', params);
  assert.deepEqual(request.body.getAll('resource'), ['r1', 'r2']);
  assert.deepEqual(request.body.getAll('grant_type'), ['refresh_token']);
  assert.deepEqual(request.body.getAll('refresh_token'), ['rt-1']);
  assert.equal((await buildRefreshRequest(config, 'rt', { scope: ['a', 'b'], skipped: undefined })).body.toString(), 'scope=a+b&grant_type=refresh_token&refresh_token=rt');
});

test('buildRefreshRequest: misuse is a TypeError', async () => {
  await assert.rejects(buildRefreshRequest(config, ''), TypeError);
  await assert.rejects(buildRefreshRequest(config, 42 as unknown as string), TypeError);
  await assert.rejects(buildRefreshRequest({} as Configuration, 'rt'), TypeError);
  await assert.rejects(buildRefreshRequest(new Configuration({ issuer: 'x' }, 'c'), 'rt'), /token_endpoint/);
});

const ok = (body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
  parseRefreshResponse({ status: 200, headers, bodyText: typeof body === 'string' ? body : JSON.stringify(body) });

test('parse: a valid response, token_type lowercased, numeric string expires_in converted, extra members kept', () => {
  const result = ok({ access_token: 'at', token_type: 'BeArEr', expires_in: '3600', refresh_token: 'rt2', scope: 'a b', extra: { x: 1 } });
  assert.ok(result.ok);
  assert.deepEqual({ ...result.tokens }, { access_token: 'at', token_type: 'bearer', expires_in: 3600, refresh_token: 'rt2', scope: 'a b', extra: { x: 1 } });
  assert.equal(JSON.stringify(result.tokens), '{"access_token":"at","token_type":"bearer","expires_in":3600,"refresh_token":"rt2","scope":"a b","extra":{"x":1}}');
  assert.equal(result.tokens.claims(), undefined);
  assert.equal(ok({ access_token: 'at', token_type: 'DPoP' }).ok && 'dpop', 'dpop');
});

test('parse: form-encoded bodies are read too', () => {
  const result = ok('access_token=at&token_type=bearer&expires_in=60&scope=a+b', { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' });
  assert.ok(result.ok);
  assert.equal(result.tokens.scope, 'a b');
  assert.equal(result.tokens.expires_in, 60);
});

test('parse: JSON is read whatever the content type says', () => {
  assert.ok(ok({ access_token: 'at', token_type: 'bearer' }, { 'content-type': 'text/plain' }).ok);
  assert.ok(ok({ access_token: 'at', token_type: 'bearer' }, {}).ok);
});

test('parse: expiresIn() and accessTokenExpiresAt() count from when the response arrived', () => {
  const receivedAt = Date.now() - 10_500;
  const result = parseRefreshResponse({ status: 200, bodyText: JSON.stringify({ access_token: 'a', token_type: 'bearer', expires_in: 60, refresh_token_expires_in: 120 }) }, receivedAt);
  assert.ok(result.ok);
  assert.equal(result.tokens.expiresIn(), 50);
  assert.equal(result.tokens.accessTokenExpiresAt()!.getTime(), receivedAt + 60_000);
  assert.equal(result.tokens.refreshTokenExpiresAt()!.getTime(), receivedAt + 120_000);
  const old = parseRefreshResponse({ status: 200, bodyText: JSON.stringify({ access_token: 'a', token_type: 'bearer', expires_in: 5 }) }, receivedAt);
  assert.ok(old.ok);
  assert.equal(old.tokens.expiresIn(), 0);
  const none = ok({ access_token: 'a', token_type: 'bearer' });
  assert.ok(none.ok);
  assert.equal(none.tokens.expiresIn(), undefined);
  assert.equal(none.tokens.accessTokenExpiresAt(), undefined);
});

const invalid: Array<[string, unknown]> = [
  ['missing access_token', { token_type: 'bearer' }],
  ['empty access_token', { access_token: '', token_type: 'bearer' }],
  ['numeric access_token', { access_token: 1, token_type: 'bearer' }],
  ['missing token_type', { access_token: 'a' }],
  ['unknown token_type', { access_token: 'a', token_type: 'mac' }],
  ['negative expires_in', { access_token: 'a', token_type: 'bearer', expires_in: -1 }],
  ['non-numeric expires_in', { access_token: 'a', token_type: 'bearer', expires_in: '1h' }],
  ['boolean expires_in', { access_token: 'a', token_type: 'bearer', expires_in: true }],
  ['non-string scope', { access_token: 'a', token_type: 'bearer', scope: ['a'] }],
  ['empty refresh_token', { access_token: 'a', token_type: 'bearer', refresh_token: '' }],
  ['non-string refresh_token', { access_token: 'a', token_type: 'bearer', refresh_token: 5 }],
  ['non-string id_token', { access_token: 'a', token_type: 'bearer', id_token: {} }],
  ['negative refresh_token_timeout', { access_token: 'a', token_type: 'bearer', refresh_token_timeout: -5 }],
  ['non-numeric authorization_expires_in', { access_token: 'a', token_type: 'bearer', authorization_expires_in: 'soon' }],
  ['boolean refresh_expires_in (Keycloak)', { access_token: 'a', token_type: 'bearer', refresh_expires_in: true }],
  ['a JSON array', [{ access_token: 'a' }]],
  ['JSON null', 'null'],
  ['non-string error', { error: 42 }],
];
for (const [name, body] of invalid) {
  test(`parse: ${name} is an InvalidResponseError`, () => {
    const result = ok(body);
    assert.equal(result.ok, false);
    assert.ok(!result.ok && result.error instanceof InvalidResponseError);
    assert.equal(!result.ok && result.error.retryable, false);
  });
}

test('parse: an error member at any status, 200 included (GitHub), is an OAuthResponseError', () => {
  for (const status of [200, 400, 401, 503]) {
    const result = parseRefreshResponse({
      status,
      headers: { 'content-type': 'application/json', 'www-authenticate': 'Basic realm="as"' },
      bodyText: JSON.stringify({ error: 'invalid_grant', error_description: 'gone', error_uri: 'https://doc', access_token: 'ignored' }),
    });
    assert.ok(!result.ok);
    const error = result.error;
    assert.ok(error instanceof OAuthResponseError);
    assert.equal(error.kind, 'oauth');
    assert.equal(error.name, 'OAuthResponseError');
    assert.equal(error.error, 'invalid_grant');
    assert.equal(error.errorCode(), 'invalid_grant');
    assert.equal(error.errorDescription, 'gone');
    assert.equal(error.errorUri, 'https://doc');
    assert.equal(error.status, status);
    assert.equal(error.message, 'invalid_grant: gone');
    assert.deepEqual(error.wwwAuthenticate, [{ scheme: 'basic', parameters: { realm: 'as' } }]);
    assert.equal(error.body.access_token, 'ignored');
    assert.equal(error.retryable, false);
  }
  const github = ok('error=bad_refresh_token&error_description=The+refresh+token+passed+is+incorrect', { 'content-type': 'application/x-www-form-urlencoded' });
  assert.ok(!github.ok && github.error instanceof OAuthResponseError && github.error.error === 'bad_refresh_token');
});

test('parse: retryable follows the status and the error code', () => {
  const error = (status: number, body: object) => {
    const result = parseRefreshResponse({ status, headers: { 'content-type': 'application/json' }, bodyText: JSON.stringify(body) });
    assert.ok(!result.ok);
    return result.error;
  };
  assert.equal(error(503, { error: 'temporarily_unavailable' }).retryable, true);
  assert.equal(error(500, { error: 'server_error' }).retryable, true);
  assert.equal(error(429, { error: 'slow_down' }).retryable, true);
  assert.equal(error(400, { error: 'temporarily_unavailable' }).retryable, true);
  assert.equal(error(503, { error: 'invalid_grant' }).retryable, false);
  assert.equal(error(401, { error: 'invalid_client' }).retryable, false);
  assert.equal(error(400, { error: 'unauthorized_client' }).retryable, false);
  assert.equal(error(502, {}).retryable, true);
  assert.equal(error(302, {}).retryable, false);
});

test('parse: a non-JSON 5xx is a retryable InvalidResponseError with a clear message', () => {
  const result = parseRefreshResponse({ status: 502, headers: { 'content-type': 'text/html', 'retry-after': '3' }, bodyText: '<html>Bad Gateway</html>' });
  assert.ok(!result.ok);
  assert.ok(result.error instanceof InvalidResponseError);
  assert.equal(result.error.kind, 'invalid_response');
  assert.equal(result.error.retryable, true);
  assert.equal(result.error.status, 502);
  assert.equal(result.error.headers?.get('retry-after'), '3');
  assert.match(result.error.message, /HTTP 502 .*neither a JSON object nor a form \(content-type: text\/html\)/);
  const empty = parseRefreshResponse({ status: 200, bodyText: '' });
  assert.ok(!empty.ok && !empty.error.retryable && /content-type: none/.test(empty.error.message));
});

test('parse: a non-200 success-looking body is invalid (RFC 6749 section 5.1 says 200)', () => {
  const result = parseRefreshResponse({ status: 201, bodyText: JSON.stringify({ access_token: 'a', token_type: 'bearer' }) });
  assert.ok(!result.ok && result.error instanceof InvalidResponseError && /HTTP 201/.test(result.error.message));
});

test('logging an InvalidResponseError does not print the tokens its body holds', () => {
  const result = ok({ access_token: 'secret-access', token_type: 'mac', refresh_token: 'secret-refresh' });
  assert.ok(!result.ok);
  assert.equal(result.error.body?.refresh_token, 'secret-refresh');
  assert.doesNotMatch(inspect(result.error, { depth: 5 }), /secret-/);
  assert.doesNotMatch(JSON.stringify(result.error), /secret-/);
});

const expiryTable: Array<[string, Record<string, unknown>, number | undefined, number | undefined]> = [
  // [what, lifetimes sent, refreshTokenExpiresAt (s), authorizationExpiresAt (s)]
  ['draft-ietf-oauth-refresh-token-expiration: both', { refresh_token_timeout: 600, authorization_expires_in: 3600 }, 600, 3600],
  ['numeric strings are converted', { refresh_token_timeout: '600', authorization_expires_in: '3600' }, 600, 3600],
  ['the timeout is capped by the authorization', { refresh_token_timeout: 7200, authorization_expires_in: 3600 }, 3600, 3600],
  ['the authorization alone', { authorization_expires_in: 3600 }, 3600, 3600],
  ['Keycloak: refresh_expires_in', { refresh_expires_in: 1800 }, 1800, undefined],
  ['GitHub, Google: refresh_token_expires_in', { refresh_token_expires_in: 15_811_200 }, 15_811_200, undefined],
  ['oidc-provider: none of them', {}, undefined, undefined],
];
for (const [name, lifetimes, refresh, authorization] of expiryTable) {
  test(`parse: refresh token and authorization expiry, ${name}`, () => {
    const receivedAt = 1_700_000_000_000;
    const result = parseRefreshResponse({ status: 200, bodyText: JSON.stringify({ access_token: 'a', token_type: 'bearer', refresh_token: 'r', ...lifetimes }) }, receivedAt);
    assert.ok(result.ok);
    assert.equal(result.tokens.refreshTokenExpiresAt()?.getTime(), refresh === undefined ? undefined : receivedAt + refresh * 1000);
    assert.equal(result.tokens.authorizationExpiresAt()?.getTime(), authorization === undefined ? undefined : receivedAt + authorization * 1000);
    for (const [field, value] of Object.entries(lifetimes)) assert.equal(result.tokens[field], Number(value), `${field} exposed as a number`);
  });
}
