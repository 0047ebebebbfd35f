/**
 * The example application's own sign-in and consent pages, on the authorization server's
 * interaction API: the authorization endpoint sends the browser to `/login?interaction=...`;
 * these pages ask `server.interactions` what is being asked, sign the user in (any username: it
 * is an example) into the application's own session cookie, ask for consent, and send the
 * browser where the API says. With a session, a later sign-in (and `prompt=none`) needs no page;
 * without one, `prompt=none` ends with `login_required`.
 *
 * @example
 * ```ts
 * const login = createLoginPages(server)
 * const answer = await login({ method: 'GET', url: new URL(req.url, origin), cookie: req.headers.cookie, body: '' })
 * ```
 */
import { randomBytes } from 'node:crypto';
import type { AuthorizationServer } from '../../packages/server/src/core/authorization-server.ts';
import { OAuthError } from '../../packages/server/src/core/errors.ts';
import type { InteractionDetails } from '../../packages/server/src/core/interactions/interactions.ts';

/** A request to the pages, whatever the framework. */
export interface PageRequest {
  method: string;
  url: URL;
  cookie: string | undefined;
  /** The form body of a POST. */
  body: string;
}

/** An answer of the pages. */
export interface PageAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The application's session: who is signed in on this browser, and since when. */
interface Session {
  subject: string;
  authTime: number;
}

const sessionCookie = 'example_session';

const escape = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const scopeText: Record<string, string> = {
  openid: 'know who you are',
  offline_access: 'stay signed in while you are away (a refresh token)',
  api: 'call the example API as you',
};

function page(title: string, body: string): PageAnswer {
  return {
    status: 200,
    headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' },
    body: `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:30rem;margin:3rem auto;padding:0 1rem}button{font:inherit;padding:.35rem .9rem;margin-right:.4rem}input{font:inherit}</style>
</head><body>${body}</body></html>`,
  };
}

function redirect(location: string, headers: Record<string, string> = {}): PageAnswer {
  return { status: 303, headers: { location, 'cache-control': 'no-store', ...headers }, body: '' };
}

/** The sign-in and consent pages of the example application. */
export function createLoginPages(server: AuthorizationServer): (req: PageRequest) => Promise<PageAnswer> {
  const sessions = new Map<string, Session>();
  const now = () => Math.floor(Date.now() / 1000);

  function sessionOf(cookie: string | undefined): Session | undefined {
    const id = /(?:^|;\s*)example_session=([^;]+)/.exec(cookie ?? '')?.[1];
    return id === undefined ? undefined : sessions.get(id);
  }

  function loginForm(ref: string, details: InteractionDetails): PageAnswer {
    return page(
      'Sign in to the example',
      `<h1>Sign in</h1><p>The example app <code>${escape(details.clientId)}</code> asks you to sign in. Any username works here.</p>
<form method="post"><input type="hidden" name="interaction" value="${escape(ref)}">
<p><label>Username <input name="username" id="username" value="${escape(details.loginHint ?? '')}" required></label></p>
<p><button id="sign-in" name="action" value="login">Sign in</button><button name="action" value="deny" formnovalidate>Cancel</button></p></form>`,
    );
  }

  function consentForm(ref: string, details: InteractionDetails): PageAnswer {
    const items = details.scope.map((s) => `<li><code>${escape(s)}</code>: ${escape(scopeText[s] ?? s)}</li>`).join('');
    return page(
      'Allow access',
      `<h1>Allow access?</h1><p>Signed in as <strong>${escape(details.subject ?? '')}</strong>. <code>${escape(details.clientId)}</code> would like to:</p>
<ul id="scopes">${items}</ul>
<form method="post"><input type="hidden" name="interaction" value="${escape(ref)}">
<button id="allow" name="action" value="allow">Allow</button><button id="deny" name="action" value="deny">Deny</button></form>`,
    );
  }

  return async function handle(req: PageRequest): Promise<PageAnswer> {
    const form = new URLSearchParams(req.method === 'POST' ? req.body : req.url.search);
    const ref = form.get('interaction') ?? '';
    try {
      const details = await server.interactions.get(ref);
      if (req.method !== 'POST') {
        if (details.step === 'consent') return consentForm(ref, details);
        const session = sessionOf(req.cookie);
        // A session recent enough for this request signs in without a page (and answers prompt=none).
        if (session && !details.prompt.includes('login') && session.authTime >= (details.authenticatedAfter ?? 0)) {
          return redirect((await server.interactions.finishLogin(ref, session)).redirectTo);
        }
        if (details.prompt.includes('none')) return redirect((await server.interactions.abort(ref, 'login_required')).redirectTo);
        return loginForm(ref, details);
      }
      const action = form.get('action');
      if (action === 'deny') return redirect((await server.interactions.abort(ref, 'access_denied')).redirectTo);
      if (details.step === 'consent') return redirect((await server.interactions.finishConsent(ref)).redirectTo);
      const username = (form.get('username') ?? '').trim();
      if (!username) return loginForm(ref, details);
      const session: Session = { subject: username, authTime: now() };
      const id = randomBytes(24).toString('base64url');
      sessions.set(id, session);
      const { redirectTo } = await server.interactions.finishLogin(ref, session);
      return redirect(redirectTo, { 'set-cookie': `${sessionCookie}=${id}; Path=/; HttpOnly; SameSite=Lax` });
    } catch (error) {
      if (!(error instanceof OAuthError)) throw error;
      return { ...page('Sign-in problem', `<h1>Sign-in problem</h1><p>${escape(error.description)}</p><p><a href="/">Back to the app</a></p>`), status: 400 };
    }
  };
}
