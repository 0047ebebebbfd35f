/**
 * The development login (`serve --dev-login`, `createAuthorizationServer({ devLogin: true })`),
 * off by default and marked as not for production on every page. It is an application of the
 * interaction API like any other, mounted beside the endpoints:
 *
 * | path                  | what                                                                    |
 * | --------------------- | ----------------------------------------------------------------------- |
 * | `/dev-login`          | the sign-in form (one text field, `subject`), then the consent page    |
 * | `/dev-login/start`    | a built-in demo client: starts an authorization request with PKCE       |
 * | `/dev-login/callback` | its redirection URI: exchanges the code and shows the tokens; POST refreshes |
 *
 * It keeps no session: every sign-in asks again, so `prompt=none` always ends with
 * `login_required`. The whole flow also runs with curl: GET `/authorize`, POST the form fields.
 */
import type { ServerContext } from '../context.ts';
import { randomHandle, sha256 } from '../crypto.ts';
import { OAuthError, toOAuthError } from '../errors.ts';
import { assertFormContentType } from '../form.ts';
import type { CoreRequest, CoreResponse } from '../http-types.ts';
import { htmlHeaders, redirectWith, seeOther } from '../interactions/authorization-response.ts';
import { Interactions } from '../interactions/interactions.ts';
import { consentPage, problemPage, signInPage, tokensPage } from './dev-login-pages.ts';
import { tokenEndpoint } from './token.ts';

/** The demo client of `/dev-login/start`: public, PKCE, registered when the development login is on. */
export const devLoginClientId = 'dev-login-demo';

/** The scope the demo client asks for. */
export const devLoginScope = 'openid offline_access profile';

const cookieName = 'rg_dev_login';

/** The demo client's registration (a public client whose redirection URI is `/dev-login/callback`). */
export function devLoginClient(issuer: string): { clientId: string; authMethod: 'none'; redirectUris: string[]; scope: string } {
  return { clientId: devLoginClientId, authMethod: 'none', redirectUris: [`${issuer}/dev-login/callback`], scope: devLoginScope };
}

function html(status: number, body: string, headers: Record<string, string> = {}): CoreResponse {
  return { status, headers: htmlHeaders(headers), body };
}

/** Every failure of a development page is a page, never JSON or a bare 500. */
async function asPage(ctx: ServerContext, work: () => Promise<CoreResponse>): Promise<CoreResponse> {
  try {
    return await work();
  } catch (error) {
    const failure = toOAuthError(error);
    ctx.emit({ type: 'request.failed', at: ctx.now(), error: failure.error, detail: failure.detail ?? failure.description, endpoint: '/dev-login' });
    return html(failure.status, problemPage('Something went wrong', failure.description, `${ctx.issuer}/dev-login/start`), failure.headers);
  }
}

/** The form fields of a POST, or the query of a GET. */
function fields(req: CoreRequest): URLSearchParams {
  if (req.method.toUpperCase() === 'POST') {
    assertFormContentType(req.headers['content-type']);
    return new URLSearchParams(req.body);
  }
  const q = req.url.indexOf('?');
  return new URLSearchParams(q === -1 ? '' : req.url.slice(q + 1));
}

/**
 * `/dev-login`: GET shows the step of the interaction, POST finishes it.
 *
 * @example
 * ```ts
 * await devLoginEndpoint(ctx, { method: 'POST', path: '/dev-login', url, headers, body: 'interaction=...&subject=alice' }) // 303
 * ```
 */
