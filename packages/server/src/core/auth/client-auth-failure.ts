/**
 * What every client authentication method shares on failure: the `invalid_client` error of a
 * request (a generic description, the precise reason in `detail` for logs and events only,
 * `WWW-Authenticate: Basic` when the header was used), the method the request tried, and the
 * dummy hash that keeps the work the same whether a client exists or not.
 */
import { sha256 } from '../crypto.ts';
import { OAuthError } from '../errors.ts';
import type { ClientRecord, TokenEndpointAuthMethod } from '../types.ts';
import type { ClientAuthRequest } from './client-auth.ts';

/** Builds the `invalid_client` error of one request. */
export type Fail = (detail: string, cause?: unknown) => OAuthError;

const genericDescription = 'Client authentication failed.';

/** Compared against when there is no real hash, so that timing does not reveal whether a client exists. */
export const dummyHash = sha256('refresh-grant dummy client secret');

/** The client authentication method a request tried (`unknown`, `client_assertion` before its alg is read). */
export interface Tried {
  method: TokenEndpointAuthMethod | 'unknown' | 'client_assertion';
}

/** The `invalid_client` builder: with `WWW-Authenticate: Basic` when the header was used. */
export function failure(req: ClientAuthRequest, tried: Tried): Fail {
  const realm = (req.audiences[0] ?? 'token endpoint').replace(/[\\"]/g, '\\$&');
  // RFC 6749 section 5.2: a client that tried the Authorization header gets a 401 with a
  // WWW-Authenticate header matching the scheme it used.
  const headers: Record<string, string> | undefined =
    req.authorization === undefined
      ? undefined
      : { 'WWW-Authenticate': `Basic realm="${realm}", error="invalid_client"` };
  return (detail, cause) =>
    new OAuthError('invalid_client', genericDescription, { status: 401, detail, headers: headers && { ...headers }, cause, event: { authMethod: tried.method } });
}

/** The `detail` of a request whose method is not the one the client is registered for. */
export function methodMismatch(client: ClientRecord, used: TokenEndpointAuthMethod): string {
  return `client ${client.clientId} is registered for ${client.authMethod}, request used ${used}`;
}
