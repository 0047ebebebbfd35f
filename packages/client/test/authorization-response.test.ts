import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AuthorizationResponseError, skipStateCheck, validateAuthorizationResponse } from '../src/authorization-response.ts';
import { Configuration } from '../src/configuration.ts';
import { InvalidResponseError, RefreshError } from '../src/errors.ts';

const issuer = 'https://as.example';
const redirect = 'https://rp.example/cb';
/** A server that advertises RFC 9207, and one that does not. */
const withIss = new Configuration({ issuer, authorization_response_iss_parameter_supported: true }, 'client-1');
const withoutIss = new Configuration({ issuer }, 'client-1');
const at = (query: string, base = redirect) => new URL(`${base}${query}`);

type Expect = 'ok' | 'invalid' | 'authorization';
// [name, configuration, callback URL, expectedState, outcome, message pattern]
const table: Array<[string, Configuration, URL, string | typeof skipStateCheck | undefined, Expect, RegExp?]> = [
  ['code, state and iss as expected', withIss, at(`?code=c1&state=s1&iss=${encodeURIComponent(issuer)}`), 's1', 'ok'],
  ['iss missing from a server that advertises it (RFC 9207 section 2.4)', withIss, at('?code=c1&state=s1'), 's1', 'invalid', /"iss" is missing/],
  ['iss of another server: a mix-up', withIss, at('?code=c1&state=s1&iss=https%3A%2F%2Fevil.example'), 's1', 'invalid', /"iss" https:\/\/evil\.example is not the issuer/],
  ['iss mismatch from a server that does not advertise it: still compared', withoutIss, at('?code=c1&state=s1&iss=https%3A%2F%2Fevil.example'), 's1', 'invalid', /not the issuer/],
  ['iss with a trailing slash is not the issuer (simple string comparison)', withIss, at(`?code=c1&state=s1&iss=${encodeURIComponent(`${issuer}/`)}`), 's1', 'invalid', /not the issuer/],
  ['no iss from a server that does not advertise it', withoutIss, at('?code=c1&state=s1'), 's1', 'ok'],
  ['state missing', withoutIss, at('?code=c1'), 's1', 'invalid', /"state" is missing/],
  ['state mismatch', withoutIss, at('?code=c1&state=other'), 's1', 'invalid', /"state" does not match/],
  ['state present though none was sent', withoutIss, at('?code=c1&state=s1'), undefined, 'invalid', /"state" is present but none was expected/],
  ['no state, none expected', withoutIss, at('?code=c1'), undefined, 'ok'],
  ['skipStateCheck', withoutIss, at('?code=c1&state=whatever'), skipStateCheck, 'ok'],
  ['an error response (iss and state checked first)', withIss, at(`?error=access_denied&error_description=The+user+said+no&state=s1&iss=${encodeURIComponent(issuer)}`), 's1', 'authorization'],
  ['an error response with a wrong state is a state failure first', withoutIss, at('?error=access_denied&state=forged'), 's1', 'invalid', /"state" does not match/],
  ['an error response without iss from a server that advertises it', withIss, at('?error=access_denied&state=s1'), 's1', 'invalid', /"iss" is missing/],
  ['code missing', withoutIss, at('?state=s1'), 's1', 'invalid', /no "code"/],
  ['code empty', withoutIss, at('?code=&state=s1'), 's1', 'invalid', /no "code"/],
  ['code twice (RFC 6749 section 3.1)', withoutIss, at('?code=c1&code=c2&state=s1'), 's1', 'invalid', /"code" appears more than once/],
  ['state twice', withoutIss, at('?code=c1&state=s1&state=s1'), 's1', 'invalid', /"state" appears more than once/],
  ['iss twice', withIss, at(`?code=c1&state=s1&iss=${encodeURIComponent(issuer)}&iss=${encodeURIComponent(issuer)}`), 's1', 'invalid', /"iss" appears more than once/],
  ['response_mode=fragment: parameters in the fragment', withoutIss, at('#code=c1&state=s1'), 's1', 'invalid', /URL fragment/],
  ['response_mode=jwt (JARM)', withoutIss, at('?response=eyJhbGciOiJub25lIn0.e30.'), 's1', 'invalid', /JARM/],
  ['a hybrid response (id_token beside the code)', withoutIss, at('?code=c1&state=s1&id_token=x'), 's1', 'invalid', /hybrid/],
  ['an implicit response (access_token)', withoutIss, at('?access_token=x&state=s1'), 's1', 'invalid', /implicit/],
];

