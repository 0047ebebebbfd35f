/**
 * PostgreSQL faults: which failures mean "the database cannot answer now" (a terminated
 * backend, a restart, a refused or reset connection, a pool that cannot hand out a connection
 * in time), how a pooled connection that saw one is marked broken so that it is released as
 * broken and never reused, and how such a failure becomes a {@link StoreUnavailableError}
 * (503 `temporarily_unavailable` with `Retry-After`) instead of a 500.
 */
import type { Pool, PoolClient, QueryConfig, QueryResult, QueryResultRow } from 'pg';
import { StoreUnavailableError } from '../core/store.ts';

/**
 * SQLSTATEs that mean the connection is gone or going: class 08 (connection exception), 57P01
 * admin_shutdown (`pg_terminate_backend`, a fast shutdown), 57P02 crash_shutdown, 57P03
 * cannot_connect_now (starting up, in recovery).
 */
const connectionStates = new Set(['57P01', '57P02', '57P03']);
const connectionClasses = ['08'];

/**
 * SQLSTATEs that mean "not now" on a connection that still works: class 53 (insufficient
 * resources: disk full, out of memory, too many connections), 55P03 lock_not_available (a
 * `lock_timeout`), 57014 query_canceled (a `statement_timeout`): the statement took no effect;
 * and 40003 statement_completion_unknown (distributed engines: a COMMIT whose outcome is
 * unknown), where a retry is safe (a rotation that did commit is answered with the same
 * successor within the retry window).
 */
const notNowStates = new Set(['55P03', '57014', '40003']);
const notNowClasses = ['53'];

/** Socket-level errors of a connection to the database (Node's `code`s). */
const socketCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
]);

/**
 * Messages of `pg` and `pg-pool` for a lost connection, which carry no `code`: the socket
 * ended, a connect or query timeout, a client already known to be broken.
 */
const driverMessages =
  /^(Connection terminated|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error|Client was closed and is not queryable)/;

/** Connections that emitted `'error'` (their socket is gone): released as broken, never reused. */
const broken = new WeakSet<object>();

/**
 * Called for every connection the pool opens: listens for its `'error'` event for as long as it
 * lives, checked out or idle. Without a listener, an error emitted while the connection is
 * checked out (the backend was terminated between two statements) would be an unhandled
 * `'error'` event and end the process. The pool's own listener handles idle connections.
 */
export function watchConnection(client: PoolClient): void {
  client.on('error', () => broken.add(client));
}

/** SQLSTATE of a database error, if it has one. */
function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * True when `error` means the connection to the database failed (it must be released as
 * broken), not the statement.
 */
export function isConnectionFailure(error: unknown, client?: PoolClient): boolean {
  if (client && broken.has(client)) return true;
  if (!(error instanceof Error)) return false;
  const code = sqlState(error);
  if (code !== undefined) {
    if (connectionStates.has(code) || connectionClasses.includes(code.slice(0, 2))) return true;
    if (socketCodes.has(code)) return true;
  }
  return driverMessages.test(error.message);
}

/**
 * True when `error` means the database cannot answer now: the statement took no effect, or
 * its outcome is unknown and a retry is safe (a lost connection, 40003).
 */
export function isNotNow(error: unknown, client?: PoolClient): boolean {
  if (isConnectionFailure(error, client)) return true;
  const code = sqlState(error);
  return code !== undefined && (notNowStates.has(code) || notNowClasses.includes(code.slice(0, 2)));
}

/**
 * `error` as a {@link StoreUnavailableError} when it means "not now" ({@link isNotNow}), else
 * unchanged. `what` says which operation failed, for the log (never a token or a value).
 */
export function asUnavailable(error: unknown, what: string, client?: PoolClient): unknown {
  if (error instanceof StoreUnavailableError || !isNotNow(error, client)) return error;
  return new StoreUnavailableError(`PostgreSQL unavailable (${what}): ${(error as Error).message}`, { cause: error });
}

/**
 * A failure to get a connection from the pool: the server refused or reset it, is starting or
 * shutting down, or no connection came free within the pool's connect timeout. Always "not
 * now": nothing was sent.
 */
export function connectFailed(error: unknown): StoreUnavailableError {
  if (error instanceof StoreUnavailableError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new StoreUnavailableError(`PostgreSQL unavailable (connect): ${message}`, { cause: error });
}

/** What the store runs single statements through: a pool whose failures are mapped. */
export interface Queries {
  query<R extends QueryResultRow = QueryResultRow>(text: string | QueryConfig, values?: unknown[]): Promise<QueryResult<R>>;
}

/**
 * `pool.query` with connection failures (including not getting a connection) thrown as
 * {@link StoreUnavailableError}. The pool releases a connection whose query failed as broken.
 */
export function mapFaults(pool: Pool): Queries {
  return {
    query<R extends QueryResultRow = QueryResultRow>(text: string | QueryConfig, values?: unknown[]): Promise<QueryResult<R>> {
      return pool.query<R>(text as string, values).catch((error: unknown) => {
        throw asUnavailable(error, 'query');
      });
    },
  };
}
