/**
 * The HTML of the development login (`dev-login.ts`): a sign-in form with one text field,
 * `subject`; a consent page listing the requested scopes; the demo client's result page. Every
 * page says plainly that this is for development only. No script: forms and links work in any
 * browser, and with curl.
 */
import { escapeHtml } from '../interactions/authorization-response.ts';
import type { InteractionDetails } from '../interactions/interactions.ts';

const banner =
  '<p class="warn"><strong>Development login: not for production.</strong> Anyone can sign in as anyone; ' +
  'there is no password. Turn it off by starting the server without <code>--dev-login</code>.</p>';

/** What the scope values mean, for the consent page. */
const scopeText: Record<string, string> = {
  openid: 'Sign you in (your subject identifier)',
  offline_access: 'Stay signed in: a refresh token that keeps working while you are away',
  profile: 'Your profile: name, picture, locale',
  email: 'Your email address',
  address: 'Your postal address',
  phone: 'Your phone number',
};

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}
.warn{background:#fff4d6;border:1px solid #e0b84d;padding:.6rem .8rem}
input[type=text]{font:inherit;padding:.3rem .5rem;width:18rem}
button{font:inherit;padding:.35rem 1rem;margin-right:.5rem}
code,pre{background:#f2f2f2}
pre{padding:.7rem;white-space:pre-wrap;word-break:break-all}
.error{color:#a11}
</style></head>
<body>${banner}
${body}
</body></html>
`;
}

/**
 * The sign-in form: one text field, `subject`.
 *
 * @example
 * ```ts
 * signInPage(action, ref, details) // <form method="post"> with interaction, subject, and Sign in / Cancel
 * ```
 */
export function signInPage(action: string, ref: string, details: InteractionDetails, error?: string): string {
  return page(
    'Sign in (development)',
    `<h1>Sign in to ${escapeHtml(details.clientId)}</h1>
${error ? `<p class="error">${escapeHtml(error)}</p>` : ''}
<form method="post" action="${escapeHtml(action)}">
<input type="hidden" name="interaction" value="${escapeHtml(ref)}">
<p><label>Subject (any user id) <input type="text" name="subject" value="${escapeHtml(details.loginHint ?? '')}" autofocus required maxlength="255"></label></p>
<p><button type="submit" name="decision" value="sign-in">Sign in</button><button type="submit" name="decision" value="deny" formnovalidate>Cancel</button></p>
</form>`,
  );
}

/** The consent page: the requested scopes, and Allow / Deny. */
export function consentPage(action: string, ref: string, details: InteractionDetails): string {
  const items = details.scope.map((s) => `<li><code>${escapeHtml(s)}</code>${scopeText[s] ? `: ${escapeHtml(scopeText[s])}` : ''}</li>`).join('\n');
  return page(
    'Allow access (development)',
    `<h1>Allow ${escapeHtml(details.clientId)} access?</h1>
<p>Signed in as <code>${escapeHtml(details.subject ?? '')}</code>. The application asks for:</p>
<ul>
${items || '<li>nothing beyond signing you in</li>'}
</ul>
<form method="post" action="${escapeHtml(action)}">
<input type="hidden" name="interaction" value="${escapeHtml(ref)}">
<p><button type="submit" name="decision" value="allow">Allow</button><button type="submit" name="decision" value="deny">Deny</button></p>
</form>`,
  );
}

/** The demo client's page: the token response it got, and how to refresh. */
export function tokensPage(options: { heading: string; tokens: Record<string, unknown>; refreshAction: string; tokenEndpoint: string; clientId: string; start: string }): string {
  const { tokens } = options;
  const rt = typeof tokens.refresh_token === 'string' ? tokens.refresh_token : undefined;
  const curl = rt
    ? `curl -s ${options.tokenEndpoint} -d grant_type=refresh_token -d client_id=${options.clientId} -d refresh_token=${rt}`
    : '';
  return page(
    'Tokens (development)',
    `<h1>${escapeHtml(options.heading)}</h1>
<pre id="tokens">${escapeHtml(JSON.stringify(tokens, null, 2))}</pre>
${
  rt
    ? `<p>Refresh it here (each refresh rotates the refresh token) or with curl:</p>
<form method="post" action="${escapeHtml(options.refreshAction)}">
<input type="hidden" name="refresh_token" value="${escapeHtml(rt)}">
<p><button type="submit">Refresh</button></p>
</form>
<pre>${escapeHtml(curl)}</pre>`
    : '<p>No refresh token: <code>offline_access</code> was not granted.</p>'
}
<p><a href="${escapeHtml(options.start)}">Sign in again</a></p>`,
  );
}

/** A development-login error page. */
export function problemPage(title: string, message: string, start: string): string {
  return page(title, `<h1>${escapeHtml(title)}</h1><p class="error">${escapeHtml(message)}</p><p><a href="${escapeHtml(start)}">Start again</a></p>`);
}
