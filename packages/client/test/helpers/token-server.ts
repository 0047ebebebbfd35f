/**
 * A minimal rotating token endpoint for the token manager tests: issues `at-N`/`rt-N`, rotates on
 * every refresh, answers a reused refresh token within the retry window with the same successor
 * (like our server), and with invalid_grant after it.
 */
import type { ServerResponse } from 'node:http';
import { json, startServer, type RecordedRequest, type TestServer } from './http-server.ts';

export interface TokenServerOptions {
  /** Rotate refresh tokens. @default true */
  rotate?: boolean;
  expiresIn?: number;
  /** Answer a reused refresh token with its cached successor response (the lost-response retry). @default true */
  retryWindow?: boolean;
  /** Runs first; return true when it answered. */
  intercept?: (request: RecordedRequest, response: ServerResponse, count: number) => boolean | Promise<boolean>;
}

export interface TokenServer extends TestServer {
  tokenEndpoint: string;
  /** Successful refreshes that minted new tokens (retries answered from the window excluded). */
  refreshes: () => number;
  /** invalid_grant answers sent. */
  rejections: () => number;
  /** Makes `rt` a valid refresh token. */
  seed(rt: string): void;
}

export async function startTokenServer(options: TokenServerOptions = {}): Promise<TokenServer> {
  const { rotate = true, expiresIn = 3600, retryWindow = true } = options;
  const valid = new Set<string>();
  const answered = new Map<string, object>();
  let refreshes = 0;
  let rejections = 0;
  let count = 0;
  const server = await startServer(async (req, res) => {
    count++;
    if (options.intercept && (await options.intercept(req, res, count))) return;
    const rt = req.form.get('refresh_token') ?? '';
    if (req.form.get('grant_type') !== 'refresh_token') return json(res, 400, { error: 'unsupported_grant_type' });
    if (valid.has(rt)) {
      refreshes++;
      const body: Record<string, unknown> = { access_token: `at-${refreshes}`, token_type: 'Bearer', expires_in: expiresIn };
      if (rotate) {
        valid.delete(rt);
        valid.add((body.refresh_token = `rt-${refreshes}`) as string);
        answered.set(rt, body);
      }
      return json(res, 200, body);
    }
    if (retryWindow && answered.has(rt)) return json(res, 200, answered.get(rt));
    rejections++;
    return json(res, 400, { error: 'invalid_grant', error_description: 'refresh token is not valid' });
  });
  return {
    ...server,
    tokenEndpoint: `${server.url}/token`,
    refreshes: () => refreshes,
    rejections: () => rejections,
    seed: (rt) => void valid.add(rt),
  };
}
