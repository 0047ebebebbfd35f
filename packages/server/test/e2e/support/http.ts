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

/** The body of `createNodeServer`'s overload refusal (in-flight or event loop delay bound). */
const shed = /"The server is busy\. Retry later\."/;

/**
 * A refresh request with one refresh token, authenticated with Basic. An overload refusal
 * (503 "The server is busy", given before the request reaches the store, so nothing was
 * rotated) is retried as a client honouring `Retry-After` would, only sooner: these tests are
 * about rotation, not overload, and a busy CI machine may make the event loop delay bound shed
 * a request. Store outages (503 with another description) are returned as they are.
 */
export async function refresh(baseUrl: string, refreshToken: string, auth: Record<string, string>): Promise<TokenAnswer> {
  for (let attempt = 1; ; attempt++) {
    const answer = await postForm(`${baseUrl}/token`, { grant_type: 'refresh_token', refresh_token: refreshToken }, auth);
    if (answer.status !== 503 || !shed.test(answer.text) || attempt === 50) return answer;
    await new Promise((resolve) => setTimeout(resolve, 20 * attempt));
  }
}
