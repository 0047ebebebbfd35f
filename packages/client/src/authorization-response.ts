import { internal, type Configuration } from './configuration.ts';
import { InvalidResponseError, RefreshError } from './errors.ts';

/**
 * Pass as `checks.expectedState` to skip the `state` check (openid-client's `skipStateCheck`):
 * only for requests whose CSRF protection is PKCE alone, and never with a `state` you sent.
 */
export const skipStateCheck: unique symbol = /* @__PURE__ */ Symbol('skipStateCheck');

/**
 * The authorization server redirected back with an error (RFC 6749 section 4.1.2.1), e.g.
 * `access_denied` when the user refused, `login_required` for `prompt=none` without a session.
 * Thrown only once the response's `iss` and `state` passed their checks.
 *
 * @example
 * try { tokens = await authorizationCodeGrant(config, currentUrl, checks) } catch (e) {
 *   if (e instanceof AuthorizationResponseError && e.error === 'login_required') redirectToInteractiveLogin()
 * }
 */
export class AuthorizationResponseError extends RefreshError {
  declare readonly kind: 'authorization';
  /** The `error` code, e.g. `access_denied`. */
  readonly error: string;
  /** The `error_description`, if the server sent one. */
  readonly errorDescription?: string;
  /** The `error_uri`, if the server sent one. */
  readonly errorUri?: string;
  /** Every parameter of the authorization response. */
  readonly parameters: URLSearchParams;
  constructor(parameters: URLSearchParams) {
    const error = parameters.get('error')!;
    const description = parameters.get('error_description') ?? undefined;
    // RFC 6749 section 4.1.2.1: temporarily_unavailable and server_error may pass if the user is sent again later.
    super(description ? `${error}: ${description}` : error, /^(temporarily_unavailable|server_error)$/.test(error));
    this.error = error;
    this.errorDescription = description;
    this.errorUri = parameters.get('error_uri') ?? undefined;
    this.parameters = parameters;
  }
}
// Tag and name on the prototype (explicit strings: minifiers rename classes).
Object.defineProperties(AuthorizationResponseError.prototype, { kind: { value: 'authorization' }, name: { value: 'AuthorizationResponseError' } });

/** A checked authorization response: the code and the redirect URI to send with it. */
export interface AuthorizationResponse {
  code: string;
  /** The URL the response came to, without query and fragment: the `redirect_uri` of the request. */
  redirectUri: string;
}

/**
 * Reads the authorization response from the URL the user agent came back to (`response_mode`
 * `query`), or from the incoming request (`form_post` too), and checks it like openid-client:
 * `iss` (RFC 9207), then `state`, then an `error` (an {@link AuthorizationResponseError}), then a
 * single `code`. A failed check is an InvalidResponseError; misuse is a TypeError.
 */
export async function validateAuthorizationResponse(
  config: Configuration,
  currentUrl: URL | Request,
  expectedState?: string | typeof skipStateCheck,
): Promise<AuthorizationResponse> {
  const { server } = internal(config);
  if (expectedState !== undefined && expectedState !== skipStateCheck && (typeof expectedState !== 'string' || !expectedState)) {
    throw new TypeError('"expectedState" must be a non-empty string, skipStateCheck or undefined');
  }
  let url: URL;
  if (currentUrl instanceof URL) url = new URL(currentUrl);
  // Request by its tag, not instanceof: frameworks may hand in another realm's Request.
  else if (Object.prototype.toString.call(currentUrl) === '[object Request]') {
    url = new URL(currentUrl.url);
    if (currentUrl.method === 'POST') {
      // OAuth 2.0 Form Post Response Mode section 2: the parameters come as a form in a POST body.
      const type = currentUrl.headers.get('content-type')?.split(';')[0].trim().toLowerCase();
      if (type !== 'application/x-www-form-urlencoded') {
        throw fail(`a POSTed authorization response must be application/x-www-form-urlencoded, not ${type ?? 'without a content type'}`);
      }
      for (const [name, value] of new URLSearchParams(await currentUrl.text())) url.searchParams.append(name, value);
    } else if (currentUrl.method !== 'GET') throw new TypeError(`an authorization response comes with GET or POST, not ${currentUrl.method}`);
  } else throw new TypeError('"currentUrl" must be a URL or a Request');
  const parameters = url.searchParams;
  if (!parameters.size && /[#&](code|error|state)=/.test(url.hash)) {
    throw fail('the response is in the URL fragment (response_mode=fragment); use response_mode query or form_post');
  }
  // RFC 6749 section 3.1: request and response parameters MUST NOT be included more than once.
  const one = (name: string) => {
    const values = parameters.getAll(name);
    if (values.length > 1) throw fail(`"${name}" appears more than once (RFC 6749 section 3.1)`);
    return values[0] as string | undefined;
  };
  if (one('response') !== undefined) throw fail('a JWT-secured response (JARM, response_mode=jwt) is not supported');
  const iss = one('iss');
  // RFC 9207 section 2.4: reject a response without iss from a server that advertises it, and one whose iss is not the issuer.
  if (iss === undefined && server.authorization_response_iss_parameter_supported === true) {
    throw fail('"iss" is missing, and the server says it sends it (RFC 9207)');
  }
  if (iss !== undefined && iss !== server.issuer) throw fail(`"iss" ${iss} is not the issuer ${server.issuer} (RFC 9207): a mix-up attack?`);
  const state = one('state');
  if (expectedState === undefined) {
    if (state !== undefined) throw fail('"state" is present but none was expected');
  } else if (expectedState !== skipStateCheck && state !== expectedState) {
    // RFC 6749 section 10.12: the state binds the response to the user agent that made the request.
    throw fail(state === undefined ? '"state" is missing' : '"state" does not match the expected state');
  }
  if (one('error') !== undefined) throw new AuthorizationResponseError(new URLSearchParams(parameters));
  if (one('id_token') !== undefined || one('access_token') !== undefined) throw fail('implicit and hybrid responses are not supported; use response_type=code');
  const code = one('code');
  if (!code) throw fail('there is no "code"');
  url.search = '';
  url.hash = '';
  return { code, redirectUri: url.href };
}

/** A failed check of the authorization response. */
function fail(message: string): InvalidResponseError {
  return new InvalidResponseError(`authorization response rejected: ${message}`, undefined, undefined, false);
}
