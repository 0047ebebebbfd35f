/**
 * The hand-off to the application's own login and consent pages. The protocol is ours, the
 * pages are not: the authorization endpoint validates a request and sends the browser to the
 * application's page with a sealed `interaction` reference; the page asks {@link Interactions}
 * what is being asked, signs the user in however it likes, and tells us the result. Each call
 * returns where to send the browser next: the consent step (the same page), or the client's
 * redirection URI with a code or an error. Usable from any framework: there is no cookie, no
 * session and no request object, only the reference and a URL to redirect to.
 *
 * Simpler than node-oidc-provider's interactions (a stored interaction bound to a cookie, a
 * resume endpoint, the provider's own session) and Hydra's login and consent challenges (two
 * stored challenges, verifiers bounced through the authorization endpoint): one sealed
 * reference per step, consumed once, and the application's session stays the application's
 * (with `prompt=none` the application answers from its session: {@link Interactions.finishLogin}
 * or {@link Interactions.abort} with `login_required`).
 *
 * Consent is remembered per client and subject (OIDC Core section 11: `offline_access`, and so a
 * refresh token, only with the user's consent): the consent step is skipped when everything
 * requested was consented to before, unless `prompt=consent`.
 */
import type { AuthenticatedUser, ServerContext } from '../context.ts';
import { OAuthError } from '../errors.ts';
import { formatScope, missingFrom, parseScope } from '../scope.ts';
import { errorRedirect, issueCode, redirectWith } from './authorization-response.ts';
import { openInteraction, sealInteraction, type InteractionState } from './interaction-ref.ts';

/** What the application's page needs to know about a sign-in in progress. */
export interface InteractionDetails {
  /** Which page to show: sign the user in, or ask for consent. */
  step: 'login' | 'consent';
  clientId: string;
  /** The requested scope values (at the consent step: what to ask for). */
  scope: string[];
  /** RFC 8707 resources requested. */
  resources: string[];
  /** OIDC `prompt` values: `none` (answer without showing anything), `login`, `consent`, `select_account`. */
  prompt: string[];
  loginHint?: string;
  maxAge?: number;
  /**
   * Login step: the user must have authenticated at or after this time (seconds); set by
   * `prompt=login` (the time of the request) and `max_age`. An older session must sign in again.
   */
  authenticatedAfter?: number;
  /** Consent step: who signed in. */
  subject?: string;
  /** Consent step: what this subject already consented to for this client. */
  consented?: string[];
  /** When the reference stops working (seconds). */
  expiresAt: number;
}

/** How a consent step ends. */
export interface ConsentResult {
  /** The scope the user granted, a subset of the requested one; default: all of it. */
  scope?: string | string[];
  /** Remember the decision for this client and subject (default true). */
  remember?: boolean;
}

/** The errors an application may end a sign-in with (RFC 6749 section 4.1.2.1, OIDC Core section 3.1.2.6). */
export type InteractionError = 'access_denied' | 'login_required' | 'consent_required' | 'interaction_required' | 'account_selection_required';

const abortErrors = new Set<string>(['access_denied', 'login_required', 'consent_required', 'interaction_required', 'account_selection_required']);

/** Where to send the browser next. */
export interface InteractionOutcome {
  redirectTo: string;
}

/** How far in the future an `authTime` may be (clock skew), in seconds. */
const futureSkew = 5;

const invalidReference = 'The sign-in request is invalid, finished or expired. Start again from the application.';

/**
 * The interaction API of a server (`server.interactions`).
 *
 * @example
 * ```ts
 * // GET /login?interaction=...: show a form (or, with prompt=none, answer from your session)
 * const details = await server.interactions.get(url.searchParams.get('interaction'))
 * // POST /login: after checking the password
 * const { redirectTo } = await server.interactions.finishLogin(form.get('interaction'), { subject: user.id })
 * res.writeHead(303, { location: redirectTo }).end()
 * ```
 */
export class Interactions {
  readonly #ctx: ServerContext;

