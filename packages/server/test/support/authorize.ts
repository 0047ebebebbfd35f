/**
 * Test helpers for the authorization code flow: PKCE pairs, requests at the authorization
 * endpoint without following redirects, and a sign-in driven through `server.interactions`
 * the way an application's login page drives it.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type { ConsentResult } from '../../src/core/interactions/interactions.ts';
import type { AuthenticatedUser } from '../../src/core/context.ts';
import type { Harness } from './harness.ts';

/** Where the harness servers of these tests send the browser to sign in (never fetched). */
export const loginPage = 'https://login.example/sign-in';

/** A PKCE pair (RFC 7636): a 43-character verifier and its S256 challenge. */
export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** An answer read without following redirects. */
export interface Answer {
  status: number;
  headers: Headers;
  /** The Location header, parsed (undefined without one). */
  location: URL | undefined;
  text: string;
}

/** GETs `url` (or POSTs a form) without following a redirect. */
export async function visit(url: string | URL, init: { form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<Answer> {
  const res = await fetch(url, {
    redirect: 'manual',
    method: init.form ? 'POST' : 'GET',
    headers: { ...(init.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}), ...init.headers },
    body: init.form ? new URLSearchParams(init.form).toString() : undefined,
  });
  const location = res.headers.get('location');
  return { status: res.status, headers: res.headers, location: location ? new URL(location, url) : undefined, text: await res.text() };
}

/** The authorization endpoint URL of `h` with `params`. */
export function authorizeUrl(h: Harness, params: Record<string, string | undefined>): URL {
  const url = new URL(`${h.issuer}/authorize`);
  for (const [name, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(name, value);
  return url;
}

/** A well-formed authorization request for `clientId` (override or drop parameters with undefined). */
export function codeRequest(clientId: string, redirectUri: string, challenge: string, extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return { response_type: 'code', client_id: clientId, redirect_uri: redirectUri, scope: 'openid offline_access', state: 'st-' + randomBytes(6).toString('hex'), code_challenge: challenge, code_challenge_method: 'S256', ...extra };
}

/** The interaction reference of an answer that sent the browser to the sign-in page. */
export function interactionOf(answer: Answer): string {
  assert.equal(answer.status, 303, answer.text);
  assert.ok(answer.location, 'a Location header');
  assert.equal(answer.location.origin + answer.location.pathname, loginPage);
  const ref = answer.location.searchParams.get('interaction');
  assert.ok(ref, 'an interaction reference');
  return ref;
}

/**
 * A whole sign-in: the authorization request, the login step and, when the server asks for it,
 * the consent step; returns the final redirect (to the client) parsed.
 */
export async function signIn(
  h: Harness,
  params: Record<string, string | undefined>,
  user: AuthenticatedUser,
  consent: ConsentResult | false = {},
): Promise<URL> {
  const ref = interactionOf(await visit(authorizeUrl(h, params)));
  let next = new URL((await h.server.interactions.finishLogin(ref, user)).redirectTo);
  if (next.origin + next.pathname === loginPage) {
    const consentRef = next.searchParams.get('interaction')!;
    assert.equal((await h.server.interactions.get(consentRef)).step, 'consent');
    next = new URL(consent === false ? (await h.server.interactions.abort(consentRef)).redirectTo : (await h.server.interactions.finishConsent(consentRef, consent)).redirectTo);
  }
  return next;
}

/** Exchanges a code at the token endpoint with a public client's `client_id`, or other headers/fields. */
export function exchange(h: Harness, fields: Record<string, string>, headers: Record<string, string> = {}) {
  return h.post('/token', { grant_type: 'authorization_code', ...fields }, headers);
}

/** The hidden `interaction` field of a development login page. */
export function interactionField(page: Answer): string {
  const match = /name="interaction" value="([^"]+)"/.exec(page.text);
  assert.ok(match, page.text);
  return match[1];
}

/**
 * Drives the development login over HTTP, as curl would: from an authorization URL to the
 * final redirect to the client (signing in as `subject`, allowing the consent if asked).
 */
export async function devLoginSignIn(authorizationUrl: string | URL, subject: string): Promise<URL> {
  const toLogin = await visit(authorizationUrl);
  assert.equal(toLogin.status, 303, toLogin.text);
  const form = await visit(toLogin.location!);
  assert.equal(form.status, 200, form.text);
  const action = toLogin.location!.origin + toLogin.location!.pathname;
  let next = await visit(action, { form: { interaction: interactionField(form), subject, decision: 'sign-in' } });
  assert.equal(next.status, 303, next.text);
  if (next.location!.pathname === toLogin.location!.pathname) {
    const consent = await visit(next.location!);
    next = await visit(action, { form: { interaction: interactionField(consent), decision: 'allow' } });
    assert.equal(next.status, 303, next.text);
  }
  return next.location!;
}
