/**
 * Parsing of `application/x-www-form-urlencoded` request bodies (RFC 6749 appendix B).
 */
import { OAuthError } from './errors.ts';
import type { CoreRequest } from './http-types.ts';

/**
 * The parameters this server reads. RFC 6749 section 3.2 forbids sending any of them twice;
 * `resource` is the exception (RFC 8707 section 2 allows several). Unknown parameters are
 * ignored altogether, repeated or not.
 */
const singleValued = new Set([
  'grant_type',
  'refresh_token',
  'scope',
  'client_id',
  'client_secret',
  'client_assertion',
  'client_assertion_type',
  'token',
  'token_type_hint',
  // authorization_code, jwt-bearer and password grants
  'code',
  'code_verifier',
  'redirect_uri',
  'assertion',
  'username',
  'password',
  // authorization requests (RFC 6749 section 4.1.1, RFC 7636, OIDC Core section 3.1.2.1, RFC 9126, RFC 9449)
  'response_type',
  'response_mode',
  'state',
  'nonce',
  'prompt',
  'max_age',
  'login_hint',
  'code_challenge',
  'code_challenge_method',
  'request',
  'request_uri',
  'dpop_jkt',
  // UserInfo (RFC 6750 section 2.2)
  'access_token',
]);

/**
 * Checks the content type, parses the body and rejects duplicated parameters.
 *
 * @example
 * ```ts
 * const params = parseForm(request) // URLSearchParams
 * params.get('grant_type')
 * ```
 */
export function parseForm(req: CoreRequest): URLSearchParams {
  assertFormContentType(req.headers['content-type']);
  const params = new URLSearchParams(req.body);
  rejectDuplicates(params);
  return params;
}

/** Throws `invalid_request` unless the media type is form-urlencoded (with an optional UTF-8 charset). */
export function assertFormContentType(contentType: string | undefined): void {
  // RFC 6749 section 3.2: the client MUST use the "application/x-www-form-urlencoded" format.
  const [type = '', ...parameters] = (contentType ?? '').split(';');
  if (type.trim().toLowerCase() !== 'application/x-www-form-urlencoded') {
    throw new OAuthError('invalid_request', 'The request body must be application/x-www-form-urlencoded.', {
      detail: `content-type: ${contentType ?? '(none)'}`,
    });
  }
  for (const parameter of parameters) {
    const [name = '', value = ''] = parameter.split('=');
    if (name.trim().toLowerCase() !== 'charset') continue;
    const charset = value.trim().replace(/^"|"$/g, '').toLowerCase();
    if (charset !== 'utf-8' && charset !== 'utf8') {
      throw new OAuthError('invalid_request', 'The request body must be UTF-8.', { detail: `charset ${charset}` });
    }
  }
}

/** Throws `invalid_request` when a parameter this server reads appears twice. */
export function rejectDuplicates(params: URLSearchParams): void {
  const seen = new Set<string>();
  for (const name of params.keys()) {
    // RFC 6749 section 3.2: request and response parameters MUST NOT be included more than once.
    if (seen.has(name) && singleValued.has(name)) {
      throw new OAuthError('invalid_request', `The parameter ${name} was sent more than once.`);
    }
    seen.add(name);
  }
}

/** The parameter's value, or `invalid_request` when it is missing or empty. */
export function requireParam(params: URLSearchParams, name: string): string {
  const value = params.get(name);
  if (value === null || value === '') {
    throw new OAuthError('invalid_request', `The ${name} parameter is required.`);
  }
  return value;
}
