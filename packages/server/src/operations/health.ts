/**
 * Health checks for load balancers and orchestrators: liveness (`GET /health`: the process
 * answers; no I/O) and readiness (`GET /ready`: the store answers a trivial query within a
 * deadline and the signing keys are loaded; 503 otherwise, and from the start of a shutdown).
 * Framework-neutral answers ({@link CoreResponse}); `createOperationsListener` serves them on
 * `node:http`.
 */
import type { AuthorizationServer } from '../core/authorization-server.ts';
import { jsonResponse, type CoreResponse } from '../core/http-types.ts';

/** Options of {@link createHealthChecks}. */
export interface HealthOptions {
  /** How long the store may take to answer the readiness query, ms (default 800: under Kubernetes' default 1 s probe timeout). */
  readyTimeoutMs?: number;
}

/** What each readiness check found. */
export interface ReadinessChecks {
  /** `ok`, `timeout` (no answer within the deadline) or `error` (the query failed). */
  store: 'ok' | 'timeout' | 'error';
  /** `ok` when the store holds signing keys and the server has a key to sign with. */
  signing_keys: 'ok' | 'missing' | 'unknown';
}

/** The health checks of one server. */
export interface HealthChecks {
  /** Liveness: always 200 `{"status":"ok"}` while the process can answer. */
  live(): CoreResponse;
  /** Readiness: 200 `{"status":"ready",...}` or 503 `{"status":"not_ready"|"draining",...}`. */
  ready(): Promise<CoreResponse>;
  /** From now on, readiness answers 503 `draining` (call it when a shutdown starts). */
  drain(): void;
}

/**
 * The health checks of `server`. Probes share one store query until it settles, so a store
 * that hangs never accumulates queries from probes.
 *
 * @example
 * ```ts
 * const health = createHealthChecks(server)
 * const res = await health.ready() // { status: 200 | 503, headers, body }
 * ```
 */
export function createHealthChecks(server: AuthorizationServer, options: HealthOptions = {}): HealthChecks {
  const timeoutMs = options.readyTimeoutMs ?? 800;
  let draining = false;
  // The one readiness query running; every probe waits on it (with its own deadline) until it
  // settles, so a store that hangs holds one query, not one per probe.
  let query: Promise<number | 'error'> | undefined;

  const check = async (): Promise<ReadinessChecks> => {
    // The trivial query: the signing key list (a few rows), which must not be empty.
    query ??= server.store.listSigningKeys().then(
      (keys) => keys.length,
      () => 'error' as const,
    ).finally(() => (query = undefined));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const outcome = await Promise.race([query, deadline]);
    clearTimeout(timer);
    let loaded = false;
    try {
      loaded = server.keys.current.kid !== undefined && server.keys.jwks().keys.length > 0;
    } catch {
      loaded = false;
    }
    if (typeof outcome !== 'number') return { store: outcome, signing_keys: 'unknown' };
    return { store: 'ok', signing_keys: loaded && outcome > 0 ? 'ok' : 'missing' };
  };

  return {
    live: () => jsonResponse(200, { status: 'ok' }),
    async ready() {
      if (draining) return jsonResponse(503, { status: 'draining' }, { 'retry-after': '1' });
      const checks = await check();
      const ok = checks.store === 'ok' && checks.signing_keys === 'ok' && !draining;
      return ok ? jsonResponse(200, { status: 'ready', checks }) : jsonResponse(503, { status: draining ? 'draining' : 'not_ready', checks }, { 'retry-after': '1' });
    },
    drain() {
      draining = true;
    },
  };
}
