/**
 * A `node:http` server that holds under overload and hostile input. Around any request handler
 * (`createNodeHandler(server)`, an Express app):
 *
 * - **requests in flight** are bounded per process: beyond `maxInFlight`, a request is answered
 *   at once with 503 `temporarily_unavailable` and `Retry-After` (RFC 6749 section 5.2 JSON),
 *   never queued, so latency and memory stay bounded at any offered load; so is a request read
 *   after the event loop has been busy for `maxEventLoopDelayMs` without a break (it waited
 *   unread that long: shed by recency, not answered late);
 * - **pipelining** is bounded per connection: a request beyond `maxPipelined` unanswered ones on
 *   its connection gets that 503 with `Connection: close`, and what the connection sent after it
 *   is dropped unanswered (past `8 * maxPipelined` such requests, the connection is closed at once);
 * - **connections** are capped: at `maxConnections`, a new connection closes the one idle the
 *   longest (no request in flight: a keep-alive, or one that never sent a complete request), or
 *   is closed itself when every connection is busy;
 * - **timeouts** are set on purpose: the headers of a request within `headersTimeoutMs`, the
 *   whole request within `requestTimeoutMs`, an idle keep-alive connection kept `keepAliveTimeoutMs`
 *   (and so is a new connection that has sent nothing yet: it is idle, not late, and gets no 408);
 * - **every answer is JSON**, the HTTP parser's own refusals included (`parser-errors.ts`);
 * - a client that **half-closes** its connection after sending a request still gets the answer
 *   (a committed rotation is never answered into a closed socket).
 *
 * `stats()` gives the counters for metrics.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { answerClientError, answerConnect, answerExpectation, jsonAnswer } from './parser-errors.ts';

/** Limits of {@link createNodeServer}; omitted ones take {@link nodeServerDefaults}. */
export interface NodeServerOptions {
  /** Requests in flight in this process; beyond it, 503 at once. */
  maxInFlight?: number;
  /**
   * How long, in ms, the event loop may have been busy without a break when a request is read;
   * beyond it, 503 at once. Requests that arrive while the process is busy wait unread in the
   * kernel's socket buffers, where the in-flight limit does not see them: one read late in a
   * long turn of the event loop has waited about that long already, and is refused rather than
   * answered later still. This bounds the latency of what is answered at any offered load.
   */
  maxEventLoopDelayMs?: number;
  /** Unanswered requests on one connection (HTTP/1.1 pipelining); beyond it, 503 and the connection closes. */
  maxPipelined?: number;
  /** Open connections; beyond it the longest idle one is closed (or, all busy, the new one). */
  maxConnections?: number;
  /** Time to receive a request's headers, in ms. */
  headersTimeoutMs?: number;
  /** Time to receive a whole request (headers and body), in ms. */
  requestTimeoutMs?: number;
  /** How long an idle keep-alive connection is kept, in ms. */
  keepAliveTimeoutMs?: number;
  /** `Retry-After` of a 503 for load, in seconds. */
  retryAfter?: number;
  /**
   * Requests that the in-flight and pipelining limits leave alone and do not count: cheap ones
   * that must answer under load too (health probes, metrics scrapes). Default: none.
   */
  exempt?: (req: IncomingMessage) => boolean;
}

/** The counters of a {@link NodeServer}, for metrics. */
export interface NodeServerStats {
  /** Requests being handled now. */
  inFlight: number;
  /** Requests answered 503 for load (beyond the in-flight, event loop delay or pipelining limits) since the start. */
  shed: number;
  /** Connections open now. */
  connections: number;
}

/** What {@link createNodeServer} returns. */
export interface NodeServer {
  /** The `node:http` server (not listening yet): call `listen`, `close` on it as usual. */
  readonly http: Server;
  /** The counters now. */
  stats(): NodeServerStats;
}

/**
 * The defaults, chosen with the benchmark's overload part (`npm run bench -- --parts overload`,
 * docs/benchmarks.md). `maxEventLoopDelayMs`: 25 ms keeps the p99 of answered requests at 30-50
 * ms from 1x to 3x capacity, with the same goodput as 35 or 50 ms, and lets a patient crowd of a
 * few hundred concurrent clients through unrefused (a turn of 256 refreshes lasts about 20 ms).
 * `maxInFlight`: with the delay bound in place, 32 to 512 gave the same curve on SQLite; 256
 * leaves room for stores whose requests wait on the network (PostgreSQL's batches) rather than
 * on the CPU. `keepAliveTimeoutMs` is above the 60 s idle timeout of common load balancers, so
 * that they, not the server, close idle connections (no request lost on a connection being closed).
 */