export function devLoginEndpoint(ctx: ServerContext, req: CoreRequest): Promise<CoreResponse> {
  return asPage(ctx, async () => {
    const interactions = new Interactions(ctx);
    const params = fields(req);
    const ref = params.get('interaction') ?? '';
    const details = await interactions.get(ref);
    const action = `${ctx.issuer}/dev-login`;
    if (req.method.toUpperCase() !== 'POST') {
      if (details.step === 'consent') return html(200, consentPage(action, ref, details));
      // No session here: prompt=none cannot be answered without a page.
      if (details.prompt.includes('none')) return seeOther((await interactions.abort(ref, 'login_required')).redirectTo);
      return html(200, signInPage(action, ref, details));
    }
    const decision = params.get('decision');
    if (decision === 'deny') return seeOther((await interactions.abort(ref, 'access_denied')).redirectTo);
    if (details.step === 'consent') {
      if (decision !== 'allow') throw new OAuthError('invalid_request', 'Choose Allow or Deny.');
      return seeOther((await interactions.finishConsent(ref)).redirectTo);
    }
    const subject = (params.get('subject') ?? '').trim();
    if (subject === '' || subject.length > 255) return html(400, signInPage(action, ref, details, 'Enter a subject of 1 to 255 characters.'));
    return seeOther((await interactions.finishLogin(ref, { subject })).redirectTo);
  });
}

/** `/dev-login/start`: the demo client starts an authorization request (state and PKCE verifier in a cookie). */
export function devLoginStart(ctx: ServerContext, _req: CoreRequest): Promise<CoreResponse> {
  return asPage(ctx, async () => {
    const state = randomHandle('');
    const verifier = randomHandle('');
    const url = redirectWith(ctx.endpoints.authorization, {
      response_type: 'code',
      client_id: devLoginClientId,
      redirect_uri: `${ctx.issuer}/dev-login/callback`,
      scope: devLoginScope,
      state,
      // RFC 7636 section 4.2: S256.
      code_challenge: sha256(verifier),
      code_challenge_method: 'S256',
    });
    const response = seeOther(url);
    response.headers['set-cookie'] = `${cookieName}=${state}.${verifier}; Path=${cookiePath(ctx)}; HttpOnly; SameSite=Lax; Max-Age=1800`;
    return response;
  });
}

/** `/dev-login/callback`: GET exchanges the code (checking `iss` and `state`), POST refreshes. */
export function devLoginCallback(ctx: ServerContext, req: CoreRequest): Promise<CoreResponse> {
  return asPage(ctx, async () => {
    const start = `${ctx.issuer}/dev-login/start`;
    const params = fields(req);
    const post = req.method.toUpperCase() === 'POST';
    if (!post && params.has('error')) {
      return html(400, problemPage('The sign-in ended with an error', `${params.get('error')}: ${params.get('error_description') ?? ''}`, start));
    }
    const [state, verifier] = (cookie(req, cookieName) ?? '').split('.');
    let form: Record<string, string>;
    if (post) {
      form = { grant_type: 'refresh_token', client_id: devLoginClientId, refresh_token: params.get('refresh_token') ?? '' };
    } else {
      // RFC 9207 section 2.4: the client checks iss; and state against what it sent.
      if (params.get('iss') !== ctx.issuer) throw new OAuthError('invalid_request', 'The response does not come from this issuer.');
      if (!state || params.get('state') !== state) throw new OAuthError('invalid_request', 'The state does not match this browser: start again.');
      form = {
        grant_type: 'authorization_code',
        client_id: devLoginClientId,
        code: params.get('code') ?? '',
        redirect_uri: `${ctx.issuer}/dev-login/callback`,
        code_verifier: verifier ?? '',
      };
    }
    // The demo client calls the token endpoint in-process, as a client would over HTTP.
    const answer = await tokenEndpoint(ctx, {
      method: 'POST',
      path: '/token',
      url: ctx.endpoints.token,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
    });
    const tokens = JSON.parse(answer.body) as Record<string, unknown>;
    const heading = post ? 'Refreshed: a new refresh token (the previous one is now rotated)' : 'Signed in: the token response';
    const page = tokensPage({ heading, tokens, refreshAction: `${ctx.issuer}/dev-login/callback`, tokenEndpoint: ctx.endpoints.token, clientId: devLoginClientId, start });
    return html(200, page, post ? {} : { 'set-cookie': `${cookieName}=; Path=${cookiePath(ctx)}; HttpOnly; SameSite=Lax; Max-Age=0` });
  });
}

function cookiePath(ctx: ServerContext): string {
  return `${new URL(ctx.issuer).pathname.replace(/\/$/, '')}/dev-login`;
}

function cookie(req: CoreRequest, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return undefined;
}
