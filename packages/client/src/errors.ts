import { parseWWWAuthenticate, type WWWAuthenticateChallenge } from './www-authenticate.ts';

/**
 * Base class of every failure a refresh (or a sign-in: the authorization response, the code
 * exchange) can end with (caller misuse is a `TypeError` instead). Narrow on `kind`, or on the
 * subclass with `instanceof`.
 */
export class RefreshError extends Error {
  /** Which member of the family this is. */
  declare readonly kind: 'oauth' | 'invalid_response' | 'transport' | 'authorization' | 'reauthentication_required';
  /** Whether sending the same request again could succeed (5xx, 429, network trouble). */
  readonly retryable: boolean;
  constructor(message: string, retryable: boolean, cause?: unknown) {
    super(message, { cause });
    this.retryable = retryable;
  }
}

/**
 * The server answered with an OAuth error (`error` member), at any HTTP status, 200 included.
 *
 * @example
 * try { await refreshTokenGrant(config, rt) } catch (e) {
 *   if (e instanceof OAuthResponseError && e.error === 'invalid_grant') signIn()
 * }
 */
export class OAuthResponseError extends RefreshError {
  declare readonly kind: 'oauth';
  /** The `error` code, e.g. `invalid_grant`. */
  readonly error: string;
  /** The `error_description`, if the server sent a string. */
  readonly errorDescription?: string;
  /** The `error_uri`, if the server sent a string. */
  readonly errorUri?: string;
  /** HTTP status of the response. */
  readonly status: number;
  /** Response headers. */
  readonly headers: Headers;
  /** The parsed response body. */
  readonly body: Record<string, unknown>;
  constructor(status: number, headers: Headers, body: Record<string, unknown>) {
    const error = body.error as string;
    const description = typeof body.error_description === 'string' ? body.error_description : undefined;
    super(description ? `${error}: ${description}` : error, isRetryableStatus(status, error));
    this.error = error;
    this.errorDescription = description;
    if (typeof body.error_uri === 'string') this.errorUri = body.error_uri;
    this.status = status;
    this.headers = headers;
    this.body = body;
  }
  /** The parsed `WWW-Authenticate` challenges (RFC 6750 section 3, RFC 9449 section 7.1). */
  get wwwAuthenticate(): WWWAuthenticateChallenge[] {
    return parseWWWAuthenticate(this.headers.get('www-authenticate'));
  }
  /** The `error` code, like `@oslojs/oauth2`'s `TokenRequestResult.errorCode()`. */
  errorCode(): string {
    return this.error;
  }
}

/**
 * The server's answer is not a valid token response: not JSON/form, a status without an `error`
 * member, a wrong member type, or an id_token that fails validation. `body` holds what was read,
 * so a rotated `refresh_token` in a response that failed validation is not lost.
 */
export class InvalidResponseError extends RefreshError {
  declare readonly kind: 'invalid_response';
  /** HTTP status, when there was a response. */
  readonly status?: number;
  /**
   * The parsed body, when it could be parsed. Non-enumerable: it may hold tokens, and logging the
   * error must not print them.
   */
  declare readonly body?: Record<string, unknown>;
  /** Response headers, when there was a response (`Retry-After` on a 503, say). */
  readonly headers?: Headers;
  constructor(
    message: string,
    status?: number,
    body?: Record<string, unknown>,
    retryable = isRetryableStatus(status),
    cause?: unknown,
    headers?: Headers,
  ) {
    super(message, retryable, cause);
    this.status = status;
    Object.defineProperty(this, 'body', { value: body });
    this.headers = headers;
  }
}

/** No response: network failure, connection reset before the body was read, or timeout. Always retryable. */
export class TransportError extends RefreshError {
  declare readonly kind: 'transport';
  /** True when the request timed out (`Configuration.timeout`). */
  readonly timeout: boolean;
  constructor(message: string, cause?: unknown, timeout = false) {
    super(message, true, cause);
    this.timeout = timeout;
  }
}

// Tag and name on the prototypes (explicit strings: minifiers rename classes).
for (const [ctor, kind, name] of [
  [OAuthResponseError, 'oauth', 'OAuthResponseError'],
  [InvalidResponseError, 'invalid_response', 'InvalidResponseError'],
  [TransportError, 'transport', 'TransportError'],
] as const) {
  Object.defineProperties(ctor.prototype, { kind: { value: kind }, name: { value: name } });
}

/** 5xx, 408 (request timeout) and 429 (slow down) may succeed later; the listed OAuth errors never do. */
function isRetryableStatus(status: number | undefined, error?: string): boolean {
  if (error && /^(invalid_(grant|client|scope|request|target)|unauthorized_client|unsupported_grant_type)$/.test(error)) return false;
  return status! >= 500 || status === 408 || status === 429 || error === 'temporarily_unavailable' || error === 'server_error';
}
