/**
 * Prometheus metrics with prom-client. Counts come from the server's events (no extra work in
 * the protocol core); latencies from the node:http adapter's `onResponse` hook and from a timed
 * view of the store; gauges (connection pool, signing thread, load) are read when scraped.
 * `refresh-grant serve --metrics` serves them at `GET /metrics`; an embedding application wires
 * the same pieces. docs/operations.md lists every metric.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AuthorizationServer } from '../core/authorization-server.ts';
import type { ServerEvent } from '../core/events.ts';
import type { CoreResponse } from '../core/http-types.ts';
import type { Store } from '../core/store.ts';
import type { ResponseInfo } from '../http/node-handler.ts';

/** Load figures of an HTTP server (the overload controls' `stats()`). */
export interface LoadStats {
  /** Requests being answered now. */
  inFlight: number;
  /** Requests refused since the start because the server was overloaded. */
  shed: number;
  /** Open connections. */
  connections: number;
}

/** Options of {@link createMetrics}. */
export interface MetricsOptions {
  /** Where to register (default: a new registry of its own). */
  registry?: Registry;
  /** Also Node's process metrics (CPU, memory, event loop delay, GC), prom-client's defaults. Default true. */
  processMetrics?: boolean;
  /** Where in-flight, shed and connection counts come from, read at each scrape. */
  load?: () => LoadStats;
}

/** The metrics of one server process. */
export interface Metrics {
  readonly registry: Registry;
  /** Counts `server`'s events and reads its store and signing thread at each scrape. Once per server. */
  observe(server: AuthorizationServer): void;
  /** The same store, its operations timed (`refresh_grant_store_operation_duration_seconds`). */
  instrumentStore<T extends Store>(store: T): T;
  /** For `createNodeHandler(server, { onResponse })`: requests and their latency per endpoint. */
  readonly onResponse: (info: ResponseInfo) => void;
  /** The exposition, as `GET /metrics` answers it. */
  response(): Promise<CoreResponse>;
}

/** Endpoints that get their own label; any other path is `other` (labels stay few). */
const endpoints = new Set(['/token', '/revoke', '/introspect', '/jwks', '/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']);

/** Token endpoint latency buckets, seconds. */
const requestBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** Store operation latency buckets, seconds. */
const storeBuckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

/**
 * Creates the metrics. Wire them: time the store, observe the server, hook the HTTP handler,
 * serve the exposition.
 *
 * @example
 * ```ts
 * import { createMetrics } from '@refresh-grant/server/metrics'
 * const metrics = createMetrics()
 * const store = metrics.instrumentStore(await openSqliteStore('./refresh-grant.db'))
 * const server = await createAuthorizationServer({ issuer, store, kek })
 * metrics.observe(server)
 * const handler = createNodeHandler(server, { onResponse: metrics.onResponse })
 * // GET /metrics: const { status, headers, body } = await metrics.response()
 * ```
 */
