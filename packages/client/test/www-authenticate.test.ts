import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseWWWAuthenticate } from '../src/www-authenticate.ts';

test('parses one Bearer challenge with quoted parameters', () => {
  assert.deepEqual(parseWWWAuthenticate('Bearer realm="api", error="invalid_token", error_description="The access token expired"'), [
    { scheme: 'bearer', parameters: { realm: 'api', error: 'invalid_token', error_description: 'The access token expired' } },
  ]);
});

test('parses several challenges, token68, unquoted values, escapes and lowercases names', () => {
  assert.deepEqual(parseWWWAuthenticate('Basic dXNlcjpwYXNz==, DPoP Algs="ES256 PS256", Error=use_dpop_nonce, Bearer realm="a \\"b\\""'), [
    { scheme: 'basic', parameters: {}, token68: 'dXNlcjpwYXNz==' },
    { scheme: 'dpop', parameters: { algs: 'ES256 PS256', error: 'use_dpop_nonce' } },
    { scheme: 'bearer', parameters: { realm: 'a "b"' } },
  ]);
});

test('a scheme alone, empty input and garbage', () => {
  assert.deepEqual(parseWWWAuthenticate('Basic'), [{ scheme: 'basic', parameters: {} }]);
  assert.deepEqual(parseWWWAuthenticate(null), []);
  assert.deepEqual(parseWWWAuthenticate(''), []);
  assert.deepEqual(parseWWWAuthenticate('Bearer error="unterminated'), [{ scheme: 'bearer', parameters: {} }]);
  assert.deepEqual(parseWWWAuthenticate('Bearer , , error="x"'), [{ scheme: 'bearer', parameters: { error: 'x' } }]);
});
