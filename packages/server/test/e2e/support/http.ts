/**
 * Token endpoint requests for end-to-end tests against `serve` processes.
 */
import { toForm } from '../../support/harness.ts';

/** An answer of the token endpoint. */
export interface TokenAnswer {
  status: number;
  json: any;
  text: string;
}

/**
 * POSTs a form to `url`; rejects only when no response arrives (connection refused or reset).
 *
 * @example
 * ```ts
 * const res = await postForm(`${a.url}/token`, { grant_type: 'refresh_token', refresh_token }, basicAuth(id, secret))
 * ```
 */
export async function postForm(url: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<TokenAnswer> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: toForm(form),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

/** RFC 6749 section 2.3.1: the Basic authorization header, form-encoding id and secret first. */
export function basicAuth(clientId: string, secret: string): Record<string, string> {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return { authorization: `Basic ${Buffer.from(`${enc(clientId)}:${enc(secret)}`).toString('base64')}` };
}

/** A refresh request with one refresh token, authenticated with Basic. */
export function refresh(baseUrl: string, refreshToken: string, auth: Record<string, string>): Promise<TokenAnswer> {
  return postForm(`${baseUrl}/token`, { grant_type: 'refresh_token', refresh_token: refreshToken }, auth);
}