export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = options.registry ?? new Registry();
  const registers = [registry];
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });

  const refreshes = new Counter({
    name: 'refresh_grant_refreshes_total',
    help: 'Refresh token grant requests by outcome (rotated, replayed, kept, rejected, reuse_detected, shadowing_detected); rejected ones by reason.',
    labelNames: ['outcome', 'reason'],
    registers,
  });
  const grantsIssued = new Counter({ name: 'refresh_grant_grants_issued_total', help: 'Grants issued (first refresh token of a family).', registers });
  const grantsBound = new Counter({ name: 'refresh_grant_grants_dpop_bound_total', help: 'Public clients\' families bound to a DPoP key at their first refresh with a proof.', registers });
  const grantsRevoked = new Counter({ name: 'refresh_grant_grants_revoked_total', help: 'Grants (families) revoked, by reason (reuse, shadowing, revocation, admin, or the reason given to revokeGrants).', labelNames: ['reason'], registers });
  const authFailures = new Counter({
    name: 'refresh_grant_client_auth_failures_total',
    help: 'Failed client authentications, by the method the request tried (unknown when none was recognisable).',
    labelNames: ['method'],
    registers,
  });
  const codesIssued = new Counter({ name: 'refresh_grant_authorization_codes_issued_total', help: 'Authorization codes issued at the end of a sign-in.', registers });
  const codesReplayed = new Counter({
    name: 'refresh_grant_authorization_codes_replayed_total',
    help: 'Authorization codes presented again after their first use (the family the first use created is revoked).',
    registers,
  });
  const consentsGranted = new Counter({ name: 'refresh_grant_consents_granted_total', help: 'Consents given by users during a sign-in.', registers });
  const authorizationFailures = new Counter({
    name: 'refresh_grant_authorization_failures_total',
    help: 'Authorization requests ended with an error (at the client\'s redirection URI or on an error page), by OAuth error code.',
    labelNames: ['error'],
    registers,
  });
  const requestErrors = new Counter({ name: 'refresh_grant_request_errors_total', help: 'Requests refused with an OAuth error other than invalid_grant and invalid_client, by endpoint and error.', labelNames: ['endpoint', 'error'], registers });
  const maintenanceFailures = new Counter({ name: 'refresh_grant_maintenance_failures_total', help: 'Failed background rounds, by task (key_reload, purge).', labelNames: ['task'], registers });
  const requests = new Counter({ name: 'refresh_grant_http_requests_total', help: 'HTTP requests answered, by endpoint and status.', labelNames: ['endpoint', 'status'], registers });
  const requestDuration = new Histogram({
    name: 'refresh_grant_http_request_duration_seconds',
    help: 'Time from receiving a request to handing its answer to the socket, by endpoint (endpoint="/token": the token endpoint).',
    labelNames: ['endpoint'],
    buckets: requestBuckets,
    registers,
  });
  const storeDuration = new Histogram({ name: 'refresh_grant_store_operation_duration_seconds', help: 'Store operations, by operation (useRefreshToken is the rotation, lock wait included).', labelNames: ['operation'], buckets: storeBuckets, registers });
  const storeErrors = new Counter({ name: 'refresh_grant_store_errors_total', help: 'Store operations that failed, by operation.', labelNames: ['operation'], registers });

  const servers: AuthorizationServer[] = [];
  const stores: Store[] = [];
  const sumOf = (read: (server: AuthorizationServer) => number | undefined) => servers.reduce((sum, s) => sum + (read(s) ?? 0), 0);
  new Gauge({
    name: 'refresh_grant_signing_queue_depth',
    help: 'Signatures waiting for the signing thread (queued or being computed).',
    registers,
    collect() {
      this.set(sumOf((s) => s.keys.signatureStats()?.pending));
    },
  });
  new Counter({
    name: 'refresh_grant_signatures_total',
    help: 'JWS signatures computed, by where (thread: the signing thread; inline: the event loop, when the thread is off, failed or closed).',
    labelNames: ['where'],
    registers,
    collect() {
      this.reset();
      this.inc({ where: 'thread' }, sumOf((s) => s.keys.signatureStats()?.onThread));
      this.inc({ where: 'inline' }, sumOf((s) => s.keys.signatureStats()?.inline));
    },
  });
  const pool = (name: string, help: string, read: (p: { size: number; idle: number; waiting: number }) => number) =>
    new Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(stores.reduce((sum, s) => sum + (s.stats?.().pool ? read(s.stats!().pool!) : 0), 0));
      },
    });
  pool('refresh_grant_store_pool_connections', 'Database connections open in the pool (PostgreSQL).', (p) => p.size);
  pool('refresh_grant_store_pool_idle_connections', 'Open database connections not in use (PostgreSQL).', (p) => p.idle);
  pool('refresh_grant_store_pool_waiting', 'Store operations waiting for a database connection (PostgreSQL).', (p) => p.waiting);
  if (options.load) {
    const load = options.load;
    new Gauge({ name: 'refresh_grant_requests_in_flight', help: 'Requests being answered now.', registers, collect() { this.set(load().inFlight); } });
    new Gauge({ name: 'refresh_grant_connections', help: 'Open HTTP connections.', registers, collect() { this.set(load().connections); } });
    new Counter({
      name: 'refresh_grant_requests_shed_total',
      help: 'Requests refused because the server was overloaded (503 with Retry-After).',
      registers,
      collect() {
        this.reset();
        this.inc(load().shed);
      },
    });
  }

  // Children bound once: the common events cost one increment.
  const rotated = refreshes.labels({ outcome: 'rotated' });
  const replayed = refreshes.labels({ outcome: 'replayed' });
  const kept = refreshes.labels({ outcome: 'kept' });
  const reuse = refreshes.labels({ outcome: 'reuse_detected' });
  const shadowing = refreshes.labels({ outcome: 'shadowing_detected' });
  const count = (event: ServerEvent) => {
    switch (event.type) {
      case 'refresh_token.rotated':
        return rotated.inc();
      case 'refresh_token.replayed':
        return replayed.inc();
      case 'refresh_token.used':
        return kept.inc();
      case 'refresh_token.reuse_detected':
        return reuse.inc();
      case 'refresh_token.shadowing_detected':
        return shadowing.inc();
      case 'grant.dpop_bound':
        return grantsBound.inc();
      case 'refresh_token.rejected':
        return refreshes.inc({ outcome: 'rejected', reason: event.reason ?? 'unknown' });
      case 'grant.issued':
        return grantsIssued.inc();
      case 'grant.revoked':
        return grantsRevoked.inc({ reason: event.reason ?? 'unknown' });
      case 'client_auth.failed':
        return authFailures.inc({ method: event.authMethod ?? 'unknown' });
      case 'request.failed':
        return requestErrors.inc({ endpoint: label(event.endpoint), error: event.error ?? 'unknown' });
      case 'maintenance.failed':
        return maintenanceFailures.inc({ task: event.reason ?? 'unknown' });
      case 'authorization_code.issued':
        return codesIssued.inc();
      case 'authorization_code.replayed':
        return codesReplayed.inc();
      case 'consent.granted':
        return consentsGranted.inc();
      // The error is one of the server's OAuth error codes (OAuthErrorCode): a bounded label.
      case 'authorization.failed':
        return authorizationFailures.inc({ error: event.error ?? 'unknown' });
    }
  };

  const byEndpoint = new Map<string, { observe: (seconds: number) => void }>();
  return {
    registry,
    observe(server) {
      servers.push(server);
      if (!stores.includes(server.store)) stores.push(server.store);
      server.onEvent(count);
    },
    instrumentStore(store) {
      return timedStore(store, (operation) => {
        const duration = storeDuration.labels({ operation });
        const errors = storeErrors.labels({ operation });
        return (seconds, failed) => {
          duration.observe(seconds);
          if (failed) errors.inc();
        };
      });
    },
    onResponse(info) {
      const endpoint = label(info.path);
      let duration = byEndpoint.get(endpoint);
      if (!duration) byEndpoint.set(endpoint, (duration = requestDuration.labels({ endpoint })));
      duration.observe(info.durationMs / 1000);
      requests.inc({ endpoint, status: info.status });
    },
    async response() {
      return { status: 200, headers: { 'content-type': registry.contentType, 'cache-control': 'no-store' }, body: await registry.metrics() };
    },
  };
}

