/**
 * Framework-neutral request and response shapes. The HTTP adapters (`node:http`, Fetch)
 * translate to and from these; the core never touches a socket.
 */
import { OAuthError } from './errors.ts';

/** A request as the core sees it. Header names are lower case. */
export interface CoreRequest {
  method: string;
  /** Path relative to where the server is mounted (the issuer's path), e.g. `/token`. */
  path: string;
  /**
   * The full request URL as the client addressed it, with its query (the authorization
   * endpoint's parameters); DPoP `htu` checks ignore the query.
   */
  url: string;
  headers: Record<string, string | undefined>;
  /** The body as text (the adapters enforce the size limit). */
  body: string;
}

/** A response as the core builds it. */
export interface CoreResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Largest accepted request body; larger ones get 413. */
export const maxBodyBytes = 64 * 1024;

// RFC 6749 section 5.1: token responses (and section 5.2 errors) MUST carry Cache-Control: no-store.
const noStore = { 'content-type': 'application/json', 'cache-control': 'no-store', pragma: 'no-cache' };

/** A JSON response that caches must not keep. */
export function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): CoreResponse {
  return { status, headers: { ...noStore, ...headers }, body: JSON.stringify(body) };
}

/** The RFC 6749 section 5.2 error response for an {@link OAuthError}. */
export function errorResponse(err: OAuthError): CoreResponse {
  return jsonResponse(err.status, err.toJSON(), err.headers);
}

/** The 413 answer the adapters give to bodies over {@link maxBodyBytes}. */
export function tooLargeResponse(): CoreResponse {
  return errorResponse(new OAuthError('invalid_request', `The request body exceeds ${maxBodyBytes} bytes.`, { status: 413 }));
}
