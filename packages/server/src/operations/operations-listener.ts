/**
 * `GET /health`, `GET /ready` and `GET /metrics` on `node:http`, in front of the OAuth handler:
 * what `refresh-grant serve` mounts at the root of its HTTP server.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { jsonResponse, type CoreResponse } from '../core/http-types.ts';
import type { HealthChecks } from './health.ts';

/** Options of {@link createOperationsListener}. */
export interface OperationsListenerOptions {
  /** Serves `/health` and `/ready`. */
  health?: HealthChecks;
  /** Serves `/metrics` (anything with `response()`, e.g. `createMetrics()` of `@refresh-grant/server/metrics`). */
  metrics?: { response(): Promise<CoreResponse> };
}

/**
 * A `(req, res)` function that answers the operations endpoints and returns true, or returns
 * false for any other request (for the next handler).
 *
 * @example
 * ```ts
 * const operations = createOperationsListener({ health: createHealthChecks(server) })
 * const oauth = createNodeHandler(server)
 * http.createServer((req, res) => operations(req, res) || oauth(req, res))
 * ```
 */
export function createOperationsListener(options: OperationsListenerOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { health, metrics } = options;
  const answers: Record<string, () => CoreResponse | Promise<CoreResponse>> = {};
  if (health) {
    answers['/health'] = () => health.live();
    answers['/ready'] = () => health.ready();
  }
  if (metrics) answers['/metrics'] = () => metrics.response();
  return (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (!Object.hasOwn(answers, path)) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, jsonResponse(405, { error: 'invalid_request', error_description: 'Use GET at this endpoint.' }, { allow: 'GET, HEAD' }), false);
      return true;
    }
    // The body of a GET is not read: drain it so the connection can be reused.
    req.resume();
    Promise.resolve()
      .then(answers[path])
      .then(
        (response) => send(res, response, req.method === 'HEAD'),
        () => send(res, jsonResponse(500, { status: 'error' }), false),
      );
    return true;
  };
}

function send(res: ServerResponse, response: CoreResponse, head: boolean): void {
  if (res.headersSent) return;
  res.writeHead(response.status, { ...response.headers, 'content-length': Buffer.byteLength(response.body) });
  res.end(head ? undefined : response.body);
}
