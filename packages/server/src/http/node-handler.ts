/**
 * The `node:http` adapter: the fast path. Reads the body with a size limit, hands a
 * {@link CoreRequest} to the server and writes the {@link CoreResponse} back.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthorizationServer } from '../core/authorization-server.ts';
import { jsonResponse, maxBodyBytes, tooLargeResponse, type CoreResponse } from '../core/http-types.ts';
import { corePath } from './paths.ts';

/** Options of {@link createNodeHandler}. */
export interface NodeHandlerOptions {
  /**
   * Path the server is mounted at, as clients address it; defaults to the issuer's path. The
   * handler matches it against `req.originalUrl` when a framework set one (Express and Connect
   * keep the full path there when they strip a mount prefix from `req.url`), else `req.url`.
   */
  basePath?: string;
  /** Called for requests outside the server's paths (e.g. Express `next`); default: 404. */
  notFound?: (req: IncomingMessage, res: ServerResponse) => void;
}

/**
 * A `(req, res)` listener for `node:http`, Express (`app.use('/oauth', handler)`), Connect, or
 * Fastify (from an `onRequest` hook after `reply.hijack()`). A body that a body parser already
 * read (`express.urlencoded()`) is taken from `req.body`.
 *
 * @example
 * ```ts
 * http.createServer(createNodeHandler(server)).listen(8080)
 * ```
 */
export function createNodeHandler(server: AuthorizationServer, options: NodeHandlerOptions = {}) {
  const basePath = options.basePath ?? server.basePath;
  const origin = new URL(server.issuer).origin;
  return function handle(req: IncomingMessage, res: ServerResponse): void {
    // Express and Connect strip a mount prefix from `req.url` and keep the full path in
    // `originalUrl`: the path the client addressed is what the issuer and DPoP's `htu` name.
    const rawUrl = (req as { originalUrl?: string }).originalUrl ?? req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const pathname = q === -1 ? rawUrl : rawUrl.slice(0, q);
    const path = corePath(pathname, basePath);
    if (path === undefined) {
      if (options.notFound) return options.notFound(req, res);
      return send(res, jsonResponse(404, { error: 'not_found', error_description: 'No such endpoint.' }), false);
    }
    const handOver = (body: string) =>
      server
        .handle({
          method: req.method ?? 'GET',
          path,
          url: origin + pathname,
          headers: req.headers as Record<string, string | undefined>,
          body,
        })
        .then(
          (response) => send(res, response, req.method === 'HEAD'),
          () => send(res, jsonResponse(500, { error: 'server_error', error_description: 'The server encountered an unexpected condition.' }), false),
        );
    // A body parser mounted before us (Express `express.urlencoded()`, body-parser, Koa's)
    // already read the stream: take what it parsed instead of waiting for data that never comes.
    if (req.readableEnded) {
      const parsed = parsedBody((req as { body?: unknown }).body);
      if (typeof parsed === 'string') return void handOver(parsed);
      return send(res, jsonResponse(500, { error: 'server_error', error_description: parsed.error }), false);
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxBodyBytes) return rejectTooLarge(req, res);
    const chunks: Buffer[] = [];
    let size = 0;
    let aborted = false;
    req.on('data', (chunk: Buffer) => {
      if (aborted) return;
      size += chunk.length;
      if (size > maxBodyBytes) {
        aborted = true;
        return rejectTooLarge(req, res);
      }
      chunks.push(chunk);
    });
    req.on('error', () => res.destroy());
    req.on('end', () => {
      if (aborted) return;
      handOver(chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8'));
    });
  };
}

/**
 * The body a body parser left on `req.body`, as form-encoded text: a string or Buffer as it
 * came, an object of strings (or arrays of strings) re-encoded. Anything else cannot be turned
 * back into the request that was sent, and is reported as the server's misconfiguration.
 */
export function parsedBody(body: unknown): string | { error: string } {
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array) return Buffer.from(body).toString('utf8');
  const cannot = {
    error:
      'The request body was consumed by a body parser before the OAuth handler could read it. ' +
      'Mount the handler before body parsers, or use a parser that leaves a form as strings.',
  };
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return cannot;
  const form = new URLSearchParams();
  for (const [name, value] of Object.entries(body)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (typeof item !== 'string') return cannot;
      form.append(name, item);
    }
  }
  return form.toString();
}

function rejectTooLarge(req: IncomingMessage, res: ServerResponse): void {
  const response = tooLargeResponse();
  response.headers.connection = 'close';
  send(res, response, false);
  // Stop reading what is left of the body; the connection closes after the answer.
  req.resume();
}

function send(res: ServerResponse, response: CoreResponse, head: boolean): void {
  if (res.headersSent) return;
  // With its length known, headers and body leave in one write, without chunked framing.
  res.writeHead(response.status, { ...response.headers, 'content-length': Buffer.byteLength(response.body) });
  res.end(head ? undefined : response.body);
}