export const nodeServerDefaults = {
  maxInFlight: 256,
  maxEventLoopDelayMs: 25,
  maxPipelined: 8,
  maxConnections: 4096,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 65_000,
  retryAfter: 1,
} as const;

/** What the server knows of one connection. */
interface Connection {
  /** Requests admitted on it and not finished. */
  inFlight: number;
  /** A request beyond the pipelining limit was refused: the rest of what it sent is dropped. */
  closing: boolean;
  /** Requests dropped since (past `8 * maxPipelined` of them, the connection is closed at once). */
  dropped: number;
  /** Closed (its requests still count in flight until their handlers are done). */
  closed: boolean;
  /** It sent nothing within `headersTimeoutMs` of being opened: kept as idle, closed after `keepAliveTimeoutMs`. */
  idle: boolean;
}

/**
 * Creates a `node:http` server around `handler` with the limits above. A handler that returns a
 * promise (as `createNodeHandler`'s does) counts in flight until it settles, even when its
 * client went away meanwhile (its work goes on); any other until its response is finished or
 * its connection closed.
 *
 * @example
 * ```ts
 * const { http, stats } = createNodeServer(createNodeHandler(server), { maxInFlight: 256 })
 * http.listen(8080)
 * setInterval(() => console.log(stats()), 10_000) // { inFlight, shed, connections }
 * ```
 */
