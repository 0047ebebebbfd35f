/**
 * The example single-page app (bundled by `server.ts` with esbuild): a DPoP-bound session held by
 * `@refresh-grant/client`, shared by every tab through IndexedDB and Web Locks. `window.demo` is
 * what the buttons call, and what the end-to-end test drives.
 */
import {
  createBrowserStore,
  createTokenManager,
  discovery,
  getDPoPHandle,
  None,
  type StoredTokens,
} from '../../packages/client/src/index.ts';

const sessionKey = 'default';
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
  /** Demo sign-in: the server issues a grant bound to this browser's key thumbprint. */
  async signIn(): Promise<StoredTokens> {
    const response = await fetch('/demo/sign-in', { method: 'POST', body: JSON.stringify({ jkt: await DPoP.calculateThumbprint() }) });
    if (!response.ok) throw new Error(`sign-in failed: HTTP ${response.status}`);
    const tokens = await manager.setTokens(await response.json());
    await render();
    status('Signed in.');
    return tokens;
  },
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
$('sign-in').addEventListener('click', run(demo.signIn));
$('call-api').addEventListener('click', run(demo.callApi));
$('refresh').addEventListener('click', run(demo.refresh));
$('sign-out').addEventListener('click', run(demo.signOut));
manager.on('reauthentication-required', () => status('The session is over: sign in again.', 'error'));

const initial = await render();
status(initial ? 'Session restored from IndexedDB.' : 'Not signed in.', 'idle');
document.body.dataset.ready = 'true';