  constructor(ctx: ServerContext) {
    this.#ctx = ctx;
  }

  /**
   * What a reference asks for. Throws {@link OAuthError} `invalid_request` for a reference
   * that is malformed, forged or expired (show it to the user).
   */
  async get(ref: unknown): Promise<InteractionDetails> {
    const state = this.#open(ref);
    const { request } = state;
    const details: InteractionDetails = {
      step: state.step,
      clientId: request.clientId,
      scope: parseScope(request.scope),
      resources: request.resources,
      prompt: request.prompt,
      expiresAt: state.expiresAt,
    };
    if (request.loginHint !== undefined) details.loginHint = request.loginHint;
    if (request.maxAge !== undefined) details.maxAge = request.maxAge;
    const after = authenticatedAfter(state, this.#ctx.now());
    if (state.step === 'login' && after !== undefined) details.authenticatedAfter = after;
    if (state.login) {
      details.subject = state.login.subject;
      const consent = await this.#ctx.store.getConsent(request.clientId, state.login.subject);
      details.consented = parseScope(consent?.scope);
    }
    return details;
  }

  /**
   * Ends the login step: `user` signed in. Goes on to the consent step unless everything
   * requested was consented to before (and `prompt` is not `consent`); with `prompt=none` a
   * needed consent ends the request with `consent_required`. Throws `TypeError` when `authTime`
   * is older than `prompt=login` or `max_age` allow (the user must sign in again).
   */
  async finishLogin(ref: unknown, user: AuthenticatedUser): Promise<InteractionOutcome> {
    const ctx = this.#ctx;
    const now = ctx.now();
    const state = this.#open(ref, 'login');
    const login = checkLogin(state, user, now);
    await this.#consume(state);
    const { request } = state;
    const consent = await ctx.store.getConsent(request.clientId, login.subject);
    const requested = parseScope(request.scope);
    const needsConsent = request.prompt.includes('consent') || missingFrom(requested, parseScope(consent?.scope)).length > 0;
    if (!needsConsent) return { redirectTo: await issueCode(ctx, request, login, request.scope) };
    if (request.prompt.includes('none')) {
      // OIDC Core section 3.1.2.6: prompt=none and consent is needed.
      const error = new OAuthError('consent_required', 'The user has not consented to this request.');
      return { redirectTo: errorRedirect(ctx, request.redirectUri, request.state, error, request.clientId) };
    }
    const next = sealInteraction(ctx.interactionKey, { step: 'consent', request, createdAt: state.createdAt, expiresAt: state.expiresAt, login });
    return { redirectTo: interactionRedirect(ctx, next) };
  }

  /**
   * Ends the consent step with what the user granted (default: everything requested), remembers
   * it for the client and subject, and issues the code. `offline_access`, and so a refresh
   * token, only when granted (OIDC Core section 11).
   */
  async finishConsent(ref: unknown, result: ConsentResult = {}): Promise<InteractionOutcome> {
    const ctx = this.#ctx;
    const state = this.#open(ref, 'consent');
    const { request } = state;
    const requested = parseScope(request.scope);
    const granted = result.scope === undefined ? requested : Array.isArray(result.scope) ? [...new Set(result.scope)] : parseScope(result.scope);
    const beyond = missingFrom(granted, requested);
    if (beyond.length > 0) throw new TypeError(`the granted scope must be part of the requested one; not requested: ${beyond.join(' ')}`);
    await this.#consume(state);
    const login = state.login!;
    if (result.remember ?? true) {
      // The decision on the requested values replaces the earlier one; other values stay as they were.
      const earlier = parseScope((await ctx.store.getConsent(request.clientId, login.subject))?.scope);
      const scope = formatScope([...missingFrom(earlier, requested), ...granted]);
      await ctx.store.saveConsent({ clientId: request.clientId, subject: login.subject, scope, grantedAt: ctx.now() });
      ctx.emit({ type: 'consent.granted', at: ctx.now(), clientId: request.clientId, subject: login.subject, detail: `scope ${scope}` });
    }
    return { redirectTo: await issueCode(ctx, request, login, formatScope(granted)) };
  }

  /**
   * Ends a sign-in with an error for the client: `access_denied` (the user said no), or, when
   * the request had `prompt=none` and the application cannot answer without showing a page,
   * `login_required` (no session), `consent_required`, `interaction_required`.
   */
  async abort(ref: unknown, error: InteractionError = 'access_denied', description?: string): Promise<InteractionOutcome> {
    if (!abortErrors.has(error)) throw new TypeError(`abort: unsupported error ${JSON.stringify(error)}`);
    const state = this.#open(ref);
    await this.#consume(state);
    const failure = new OAuthError(error as InteractionError, description ?? defaultDescriptions[error]);
    return { redirectTo: errorRedirect(this.#ctx, state.request.redirectUri, state.request.state, failure, state.request.clientId) };
  }

  #open(ref: unknown, step?: InteractionState['step']): InteractionState {
    const state = openInteraction(this.#ctx.interactionKey, ref, this.#ctx.now());
    if (!state || (step !== undefined && state.step !== step)) {
      throw new OAuthError('invalid_request', invalidReference, { detail: state ? `expected the ${step} step, got ${state.step}` : 'unreadable or expired interaction reference' });
    }
    return state;
  }

  /** Each reference finishes once, on any instance sharing the store. */
  async #consume(state: InteractionState): Promise<void> {
    if (!(await this.#ctx.store.consumeOnce('interaction', state.id, state.expiresAt))) {
      throw new OAuthError('invalid_request', invalidReference, { detail: 'interaction reference used twice' });
    }
  }
}

const defaultDescriptions: Record<InteractionError, string> = {
  access_denied: 'The user denied the request.',
  login_required: 'The user is not signed in.',
  consent_required: 'The user has not consented to this request.',
  interaction_required: 'The request needs the user to interact.',
  account_selection_required: 'The user must select an account.',
};

/** The browser's next stop: the application's page with the reference. */
export function interactionRedirect(ctx: ServerContext, ref: string): string {
  return redirectWith(ctx.interactionUrl!, { interaction: ref });
}

/** prompt=login: authenticated after the request arrived; max_age: within the last max_age seconds. */
function authenticatedAfter(state: InteractionState, now: number): number | undefined {
  const { prompt, maxAge } = state.request;
  const bounds = [prompt.includes('login') ? state.createdAt : undefined, maxAge === undefined ? undefined : now - maxAge];
  const defined = bounds.filter((b): b is number => b !== undefined);
  return defined.length === 0 ? undefined : Math.max(...defined);
}

function checkLogin(state: InteractionState, user: AuthenticatedUser, now: number): NonNullable<InteractionState['login']> {
  if (typeof user?.subject !== 'string' || user.subject.length === 0 || user.subject.length > 255) {
    // OIDC Core section 2: sub is at most 255 ASCII characters.
    throw new TypeError('finishLogin: subject must be a string of 1 to 255 characters');
  }
  const authTime = user.authTime ?? now;
  if (!Number.isInteger(authTime) || authTime > now + futureSkew) throw new TypeError('finishLogin: authTime must be whole seconds, not in the future');
  const after = authenticatedAfter(state, now);
  if (after !== undefined && authTime < after) {
    throw new TypeError(`finishLogin: the request needs an authentication at or after ${after} (prompt=login or max_age); sign the user in again`);
  }
  if (user.acr !== undefined && typeof user.acr !== 'string') throw new TypeError('finishLogin: acr must be a string');
  if (user.amr !== undefined && (!Array.isArray(user.amr) || !user.amr.every((v) => typeof v === 'string'))) {
    throw new TypeError('finishLogin: amr must be an array of strings');
  }
  const login: NonNullable<InteractionState['login']> = { subject: user.subject, authTime };
  if (user.acr !== undefined) login.acr = user.acr;
  if (user.amr !== undefined) login.amr = user.amr;
  return login;
}
