/**
 * The sign-in examples of the main README and of packages/client/README.md run as written against
 * oidc-provider v9: their code blocks are read from the files, their imports bound to the package
 * index (every imported name must be an export), and the few names they leave to the reader (the
 * issuer, the browser trip) bound by the test, which drives oidc-provider's login over HTTP.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import * as index from '../../src/index.ts';
import { codeClient, signInThroughDevInteractions, startOidcProvider, type RunningProvider } from '../helpers/oidc-provider.ts';

let op: RunningProvider;

before(async () => {
  op = await startOidcProvider({
    clients: [
      { ...codeClient, client_id: 'my-app', client_secret: 'my-secret', redirect_uris: ['https://app.example/callback'] },
      { ...codeClient, client_id: 'my-cli', token_endpoint_auth_method: 'none', application_type: 'native', redirect_uris: ['http://127.0.0.1:53682/callback'] },
    ],
    scopes: ['openid', 'offline_access'],
    features: { devInteractions: { enabled: true } },
  });
});
after(() => op.close());

/** The ```ts blocks of the README section whose heading starts with `heading`. */
function blocks(file: string, heading: string): string[] {
  const text = readFileSync(new URL(`../../../../${file}`, import.meta.url), 'utf8');
  const start = text.indexOf(`\n${heading}`);
  assert.ok(start !== -1, `${file} has a section "${heading}"`);
  const section = text.slice(start + 1).split(/\n(?=#{1,3} )/)[0];
  return [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
}

const AsyncFunction = (async () => {}).constructor as new (...args: string[]) => (...values: unknown[]) => Promise<Record<string, unknown>>;

/** Runs a README block: its package imports bound to the index, `bindings` as its free names; returns `result` evaluated at its end. */
function run(block: string, bindings: Record<string, unknown>, result: string): Promise<Record<string, unknown>> {
  const pattern = /import\s*\{([^}]*)\}\s*from\s*'@refresh-grant\/client'\s*;?/g;
  const imported = [...block.matchAll(pattern)].flatMap((m) => m[1].split(',').map((name) => name.trim()).filter(Boolean));
  for (const name of imported) assert.ok(name in index, `the README imports ${name}, which @refresh-grant/client does not export`);
  const body = `${block.replace(pattern, '')}\nreturn ${result};`;
  const exports = index as Record<string, unknown>;
  return new AsyncFunction(...imported, ...Object.keys(bindings), body)(...imported.map((name) => exports[name]), ...Object.values(bindings));
}

/** Follows the authorization URL through oidc-provider's login and consent; the URL the browser comes back to. */
async function browserTrip(authorizationUrl: URL, redirectUri: string): Promise<URL> {
  const landing = await signInThroughDevInteractions(authorizationUrl, redirectUri, { login: 'alice' });
  assert.ok('url' in landing);
  return landing.url;
}

test('README.md: the native app example signs in and gets an access token from its token manager', async () => {
  const [example] = blocks('README.md', '## The client: signing in, then refreshing');
  const { tokens, manager, accessToken } = await run(example, {
    issuer: op.issuer,
    openBrowserAndAwaitRedirect: (url: URL) => browserTrip(url, 'http://127.0.0.1:53682/callback'),
  }, '{ tokens, manager, accessToken }');
  const response = tokens as index.TokenResponse;
  assert.ok(response.refresh_token);
  assert.equal(response.claims()!.sub, 'alice');
  assert.equal(accessToken, response.access_token);
  // The manager it seeded refreshes through oidc-provider's rotation.
  const refreshed = await (manager as index.TokenManager).refresh();
  assert.notEqual(refreshed.refreshToken, response.refresh_token);
});

test('packages/client/README.md: the sign-in example, request then callback', async () => {
  const [start, callback] = blocks('packages/client/README.md', '## Sign in: the first tokens');
  const { config, session, authorizationUrl } = await run(start, { issuer: op.issuer }, '{ config, session, authorizationUrl }');
  const currentUrl = await browserTrip(authorizationUrl as URL, 'https://app.example/callback');
  assert.equal(currentUrl.searchParams.get('iss'), op.issuer);
  const { tokens, accessToken } = await run(callback, { config, session, currentUrl }, '{ tokens, accessToken }');
  const response = tokens as index.TokenResponse;
  assert.equal(response.claims()!.nonce, (session as { nonce: string }).nonce);
  assert.equal(accessToken, response.access_token);
});