function label(path: string | undefined): string {
  return path !== undefined && endpoints.has(path) ? path : 'other';
}

/**
 * A view of `store` whose methods report how long they took (promises: until settled). Every
 * method of the object is wrapped, so that operations added to the Store contract later are
 * timed too; other properties read through to the store.
 */
function timedStore<T extends Store>(store: T, reporter: (operation: string) => (seconds: number, failed: boolean) => void): T {
  const timed = Object.create(null) as Record<string, unknown>;
  const seen = new Set<string>();
  for (let o: object | null = store; o && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const name of Object.getOwnPropertyNames(o)) {
      if (name === 'constructor' || name === 'close' || name === 'stats' || seen.has(name)) continue;
      seen.add(name);
      const value = (store as unknown as Record<string, unknown>)[name];
      if (typeof value !== 'function') {
        Object.defineProperty(timed, name, { get: () => (store as unknown as Record<string, unknown>)[name], enumerable: true });
        continue;
      }
      const method = value as (...args: unknown[]) => unknown;
      const report = reporter(name);
      timed[name] = (...args: unknown[]) => {
        const started = performance.now();
        const done = (failed: boolean) => report((performance.now() - started) / 1000, failed);
        let result: unknown;
        try {
          result = method.apply(store, args);
        } catch (error) {
          done(true);
          throw error;
        }
        if (result instanceof Promise) {
          return result.then(
            (value) => (done(false), value),
            (error) => {
              done(true);
              throw error;
            },
          );
        }
        done(false);
        return result;
      };
    }
  }
  // close and stats pass through, bound: they are not timed.
  timed.close = () => store.close();
  if (store.stats) timed.stats = () => store.stats!();
  return timed as unknown as T;
}
