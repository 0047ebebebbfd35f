/**
 * The Fetch adapter: `(Request) => Promise<Response>` for Hono, Next.js route handlers, Bun,
 * Deno and Workers. Same core, same answers as the `node:http` adapter.
 */
import type { AuthorizationServer } from '../core/authorization-server.ts';
import { jsonResponse, maxBodyBytes, tooLargeResponse, type CoreResponse } from '../core/http-types.ts';
import { corePath } from './paths.ts';

/** Options of {@link createFetchHandler}. */
export interface FetchHandlerOptions {
  /** Path the server is mounted at; defaults to the issuer's path. */
  basePath?: string;
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
  return async function handle(request: Request): Promise<Response> {
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
  };
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
