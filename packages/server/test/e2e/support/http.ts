/**
 * Token endpoint requests for end-to-end tests against `serve` processes.
 */
import { basicAuth, postForm } from '../../support/harness.ts';

/** An answer of the token endpoint. */
export interface TokenAnswer {
  status: number;
  json: any;
  text: string;
}

/** The harness's form POST and Basic header, for requests to `serve` processes. */
export { basicAuth, postForm };

/** A refresh request with one refresh token, authenticated with Basic. */
export function refresh(baseUrl: string, refreshToken: string, auth: Record<string, string>): Promise<TokenAnswer> {
  return postForm(`${baseUrl}/token`, { grant_type: 'refresh_token', refresh_token: refreshToken }, auth);
}
