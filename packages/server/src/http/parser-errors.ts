/**
 * The answers `node:http` would give itself with an empty body (or not at all), given here as
 * RFC 6749 section 5.2 JSON errors with their right status: requests the parser refuses (400,
 * 431 for headers too large, 413, 408 for requests that did not arrive in time), expectations
 * other than `100-continue` (417), and `CONNECT` (405). Used by `createNodeServer`.
 */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/** An answer: status, headers (lower case), JSON body. */
export interface JsonAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** A section 5.2 error answer; caches must not keep it. */
export function jsonAnswer(status: number, error: string, description: string, headers: Record<string, string> = {}): JsonAnswer {
  return {
    status,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers },
    body: JSON.stringify({ error, error_description: description }),
  };
}

/** What the parser's error codes mean for the client. */
function parserRefusal(code: string | undefined): JsonAnswer {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return jsonAnswer(431, 'invalid_request', 'The request line or headers are too large.');
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return jsonAnswer(413, 'invalid_request', 'The request body has chunk extensions that are too large.');
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return jsonAnswer(408, 'invalid_request', 'The request was not received in time.');
    default:
      return jsonAnswer(400, 'invalid_request', 'The request is not valid HTTP/1.1.');
  }
}

/** The answer as bytes on the wire, closing the connection after it. */
function raw(answer: JsonAnswer, extra: Record<string, string> = {}): string {
  const headers = { ...answer.headers, ...extra, connection: 'close', 'content-length': String(Buffer.byteLength(answer.body)) };
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  return `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status]}\r\n${lines}\r\n${answer.body}`;
}

/**
 * `clientError`: the parser refused what the client sent, or the request timed out. Answers
 * when nothing of a response was written on the connection yet, then closes it.
 *
 * @example
 * ```ts
 * http.on('clientError', answerClientError)
 * ```
 */
export function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  const current = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  // A connection reset has no one to answer; a response under way must not be corrupted.
  if (error.code === 'ECONNRESET' || !socket.writable || current?.headersSent) {
    socket.destroy();
    return;
  }
  socket.end(raw(parserRefusal(error.code)));
  // The client may not close its side: the connection goes once the answer is out.
  socket.once('finish', () => socket.destroy());
}

/**
 * `checkExpectation`: an `Expect` other than `100-continue` is 417 (RFC 9110 section 10.1.1).
 *
 * @example
 * ```ts
 * http.on('checkExpectation', answerExpectation)
 * ```
 */
export function answerExpectation(_req: IncomingMessage, res: ServerResponse): void {
  const answer = jsonAnswer(417, 'invalid_request', 'The only expectation supported is 100-continue.', { connection: 'close' });
  res.writeHead(answer.status, { ...answer.headers, 'content-length': Buffer.byteLength(answer.body) });
  res.end(answer.body);
}

/**
 * `connect`: this server is no proxy; a `CONNECT` gets 405 and the connection closes.
 *
 * @example
 * ```ts
 * http.on('connect', answerConnect)
 * ```
 */
export function answerConnect(_req: IncomingMessage, socket: Duplex): void {
  socket.end(raw(jsonAnswer(405, 'invalid_request', 'CONNECT is not supported.'), { allow: 'GET, HEAD, POST' }));
  socket.once('finish', () => socket.destroy());
}
