import { base64url, utf8 } from './base64url.ts';

// RFC 7636 section 4.1: 43 to 128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~".
const VERIFIER = /^[\w.~-]{43,128}$/;

/** 32 random bytes, base64url: 256 bits, as RFC 7636 section 4.1 and RFC 9700 section 2.1.1 recommend. */
const random = (): string => base64url(crypto.getRandomValues(new Uint8Array(32)));

/**
 * A fresh PKCE `code_verifier` (RFC 7636): 43 characters carrying 256 random bits. Keep it in the
 * user's session until the redirect comes back; send only its challenge in the authorization request.
 *
 * @example
 * const codeVerifier = randomPKCECodeVerifier()
 * const codeChallenge = await calculatePKCECodeChallenge(codeVerifier)
 * const url = buildAuthorizationUrl(config, { redirect_uri, scope, code_challenge: codeChallenge, code_challenge_method: 'S256' })
 */
export function randomPKCECodeVerifier(): string {
  return random();
}

/**
 * The `S256` PKCE `code_challenge` of a verifier: BASE64URL(SHA-256(ASCII(code_verifier)))
 * (RFC 7636 section 4.2). A verifier outside RFC 7636's syntax is a TypeError.
 *
 * @example
 * const codeChallenge = await calculatePKCECodeChallenge(randomPKCECodeVerifier())
 */
export async function calculatePKCECodeChallenge(codeVerifier: string): Promise<string> {
  assertVerifier(codeVerifier);
  return base64url(new Uint8Array(await crypto.subtle.digest('SHA-256', utf8(codeVerifier))));
}

/** A TypeError unless `codeVerifier` has RFC 7636 section 4.1's syntax. */
export function assertVerifier(codeVerifier: unknown): asserts codeVerifier is string {
  if (typeof codeVerifier !== 'string' || !VERIFIER.test(codeVerifier)) {
    throw new TypeError('"codeVerifier" must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636 section 4.1)');
  }
}

/**
 * A fresh OAuth 2.0 `state` value (256 random bits, base64url): ties the redirect back to the
 * user agent that started the request (RFC 6749 section 10.12).
 *
 * @example
 * const state = randomState()   // keep it in the session; pass it as checks.expectedState
 */
export function randomState(): string {
  return random();
}

/**
 * A fresh OpenID Connect `nonce` value (256 random bits, base64url): ties the id_token to the
 * request (OIDC Core section 3.1.2.1).
 *
 * @example
 * const nonce = randomNonce()   // keep it in the session; pass it as checks.expectedNonce
 */
export function randomNonce(): string {
  return random();
}
