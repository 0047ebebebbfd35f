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
  /**
   * Called once per request this handler answered, once the answer was handed to the socket: for
   * access logs and metrics. Errors it throws are ignored. Without it, nothing is timed.
   */
  onResponse?: (info: ResponseInfo) => void;
}

/** One answered request, for {@link NodeHandlerOptions.onResponse}. */
export interface ResponseInfo {
  method: string;
  /** The path relative to the issuer (`/token`), or the request's own path outside it; never the query. */
  path: string;
  status: number;
  /** Milliseconds from the handler receiving the request to the answer being handed to the socket. */
  durationMs: number;
  req: IncomingMessage;
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
  const onResponse = options.onResponse;
  /**
   * Answers one request; the promise settles once the answer was handed to the socket, or the
   * request was abandoned (its connection closed before the body arrived). `createNodeServer`
   * counts a request in flight until then.
   */
  return function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = onResponse ? performance.now() : 0;
    // Express and Connect strip a mount prefix from `req.url` and keep the full path in
    // `originalUrl`: the path the client addressed is what the issuer and DPoP's `htu` name.
    const rawUrl = (req as { originalUrl?: string }).originalUrl ?? req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const pathname = q === -1 ? rawUrl : rawUrl.slice(0, q);
    const path = corePath(pathname, basePath);
    // Sends the answer, then reports it when asked to (no work at all otherwise).
    const answer = (response: CoreResponse, head: boolean) => {
      send(res, response, head);
      if (onResponse) observed(onResponse, { method: req.method ?? 'GET', path: path ?? pathname, status: response.status, durationMs: performance.now() - started, req });
    };
    if (path === undefined) {
      if (options.notFound) return Promise.resolve(options.notFound(req, res));
      return Promise.resolve(answer(jsonResponse(404, { error: 'not_found', error_description: 'No such endpoint.' }), false));
    }
    const handOver = (body: string) =>
      server
        .handle({
          method: req.method ?? 'GET',
          path,
          // The query too: the authorization endpoint reads its parameters from it.
          url: origin + rawUrl,
          headers: req.headers as Record<string, string | undefined>,
          body,
        })
        .then(
          (response) => answer(response, req.method === 'HEAD'),
          () => answer(jsonResponse(500, { error: 'server_error', error_description: 'The server encountered an unexpected condition.' }), false),
        );
    // A body parser mounted before us (Express `express.urlencoded()`, body-parser, Koa's)
    // already read the stream: take what it parsed instead of waiting for data that never comes.
    if (req.readableEnded) {
      const parsed = parsedBody((req as { body?: unknown }).body);
      if (typeof parsed === 'string') return handOver(parsed);
      return Promise.resolve(answer(jsonResponse(500, { error: 'server_error', error_description: parsed.error }), false));
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxBodyBytes) return Promise.resolve(rejectTooLarge(req, answer));
    return new Promise<void>((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let aborted = false;
      req.on('data', (chunk: Buffer) => {
        if (aborted) return;
        size += chunk.length;
        if (size > maxBodyBytes) {
          aborted = true;
          rejectTooLarge(req, answer);
          return resolve();
        }
        chunks.push(chunk);
      });
      req.on('error', () => {
        res.destroy();
        resolve();
      });
      // The connection went before the body was complete: nothing to answer.
      req.on('close', () => {
        if (!req.complete) resolve();
      });
      req.on('end', () => {
        if (aborted) return;
        handOver(chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8')).then(resolve);
      });
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

function observed(onResponse: (info: ResponseInfo) => void, info: ResponseInfo): void {
  try {
    onResponse(info);
  } catch {
    // An access log or a metric must never break an answer.
  }
}

function rejectTooLarge(req: IncomingMessage, answer: (response: CoreResponse, head: boolean) => void): void {
  const response = tooLargeResponse();
  response.headers.connection = 'close';
  answer(response, false);
  // Stop reading what is left of the body; the connection closes after the answer.
  req.resume();
}

function send(res: ServerResponse, response: CoreResponse, head: boolean): void {
  if (res.headersSent) return;
  // With its length known, headers and body leave in one write, without chunked framing.
  res.writeHead(response.status, { ...response.headers, 'content-length': Buffer.byteLength(response.body) });
  res.end(head ? undefined : response.body);
}
