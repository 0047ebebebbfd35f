/**
 * The Fetch adapter: `(Request) => Promise<Response>` for Hono, Next.js route handlers, Bun,
 * Deno and Workers. Same core, same answers as the `node:http` adapter. The host's server owns
 * connections and timeouts; this adapter bounds the requests it works on at once, as
 * `createNodeServer` does, so that overload is refused at once rather than queued.
 */
import type { AuthorizationServer } from '../core/authorization-server.ts';
import { jsonResponse, maxBodyBytes, tooLargeResponse, type CoreResponse } from '../core/http-types.ts';
import { corePath } from './paths.ts';

/** Options of {@link createFetchHandler}. */
export interface FetchHandlerOptions {
  /** Path the server is mounted at; defaults to the issuer's path. */
  basePath?: string;
  /**
   * Requests handled at once (from their arrival to their answer, the body's reading included);
   * beyond it, 503 `temporarily_unavailable` with `Retry-After` at once, never a queue. Default
   * 256, as `createNodeServer`'s `maxInFlight`.
   */
  maxInFlight?: number;
  /** Seconds in the `Retry-After` of that 503. Default 1. */
  retryAfter?: number;
}

/**
 * A Fetch API handler.
 *
 * @example
 * ```ts
 * const handle = createFetchHandler(server)
 * Bun.serve({ fetch: handle })            // Bun
 * app.all('/oauth/*', (c) => handle(c.req.raw)) // Hono
 * ```
 */
export function createFetchHandler(server: AuthorizationServer, options: FetchHandlerOptions = {}) {
  const basePath = options.basePath ?? server.basePath;
  const origin = new URL(server.issuer).origin;
  const maxInFlight = wholeNumber('maxInFlight', options.maxInFlight ?? 256);
  const retryAfter = wholeNumber('retryAfter', options.retryAfter ?? 1);
  // RFC 6749 section 5.2 shape; RFC 9110 section 15.6.4: a 503 may say when to retry.
  const busy = jsonResponse(503, { error: 'temporarily_unavailable', error_description: 'The server is busy. Retry later.' }, { 'retry-after': String(retryAfter) });
  let inFlight = 0;
  return async function handle(request: Request): Promise<Response> {
    if (inFlight >= maxInFlight) return toResponse(busy, request.method === 'HEAD');
    inFlight++;
    try {
      return await answer(request);
    } finally {
      inFlight--;
    }
  };

  async function answer(request: Request): Promise<Response> {
    const { pathname, search } = new URL(request.url);
    const path = corePath(pathname, basePath);
    if (path === undefined) return toResponse(jsonResponse(404, { error: 'not_found', error_description: 'No such endpoint.' }), false);
    if (Number(request.headers.get('content-length') ?? 0) > maxBodyBytes) return toResponse(tooLargeResponse(), false);
    const body = await readLimited(request);
    if (body === undefined) return toResponse(tooLargeResponse(), false);
    const headers: Record<string, string> = {};
    request.headers.forEach((value, name) => {
      headers[name] = value;
    });
    const response = await server.handle({ method: request.method, path, url: origin + pathname + search, headers, body });
    return toResponse(response, request.method === 'HEAD');
  }
}

/** `value` when it is a whole number >= 1; a TypeError naming the option otherwise. */
function wholeNumber(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new TypeError(`${name} must be a whole number >= 1`);
  return value;
}

/** The body as text, or undefined when it exceeds the limit. */
async function readLimited(request: Request): Promise<string | undefined> {
  if (!request.body) return '';
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBodyBytes) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  const all = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(all);
}

function toResponse(response: CoreResponse, head: boolean): Response {
  const noBody = head || response.body === '' || response.status === 204;
  return new Response(noBody ? null : response.body, { status: response.status, headers: response.headers });
}
