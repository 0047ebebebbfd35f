/**
 * The example single-page app (bundled by `server.ts` with esbuild): signs the user in through
 * the authorization endpoint (authorization code + PKCE, state, nonce; the server's sign-in and
 * consent pages are the application's own), exchanges the code with a DPoP proof so that the
 * refresh token is bound to this browser's key, and holds the session with
 * `@refresh-grant/client`, shared by every tab through IndexedDB and Web Locks. `window.demo` is
 * what the buttons call, and what the end-to-end tests drive.
 */
import {
  AuthorizationResponseError,
  authorizationCodeGrant,
  buildAuthorizationUrl,
  calculatePKCECodeChallenge,
  createBrowserStore,
  createTokenManager,
  discovery,
  getDPoPHandle,
  None,
  randomNonce,
  randomPKCECodeVerifier,
  randomState,
  type StoredTokens,
} from '../../packages/client/src/index.ts';

const sessionKey = 'default';
/** What the authorization request leaves for the redirect back (this tab only). */
const pendingKey = 'refresh-grant-example:pending';
const redirectUri = `${location.origin}/`;
const config = await discovery(new URL('/oauth', location.origin), 'example-spa', undefined, None());
const store = createBrowserStore({ name: 'refresh-grant-example' });
// Created once per browser profile (not extractable), then read back from IndexedDB by every tab.
const keyPair = await store.dpopKeyPair(sessionKey);
const DPoP = getDPoPHandle(config, keyPair);
const manager = createTokenManager({ config, store, key: sessionKey, DPoP });

const $ = (id: string) => document.getElementById(id)!;

function status(text: string, state: 'ok' | 'error' | 'idle' = 'ok'): void {
  $('status').textContent = text;
  $('status').dataset.state = state;
}

async function render(): Promise<StoredTokens | undefined> {
  const tokens = await store.get(sessionKey);
  $('jkt').textContent = await DPoP.calculateThumbprint();
  $('extractable').textContent = String(keyPair.privateKey.extractable);
  $('token-type').textContent = tokens?.tokenType ?? '-';
  $('access-token').textContent = tokens?.accessToken ? `...${tokens.accessToken.slice(-12)}` : '-';
  $('version').textContent = tokens ? String(tokens.version) : '-';
  return tokens;
}

/** The operations of the page, for the buttons and the end-to-end test. */
const demo = {
  /**
   * Starts a sign-in: PKCE verifier, state and nonce kept in sessionStorage, then the browser goes
   * to the authorization endpoint (and from there to the application's sign-in page). `prompt:
   * 'none'` asks for a sign-in without any page.
   */
  async signIn(options: { prompt?: string } = {}): Promise<void> {
    const verifier = randomPKCECodeVerifier();
    const pending = { verifier, state: randomState(), nonce: randomNonce() };
    sessionStorage.setItem(pendingKey, JSON.stringify(pending));
    const url = buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'openid offline_access api',
      resource: `${location.origin}/api`,
      code_challenge: await calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: pending.state,
      nonce: pending.nonce,
      prompt: options.prompt,
    });
    location.assign(url.href);
  },
  /** How the last sign-in ended on this page: signed in, or the authorization server's error. */
  lastSignIn: undefined as { subject?: string; error?: string } | undefined,
  /** Calls the protected resource with `Authorization: DPoP` and a proof. */
  async callApi(): Promise<{ status: number; body: unknown }> {
    const response = await manager.fetch('/api/me');
    const body = await response.json();
    $('output').textContent = JSON.stringify(body, null, 2);
    await render();
    status(`GET /api/me: HTTP ${response.status}`, response.ok ? 'ok' : 'error');
    return { status: response.status, body };
  },
  /** Refreshes now (one tab at a time; a tab that waited uses the other's fresh tokens). */
  async refresh(): Promise<string> {
    const tokens = await manager.refresh();
    await render();
    status('Refreshed.');
    return tokens.accessToken!;
  },
  /**
   * Loads the current tokens, waits until `at` (epoch ms), then refreshes them: lets several tabs
   * refresh the same tokens at the same moment.
   */
  async refreshAt(at: number): Promise<string> {
    await manager.getTokens();
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));
    return demo.refresh();
  },
  /** The stored tokens (what a thief with script access to this origin could read). */
  tokens: () => store.get(sessionKey),
  /** Whether the private key can be read out: it cannot. */
  async keyCheck(): Promise<{ extractable: boolean; exportError: string | undefined; jkt: string }> {
    let exportError: string | undefined;
    try {
      await crypto.subtle.exportKey('jwk', keyPair.privateKey);
    } catch (error) {
      exportError = (error as Error).name;
    }
    return { extractable: keyPair.privateKey.extractable, exportError, jkt: await DPoP.calculateThumbprint() };
  },
  /** Signs out: tokens and key pair are deleted; the next sign-in gets a new key. */
  async signOut(): Promise<void> {
    await store.delete(sessionKey);
    location.reload();
  },
};

declare global {
  interface Window {
    demo: typeof demo;
  }
}
window.demo = demo;

const run = (action: () => Promise<unknown>) => () => void action().catch((error) => status(String(error), 'error'));
$('sign-in').addEventListener('click', run(() => demo.signIn()));
$('call-api').addEventListener('click', run(demo.callApi));
$('refresh').addEventListener('click', run(demo.refresh));
$('sign-out').addEventListener('click', run(demo.signOut));
manager.on('reauthentication-required', () => status('The session is over: sign in again.', 'error'));

/**
 * Back from the authorization endpoint: checks iss, state, PKCE and the id_token's nonce, exchanges
 * the code with a DPoP proof (the refresh token is bound to this browser's key), seeds the token
 * manager, and removes the code from the address bar.
 */
async function finishSignIn(): Promise<boolean> {
  const current = new URL(location.href);
  if (!current.searchParams.has('code') && !current.searchParams.has('error')) return false;
  history.replaceState(null, '', '/');
  const pending = JSON.parse(sessionStorage.getItem(pendingKey) ?? 'null') as { verifier: string; state: string; nonce: string } | null;
  sessionStorage.removeItem(pendingKey);
  try {
    if (!pending) throw new Error('no sign-in was started in this tab');
    const tokens = await authorizationCodeGrant(
      config,
      current,
      { pkceCodeVerifier: pending.verifier, expectedState: pending.state, expectedNonce: pending.nonce },
      undefined,
      { DPoP },
    );
    await manager.setTokens(tokens);
    demo.lastSignIn = { subject: tokens.claims()?.sub };
    status(`Signed in as ${demo.lastSignIn.subject}.`);
  } catch (error) {
    demo.lastSignIn = { error: error instanceof AuthorizationResponseError ? error.error : String(error) };
    status(`Sign-in ended: ${demo.lastSignIn.error}`, 'error');
  }
  return true;
}

const returned = await finishSignIn();
const initial = await render();
if (!returned) status(initial ? 'Session restored from IndexedDB.' : 'Not signed in.', 'idle');
document.body.dataset.ready = 'true';
