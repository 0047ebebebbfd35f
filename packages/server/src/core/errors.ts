/**
 * Errors as data: every failure the token endpoint can answer with is an {@link OAuthError}
 * carrying the RFC 6749 section 5.2 `error` code, the HTTP status, a description that is safe
 * to show the client, and a private detail that only goes to logs and the event stream.
 */
import { StoreUnavailableError } from './store.ts';

/**
 * The `error` codes this server answers with: RFC 6749 sections 4.1.2.1 and 5.2, RFC 6750
 * section 3.1, RFC 7009, RFC 8707, RFC 9126, RFC 9449, OIDC Core section 3.1.2.6.
 */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'invalid_target'
  | 'unsupported_token_type'
  | 'invalid_dpop_proof'
  | 'use_dpop_nonce'
  | 'server_error'
  | 'temporarily_unavailable'
  // Authorization endpoint (RFC 6749 section 4.1.2.1, OIDC Core section 3.1.2.6, RFC 9126).
  | 'unsupported_response_type'
  | 'access_denied'
  | 'login_required'
  | 'consent_required'
  | 'interaction_required'
  | 'account_selection_required'
  | 'request_not_supported'
  | 'invalid_request_uri'
  // Protected resources (the UserInfo endpoint), RFC 6750 section 3.1.
  | 'invalid_token'
  | 'insufficient_scope';

const defaultStatus: Record<OAuthErrorCode, number> = {
  invalid_request: 400,
  invalid_client: 401,
  invalid_grant: 400,
  unauthorized_client: 400,
  unsupported_grant_type: 400,
  invalid_scope: 400,
  invalid_target: 400,
  unsupported_token_type: 400,
  invalid_dpop_proof: 400,
  use_dpop_nonce: 400,
  server_error: 500,
  temporarily_unavailable: 503,
  unsupported_response_type: 400,
  access_denied: 400,
  login_required: 400,
  consent_required: 400,
  interaction_required: 400,
  account_selection_required: 400,
  request_not_supported: 400,
  invalid_request_uri: 400,
  invalid_token: 401,
  insufficient_scope: 403,
};

/** Options of {@link OAuthError}. */
export interface OAuthErrorOptions {
  /** HTTP status; defaults to the one RFC 6749 section 5.2 implies for the code. */
  status?: number;
  /** Private detail for logs and events; never sent to the client. */
  detail?: string;
  /** Extra response headers (`WWW-Authenticate`, `DPoP-Nonce`, `Allow`). */
  headers?: Record<string, string>;
  /** The underlying cause, for logs. */
  cause?: unknown;
  /** Already reported as an event by whoever threw it: the router does not report it again. */
  reported?: boolean;
  /** Fields for the event the router reports for this error (e.g. the client authentication method tried). */
  event?: OAuthErrorEventFields;
}

/** What an {@link OAuthError} adds to the event reported for it. */
export interface OAuthErrorEventFields {
  authMethod?: string;
}

/**
 * An OAuth error response (RFC 6749 section 5.2).
 *
 * @example
 * ```ts
 * throw new OAuthError('invalid_grant', 'The refresh token is invalid.', { detail: 'reuse of generation 3' })
 * ```
 */
export class OAuthError extends Error {
  override readonly name = 'OAuthError';
  readonly error: OAuthErrorCode;
  readonly status: number;
  /** Safe, public `error_description`. */
  readonly description: string;
  /** Private detail; goes to logs only. */
  readonly detail: string | undefined;
  readonly headers: Record<string, string>;
  /** Already reported as an event (see {@link OAuthErrorOptions.reported}). */
  readonly reported: boolean;
  /** Fields for the reported event (see {@link OAuthErrorOptions.event}). */
  readonly event: OAuthErrorEventFields | undefined;

  constructor(error: OAuthErrorCode, description: string, options: OAuthErrorOptions = {}) {
    super(description, options.cause === undefined ? undefined : { cause: options.cause });
    this.error = error;
    this.description = description;
    this.status = options.status ?? defaultStatus[error];
    this.detail = options.detail;
    this.headers = options.headers ?? {};
    this.reported = options.reported ?? false;
    this.event = options.event;
  }

  /** The section 5.2 JSON body. */
  toJSON(): { error: OAuthErrorCode; error_description: string } {
    return { error: this.error, error_description: this.description };
  }
}

/**
 * Turns anything thrown into an {@link OAuthError}: a store that cannot answer now becomes 503
 * `temporarily_unavailable` with `Retry-After`, anything else unexpected `server_error`.
 */
export function toOAuthError(err: unknown): OAuthError {
  if (err instanceof OAuthError) return err;
  if (err instanceof StoreUnavailableError) {
    return new OAuthError('temporarily_unavailable', 'The server is temporarily unable to handle the request. Retry later.', {
      headers: { 'retry-after': String(err.retryAfter) },
      detail: `${err.name}: ${err.message}`,
      cause: err,
    });
  }
  return new OAuthError('server_error', 'The server encountered an unexpected condition.', {
    detail: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
    cause: err,
  });
}