export function createNodeServer(handler: (req: IncomingMessage, res: ServerResponse) => unknown, options: NodeServerOptions = {}): NodeServer {
  const { exempt, ...numbers } = options;
  const given = Object.fromEntries(Object.entries(numbers).filter(([, value]) => value !== undefined));
  const limits: Required<Omit<NodeServerOptions, 'exempt'>> = { ...nodeServerDefaults, maxConnections: defaultMaxConnections(), ...given };
  for (const [name, value] of Object.entries(limits)) {
    const least = name === 'retryAfter' ? 0 : 1;
    if (!Number.isInteger(value) || value < least) throw new TypeError(`${name} must be a whole number >= ${least}`);
  }
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) throw new TypeError('headersTimeoutMs must not exceed requestTimeoutMs');
  const http = createServer({
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // How often the two timeouts above are checked (Node's default, 30 s, would let them run late by that much).
    connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
    // RFC 9112 section 3.2: a request without Host is a 400; answered here, as JSON, not by Node with an empty body.
    requireHostHeader: false,
  });
  // A client that half-closes after its request still gets the answer (Node otherwise ends the
  // socket at the client's FIN, and an answer computed meanwhile, e.g. a committed rotation, is lost).
  (http as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;

  /** Open connections, least recently active first (a Map keeps insertion order). */
  const connections = new Map<Socket, Connection>();
  let inFlight = 0;
  let shed = 0;
  // Built once: a refusal must cost as little as possible, since under overload it is most of the work.
  const busy = jsonAnswer(503, 'temporarily_unavailable', 'The server is busy. Retry later.', { 'retry-after': String(limits.retryAfter) });
  const busyHeaders = [...Object.entries(busy.headers).flat(), 'content-length', String(Buffer.byteLength(busy.body))];
  const busyAndClosing = [...busyHeaders, 'connection', 'close'];
  const refuse = (res: ServerResponse, headers: string[]) => {
    shed++;
    res.writeHead(503, headers);
    res.end(busy.body);
  };

  http.on('connection', (socket: Socket) => {
    if (connections.size >= limits.maxConnections && !closeIdlest(connections)) {
      // Every connection has a request in flight: this one cannot be served now.
      socket.destroy();
      return;
    }
    const connection: Connection = { inFlight: 0, closing: false, dropped: 0, closed: false, idle: false };
    connections.set(socket, connection);
    socket.once('close', () => {
      connections.delete(socket);
      connection.closed = true;
    });
  });

  // How long a request read now may have waited unread, estimated from the turns of the event
  // loop: since the first request read in this turn, or, when this turn follows the last one
  // without a break (the loop went on reading), since the last turn began: what arrived while
  // that turn ran was read only now. One performance.now() per request, one setImmediate per turn.
  let turnStartedAt = 0;
  let turnEndedAt = -Infinity;
  let waitingSince = 0;
  let inTurn = false;
  const endTurn = () => {
    inTurn = false;
    turnEndedAt = performance.now();
  };
  const delay = (): number => {
    const now = performance.now();
    if (!inTurn) {
      inTurn = true;
      waitingSince = now - turnEndedAt < 1 ? turnStartedAt : now;
      turnStartedAt = now;
      setImmediate(endTurn);
    }
    return now - waitingSince;
  };

  const admit = (req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): void => {
    const connection = connections.get(req.socket);
    if (!connection) return;
    if (connection.idle) {
      // Its first request: from now on Node's own timeouts apply, as on any connection.
      connection.idle = false;
      req.socket.setTimeout(0);
    }
    if (connection.closing) {
      // Dropped unanswered: the connection closes after its last answer. A client that goes on
      // pipelining meanwhile is cut off at once (its answers are lost), so that what it sends
      // cannot pile up in memory while its first requests wait.
      if (++connection.dropped > 8 * limits.maxPipelined) req.socket.destroy();
      return;
    }
    if (req.httpVersionMajor === 1 && req.httpVersionMinor === 1 && req.headers.host === undefined) {
      return send(res, jsonAnswer(400, 'invalid_request', 'The request has no Host header.', { connection: 'close' }));
    }
    if (exempt?.(req)) {
      if (expectsContinue) res.writeContinue();
      handler(req, res);
      return;
    }
    if (connection.inFlight >= limits.maxPipelined) {
      connection.closing = true;
      return refuse(res, busyAndClosing);
    }
    // Shed by recency too: the in-flight limit does not see requests that wait unread in the
    // kernel's socket buffers while the loop is busy; those read too late are refused, not served
    // late. (Measured first, so that the turn's start is taken at its first request.)
    if (delay() > limits.maxEventLoopDelayMs || inFlight >= limits.maxInFlight) return refuse(res, busyHeaders);
    inFlight++;
    connection.inFlight++;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      inFlight--;
      connection.inFlight--;
      if (connection.closed) return;
      // Most recently active last: the idle connection closed first is the one idle the longest.
      connections.delete(req.socket);
      connections.set(req.socket, connection);
    };
    if (expectsContinue) res.writeContinue();
    let result: unknown;
    try {
      result = handler(req, res);
    } catch (error) {
      finish();
      throw error;
    }
    if (result && typeof (result as Promise<unknown>).then === 'function') (result as Promise<unknown>).then(finish, finish);
    else res.once('close', finish);
  };

  http.on('request', (req: IncomingMessage, res: ServerResponse) => admit(req, res, false));
  // Expect: 100-continue: admitted (or refused) before the client sends its body.
  http.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => admit(req, res, true));
  http.on('checkExpectation', answerExpectation);
  http.on('clientError', (error: Error & { code?: string }, socket: Socket) => {
    const connection = connections.get(socket);
    if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT' && socket.bytesRead === 0 && connection) {
      // Node's headers timeout runs from the moment a connection is accepted. One that has sent
      // nothing at all is not a request that came late: it is idle, like a keep-alive connection
      // between requests, and is kept as long (a client that opened connections ahead of need, a
      // pool). Answering it 408 and closing it would race with the request it may be sending, and
      // make its client reconnect (under load, a storm of SYNs that overflows the listen queue).
      // It stays counted against maxConnections, and is the first closed when the cap is reached.
      connection.idle = true;
      socket.setTimeout(limits.keepAliveTimeoutMs);
      return;
    }
    answerClientError(error, socket);
  });
  http.on('connect', answerConnect);

  return {
    http,
    stats: () => ({ inFlight, shed, connections: connections.size }),
  };
}

/** Closes the connection idle the longest; false when every connection has a request in flight. */
function closeIdlest(connections: Map<Socket, Connection>): boolean {
  for (const [socket, connection] of connections) {
    if (connection.inFlight > 0) continue;
    connections.delete(socket);
    socket.destroy();
    return true;
  }
  return false;
}

function send(res: ServerResponse, answer: { status: number; headers: Record<string, string>; body: string }): void {
  res.writeHead(answer.status, { ...answer.headers, 'content-length': Buffer.byteLength(answer.body) });
  res.end(answer.body);
}

/**
 * The default connection cap: 4096, or three quarters of this process's open file limit when
 * that is lower (the rest is left to the store, the log and the runtime). Linux only reads the
 * limit; elsewhere 4096.
 */
function defaultMaxConnections(): number {
  try {
    const limits = readFileSync('/proc/self/limits', 'utf8');
    const soft = /^Max open files\s+(\d+)/m.exec(limits)?.[1];
    if (soft) return Math.max(64, Math.min(nodeServerDefaults.maxConnections, Math.floor(Number(soft) * 0.75)));
  } catch {
    // not Linux
  }
  return nodeServerDefaults.maxConnections;
}
