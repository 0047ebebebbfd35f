/**
 * Your login, our protocol: @refresh-grant/server under /oauth with the application's own sign-in
 * and consent page at /login, written on `server.interactions`. The authorization endpoint sends
 * the browser to /login?interaction=...; the page asks what is being asked, checks the password
 * against your user database, and sends the browser where the API says. Register a client with a
 * redirection URI first:
 *   npx refresh-grant clients add --db ./refresh-grant.db --id app --auth-method none --scope "openid offline_access profile" --redirect-uri http://127.0.0.1:4000/callback
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import { createAuthorizationServer, createNodeHandler, OAuthError, startMaintenance } from '@refresh-grant/server';
import { openSqliteStore } from '@refresh-grant/server/sqlite';

const port = Number(process.env.PORT ?? 3001);
const db = process.env.REFRESH_GRANT_DB ?? './refresh-grant.db';
const origin = `http://127.0.0.1:${port}`;

// Your user database (one user here, alice / wonderland). Compare secrets in constant time.
const users = new Map([['alice', createHash('sha256').update('wonderland').digest()]]);
function passwordOk(username: string, password: string): boolean {
  const given = createHash('sha256').update(password).digest();
  return timingSafeEqual(given, users.get(username) ?? Buffer.alloc(32)) && users.has(username);
}

const store = await openSqliteStore(db);
const server = await createAuthorizationServer({
  issuer: `${origin}/oauth`,
  store,
  kek: { file: `${db}.kek` },
  interactionUrl: '/login', // where the authorization endpoint sends the browser, with ?interaction=...
  userClaims: async (subject) => ({ name: subject, preferred_username: subject }), // UserInfo, released by scope
});
const maintenance = startMaintenance(server);
const oauth = createNodeHandler(server);

const escape = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
function page(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!doctype html><meta charset="utf-8"><title>Sign in</title>${html}`);
}

const listener = createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', origin);
  if (url.pathname !== '/login') return oauth(req, res); // /oauth/authorize, /oauth/token, ...
  let body = '';
  for await (const chunk of req) body += chunk;
  const form = new URLSearchParams(req.method === 'POST' ? body : url.search);
  const ref = form.get('interaction') ?? '';
  try {
    const details = await server.interactions.get(ref); // what is asked, by which client, at which step
    const hidden = `<input type="hidden" name="interaction" value="${escape(ref)}">`;
    const loginForm = `<form method="post">${hidden}<input name="username" value="${escape(details.loginHint ?? '')}"><input name="password" type="password"><button>Sign in</button><button name="deny" value="1">Cancel</button></form>`;
    let next: { redirectTo: string };
    if (req.method !== 'POST') {
      if (details.step === 'consent') {
        const scopes = details.scope.map((s) => `<li>${escape(s)}</li>`).join('');
        return page(res, 200, `<p>Allow ${escape(details.clientId)}?</p><ul>${scopes}</ul><form method="post">${hidden}<button name="allow" value="1">Allow</button><button name="deny" value="1">Deny</button></form>`);
      }
      // This example keeps no session of its own: prompt=none cannot be answered without the form.
      if (details.prompt.includes('none')) next = await server.interactions.abort(ref, 'login_required');
      else return page(res, 200, loginForm);
    } else if (form.has('deny')) {
      next = await server.interactions.abort(ref, 'access_denied');
    } else if (details.step === 'consent') {
      next = await server.interactions.finishConsent(ref); // everything asked for; remembered per client and user
    } else if (passwordOk(form.get('username') ?? '', form.get('password') ?? '')) {
      next = await server.interactions.finishLogin(ref, { subject: form.get('username')!, amr: ['pwd'] });
    } else {
      return page(res, 401, `<p>Wrong username or password.</p>${loginForm}`);
    }
    res.writeHead(303, { location: next.redirectTo, 'cache-control': 'no-store' }).end();
  } catch (error) {
    // OAuthError: an interaction that is invalid, used or expired (400), or a store that cannot answer now (503).
    if (error instanceof OAuthError) return page(res, error.status, `<p>${escape(error.description)}</p>`);
    page(res, 500, '<p>Something went wrong.</p>');
  }
});
listener.listen(port, '127.0.0.1', () => console.log(server.issuer));
process.once('SIGTERM', () => {
  listener.close(async () => {
    await maintenance.stop();
    await server.close();
    await store.close();
  });
  listener.closeIdleConnections();
});
