/**
 * Redirection URI registration and matching, table-driven from RFC 6749 section 3.1.2, RFC 8252
 * sections 7.1 and 7.3, RFC 9700 section 2.1: exact string comparison, any port for loopback.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { redirectUriMatches, redirectUriProblem } from '../../../src/core/interactions/redirect-uri.ts';

describe('redirectUriMatches', () => {
  const registered = ['https://app.example/cb', 'http://127.0.0.1/callback', 'http://[::1]:8080/cb', 'http://localhost/cb', 'com.example.app:/oauth'];
  const table: Array<[string, boolean]> = [
    ['https://app.example/cb', true],
    ['https://app.example/cb/', false],
    ['https://app.example/CB', false],
    ['https://app.example/cb?x=1', false],
    ['https://app.example:443/cb', false],
    ['https://app.example/cb#f', false],
    ['http://app.example/cb', false],
    // RFC 8252 section 7.3: any port for loopback IP redirects.
    ['http://127.0.0.1/callback', true],
    ['http://127.0.0.1:51004/callback', true],
    ['http://127.0.0.1:1/callback', true],
    ['http://127.0.0.1:51004/callback/', false],
    ['http://127.0.0.1:51004/other', false],
    ['http://127.0.0.1:51004/callback?x=1', false],
    ['https://127.0.0.1:51004/callback', false],
    ['http://127.0.0.2:51004/callback', false],
    ['http://user@127.0.0.1:51004/callback', false],
    ['http://[::1]/cb', true],
    ['http://[::1]:4000/cb', true],
    ['http://localhost:3000/cb', true],
    ['http://127.0.0.1:3000/cb', false],
    ['com.example.app:/oauth', true],
    ['com.example.app:/oauth2', false],
    ['not a uri', false],
  ];
  for (const [presented, expected] of table) {
    it(`${presented} ${expected ? 'matches' : 'does not match'}`, () => {
      assert.equal(redirectUriMatches(registered, presented), expected);
    });
  }
});

describe('redirectUriProblem', () => {
  const table: Array<[string, boolean]> = [
    ['https://app.example/cb', true],
    ['https://app.example/cb?tenant=1', true],
    ['http://127.0.0.1/cb', true],
    ['http://[::1]:9000/cb', true],
    ['http://localhost/cb', true],
    ['com.example.app:/oauth', true],
    ['http://app.example/cb', false],
    ['https://app.example/cb#fragment', false],
    ['https://user:pw@app.example/cb', false],
    ['javascript:alert(1)', false],
    ['data:text/html,x', false],
    ['file:///etc/passwd', false],
    ['/relative/cb', false],
    ['', false],
  ];
  for (const [uri, allowed] of table) {
    it(`${JSON.stringify(uri)} ${allowed ? 'may' : 'may not'} be registered`, () => {
      assert.equal(redirectUriProblem(uri) === undefined, allowed, redirectUriProblem(uri));
    });
  }
});
