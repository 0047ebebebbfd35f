/**
 * HTTP/1.1 on a raw socket, for tests that must send what no well-behaved client sends
 * (malformed requests, pipelining, half-closed connections) and see every byte of the answer.
 */
import { connect, type Socket } from 'node:net';

/** One answer read off the wire. */
export interface RawAnswer {
  status: number;
  /** Header names in lower case. */
  headers: Record<string, string>;
  body: string;
  /** The body as JSON, or undefined when it is not JSON. */
  json: any;
}

/** What came back on one connection. */
export interface RawExchange {
  answers: RawAnswer[];
  /** The server closed the connection. */
  closed: boolean;
  socket: Socket;
}

/** Splits complete answers (Content-Length bodies, 1xx without one) off the front of `buffer`. */
export function parseAnswers(buffer: Buffer): { answers: RawAnswer[]; rest: Buffer } {
  const answers: RawAnswer[] = [];
  for (;;) {
    const end = buffer.indexOf('\r\n\r\n');
    if (end === -1) break;
    const [statusLine, ...lines] = buffer.toString('latin1', 0, end).split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const status = Number(statusLine.split(' ')[1]);
    const length = status < 200 ? 0 : Number(headers['content-length'] ?? 0);
    if (buffer.length < end + 4 + length) break;
    const body = buffer.toString('utf8', end + 4, end + 4 + length);
    let json: unknown;
    try {
      json = body ? JSON.parse(body) : undefined;
    } catch {
      json = undefined;
    }
    answers.push({ status, headers, body, json });
    buffer = buffer.subarray(end + 4 + length);
  }
  return { answers, rest: buffer };
}

/**
 * Connects to 127.0.0.1:`port`, writes `data` (then half-closes the connection with `halfClose`),
 * and resolves once `count` final answers (status >= 200) arrived or the server closed the
 * connection, whichever comes first (with `untilClose`, only once the server closed it).
 * Rejects if that does not happen within `timeoutMs` (a hang).
 *
 * @example
 * ```ts
 * const { answers, closed } = await exchange(port, 'GARBAGE\r\n\r\n')
 * answers[0].status // 400
 * ```
 */
export function exchange(
  port: number,
  data: string | Buffer,
  options: { halfClose?: boolean; count?: number; untilClose?: boolean; timeoutMs?: number } = {},
): Promise<RawExchange> {
  const count = options.count ?? 1;
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let buffer: Buffer = Buffer.alloc(0);
    const answers: RawAnswer[] = [];
    const finals = () => answers.filter((a) => a.status >= 200).length;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${options.timeoutMs ?? 20_000} ms (got ${answers.length}: ${answers.map((a) => a.status).join(', ')})`));
    }, options.timeoutMs ?? 20_000);
    const done = (closed: boolean) => {
      clearTimeout(timer);
      resolve({ answers, closed, socket });
    };
    socket.on('data', (chunk: Buffer) => {
      const parsed = parseAnswers(Buffer.concat([buffer, chunk]));
      buffer = parsed.rest;
      answers.push(...parsed.answers);
      if (!options.untilClose && finals() >= count) done(false);
    });
    socket.on('error', () => {});
    socket.on('close', () => done(true));
    socket.write(data, () => {
      if (options.halfClose) socket.end();
    });
  });
}

/** A request as bytes: method, path, headers (Host added unless given), body with its length. */
export function rawRequest(method: string, path: string, headers: Record<string, string> = {}, body = ''): string {
  const all: Record<string, string> = { host: '127.0.0.1', ...headers };
  if (body !== '' || method === 'POST') all['content-length'] = String(Buffer.byteLength(body));
  return `${method} ${path} HTTP/1.1\r\n${Object.entries(all).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n${body}`;
}