test('authorization response checks (iss, state, error, code, response mode): table', async () => {
  for (const [name, config, url, expectedState, expected, message] of table) {
    const outcome = validateAuthorizationResponse(config, url, expectedState);
    if (expected === 'ok') {
      assert.deepEqual(await outcome, { code: 'c1', redirectUri: redirect }, name);
    } else if (expected === 'invalid') {
      await assert.rejects(outcome, (e) => e instanceof InvalidResponseError && e.kind === 'invalid_response' && !e.retryable && message!.test(e.message), name);
    } else {
      await assert.rejects(outcome, (e) => e instanceof AuthorizationResponseError && e.error === 'access_denied', name);
    }
  }
});

test('AuthorizationResponseError: tagged, with the response parameters; retryable only for temporarily_unavailable and server_error', async () => {
  const error = await validateAuthorizationResponse(withoutIss, at('?error=login_required&error_description=No+session&error_uri=https%3A%2F%2Fas.example%2Fe&state=s1'), 's1').catch((e) => e);
  assert.ok(error instanceof AuthorizationResponseError && error instanceof RefreshError);
  assert.equal(error.kind, 'authorization');
  assert.equal(error.name, 'AuthorizationResponseError');
  assert.equal(error.error, 'login_required');
  assert.equal(error.errorDescription, 'No session');
  assert.equal(error.errorUri, 'https://as.example/e');
  assert.equal(error.parameters.get('state'), 's1');
  assert.equal(error.message, 'login_required: No session');
  assert.equal(error.retryable, false);
  for (const [code, retryable] of [['temporarily_unavailable', true], ['server_error', true], ['access_denied', false], ['consent_required', false]] as const) {
    await assert.rejects(validateAuthorizationResponse(withoutIss, at(`?error=${code}`)), (e) => e instanceof AuthorizationResponseError && e.retryable === retryable, code);
  }
});

test('the redirect URI is the current URL without query and fragment', async () => {
  const { redirectUri } = await validateAuthorizationResponse(withoutIss, new URL('http://127.0.0.1:8080/callback/path?code=c1#ignored'));
  assert.equal(redirectUri, 'http://127.0.0.1:8080/callback/path');
});

test('a Request: GET reads the query; POST (response_mode=form_post) reads the form body', async () => {
  assert.deepEqual(await validateAuthorizationResponse(withoutIss, new Request(`${redirect}?code=c1&state=s1`), 's1'), { code: 'c1', redirectUri: redirect });
  const post = (body: string, type = 'application/x-www-form-urlencoded', url = redirect) => new Request(url, { method: 'POST', headers: { 'content-type': type }, body });
  assert.deepEqual(await validateAuthorizationResponse(withIss, post(`code=c1&state=s1&iss=${encodeURIComponent(issuer)}`), 's1'), { code: 'c1', redirectUri: redirect });
  await assert.rejects(validateAuthorizationResponse(withoutIss, post('{"code":"c1"}', 'application/json'), 's1'), (e) => e instanceof InvalidResponseError && /form-urlencoded/.test(e.message));
  // A code both in the query and in the body is a duplicate, not a choice.
  await assert.rejects(validateAuthorizationResponse(withoutIss, post('code=c1&state=s1', undefined, `${redirect}?code=c2`), 's1'), /"code" appears more than once/);
  await assert.rejects(validateAuthorizationResponse(withoutIss, new Request(redirect, { method: 'PUT', body: 'code=c1' })), TypeError);
});

test('misuse is a TypeError', async () => {
  await assert.rejects(validateAuthorizationResponse(withoutIss, `${redirect}?code=c1` as unknown as URL), TypeError);
  await assert.rejects(validateAuthorizationResponse(withoutIss, at('?code=c1&state=s1'), '' as string), TypeError);
  await assert.rejects(validateAuthorizationResponse(withoutIss, at('?code=c1&state=s1'), 42 as unknown as string), TypeError);
  await assert.rejects(validateAuthorizationResponse({} as Configuration, at('?code=c1')), TypeError);
});
