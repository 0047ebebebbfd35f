/**
 * examples/sign-in run as its own process, as a user runs it: a client registered with the CLI
 * signs a user in through the authorization endpoint and the application's own page (password,
 * consent), with our client library's buildAuthorizationUrl and authorizationCodeGrant (iss,
 * state, PKCE, nonce), reads UserInfo and refreshes; a wrong password and prompt=none without a
 * session get their answers; SIGTERM stops it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import {
  AuthorizationResponseError,
  authorizationCodeGrant,
  buildAuthorizationUrl,
  calculatePKCECodeChallenge,
  discovery,
  None,
  randomNonce,
  randomPKCECodeVerifier,
  randomState,
  refreshTokenGrant,
  type Configuration,
} from '@refresh-grant/client';
import { main } from '../../packages/cli/src/main.ts';
import { freePort } from '../../packages/server/test/support/free-port.ts';

const redirectUri = 'http://127.0.0.1:4000/callback';

/** GET or form POST without following redirects. */
async function visit(url: string, form?: Record<string, string>): Promise<{ status: number; location: string | null; text: string }> {
  const res = await fetch(url, { redirect: 'manual', method: form ? 'POST' : 'GET', body: form ? new URLSearchParams(form) : undefined });
  return { status: res.status, location: res.headers.get('location'), text: await res.text() };
}

const field = (html: string) => /name="interaction" value="([^"]+)"/.exec(html)![1];

describe('examples/sign-in: your login, our protocol', () => {
  let dir: string;
  let app: ChildProcess;
  let issuer: string;
  let origin: string;
  let config: Configuration;
  let stderr = '';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rg-example-sign-in-'));
    const db = join(dir, 'app.db');
    const port = await freePort();
    app = spawn(process.execPath, [new URL('./server.ts', import.meta.url).pathname], {
      env: { ...process.env, PORT: String(port), REFRESH_GRANT_DB: db },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    app.stderr!.on('data', (chunk) => (stderr += chunk));
    issuer = await new Promise<string>((resolve, reject) => {
      createInterface({ input: app.stdout! }).once('line', resolve);
      app.once('exit', (code) => reject(new Error(`the example exited with ${code}: ${stderr}`)));
    });
    origin = `http://127.0.0.1:${port}`;
    // As the example's comment says: a client registered with the CLI on the same database.
    const code = await main(['clients', 'add', '--db', db, '--id', 'app', '--auth-method', 'none', '--scope', 'openid offline_access profile', '--redirect-uri', redirectUri], { stdout: () => {}, stderr: (s) => void (stderr += s) });
    assert.equal(code, 0, stderr);
    config = await discovery(new URL(issuer), 'app', undefined, None());
  });
  after(() => {
    if (app.exitCode === null) app.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  async function authorizationUrl(extra: Record<string, string> = {}) {
    const verifier = randomPKCECodeVerifier();
    const checks = { pkceCodeVerifier: verifier, expectedState: randomState(), expectedNonce: randomNonce() };
    const url = buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'openid offline_access profile',
      code_challenge: await calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: checks.expectedState,
      nonce: checks.expectedNonce,
      ...extra,
    });
    return { url: url.href, checks };
  }

  it('signs alice in with her password and her consent; the code becomes tokens that refresh', async () => {
    const { url, checks } = await authorizationUrl();
    const toLogin = await visit(url);
    assert.equal(toLogin.status, 303);
    const loginPage = new URL(toLogin.location!, origin).href;
    assert.equal(new URL(loginPage).pathname, '/login');
    const form = await visit(loginPage);
    assert.match(form.text, /name="password"/);

    const wrong = await visit(`${origin}/login`, { interaction: field(form.text), username: 'alice', password: 'guess' });
    assert.equal(wrong.status, 401);
    assert.match(wrong.text, /Wrong username or password/);

    const toConsent = await visit(`${origin}/login`, { interaction: field(form.text), username: 'alice', password: 'wonderland' });
    const consent = await visit(new URL(toConsent.location!, origin).href);
    assert.match(consent.text, /<li>offline_access<\/li>/);
    const back = await visit(`${origin}/login`, { interaction: field(consent.text), allow: '1' });
    assert.equal(new URL(back.location!).origin + new URL(back.location!).pathname, redirectUri);

    const tokens = await authorizationCodeGrant(config, new URL(back.location!), checks);
    assert.equal(tokens.claims()?.sub, 'alice');
    assert.deepEqual(tokens.claims()?.amr, ['pwd']);
    const info = await (await fetch(`${issuer}/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).json();
    assert.deepEqual(info, { name: 'alice', preferred_username: 'alice', sub: 'alice' });
    const refreshed = await refreshTokenGrant(config, tokens.refresh_token!);
    assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
  });

  it('the consent is remembered: the next sign-in goes from the password straight back', async () => {
    const { url, checks } = await authorizationUrl();
    const form = await visit(new URL((await visit(url)).location!, origin).href);
    const back = await visit(`${origin}/login`, { interaction: field(form.text), username: 'alice', password: 'wonderland' });
    assert.equal((await authorizationCodeGrant(config, new URL(back.location!), checks)).claims()?.sub, 'alice');
  });

  it('prompt=none without a session comes back with login_required; a forged interaction is a 400 page', async () => {
    const { url, checks } = await authorizationUrl({ prompt: 'none' });
    const back = await visit(new URL((await visit(url)).location!, origin).href);
    await assert.rejects(authorizationCodeGrant(config, new URL(back.location!), checks), (error: unknown) => error instanceof AuthorizationResponseError && error.error === 'login_required');
    const forged = await visit(new URL((await visit(url)).location!, origin).href.replace(/interaction=[^&]+/, 'interaction=forged'));
    assert.equal(forged.status, 400);
    assert.match(forged.text, /invalid, finished or expired/);
  });

  it('stops cleanly on SIGTERM', async () => {
    const exited = new Promise<number | null>((resolve) => app.once('exit', (code) => resolve(code)));
    app.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
  });
});
