/**
 * Lifecycle events. Every issue, rotation, retry, reuse and revocation is an event with the
 * family id and generation; never a token, a secret or a hash of one.
 */

/** Event types, named `<object>.<what happened>`. */
export type ServerEventType =
  | 'grant.issued'
  | 'refresh_token.rotated'
  | 'refresh_token.used'
  | 'refresh_token.replayed'
  | 'refresh_token.rejected'
  | 'refresh_token.reuse_detected'
  | 'refresh_token.shadowing_detected'
  | 'grant.dpop_bound'
  | 'grant.revoked'
  | 'access_token.revoked'
  | 'client_auth.failed'
  | 'request.failed'
  | 'maintenance.failed'
  | 'authorization_code.issued'
  | 'authorization_code.replayed'
  | 'consent.granted'
  | 'authorization.failed';

/** One event. `detail` is private (logs only) and never contains a credential. */
export interface ServerEvent {
  type: ServerEventType;
  /** Seconds since the epoch. */
  at: number;
  clientId?: string;
  familyId?: string;
  generation?: number;
  subject?: string;
  /**
   * Machine-readable reason: a refusal's (`unknown`, `expired`, `revoked`, `reuse`, `shadowing`,
   * `foreign_client`, ...), a revocation's (`reuse`, `shadowing`, `revocation`, `admin`, ...), or
   * `lost_response` for a benign replay.
   */
  reason?: string;
  /** OAuth error code answered, when the event is a failure. */
  error?: string;
  /** `client_auth.failed`: the client authentication method the request tried (`unknown` when none was recognisable). */
  authMethod?: string;
  /** `client_auth.failed`, `request.failed`: the endpoint's path relative to the issuer (`/token`, `/revoke`, `/introspect`). */
  endpoint?: string;
  /** Private detail for operators. */
  detail?: string;
}

/**
 * Longest value of a string field of an event, in characters (`detail` gets more room): event
 * fields may carry what a request sent (a client id, a grant type, a path), and a 60 KB
 * `client_id` must not make a 60 KB event for every hook, metric and log line, per request.
 * (A log line cuts every string further, to {@link maxLogFieldLength}.)
 */
export const eventFieldLimits = { field: 256, detail: 1024 } as const;

const boundedFields = ['clientId', 'familyId', 'subject', 'reason', 'error', 'authMethod', 'endpoint', 'detail'] as const;

/**
 * The event with every string field cut to {@link eventFieldLimits}, marked with how much was
 * cut; the same object when nothing is too long (the common case: no copy on the hot path).
 *
 * @example
 * ```ts
 * boundEvent({ type: 'client_auth.failed', at, detail: 'unknown client "' + 'x'.repeat(60_000) + '"' }).detail!.length // about 1,050
 * ```
 */
export function boundEvent(event: ServerEvent): ServerEvent {
  let bounded: ServerEvent | undefined;
  for (const name of boundedFields) {
    const value = event[name];
    const limit = name === 'detail' ? eventFieldLimits.detail : eventFieldLimits.field;
    if (typeof value !== 'string' || value.length <= limit) continue;
    bounded ??= { ...event };
    bounded[name] = `${value.slice(0, limit)}... (${value.length - limit} more characters)`;
  }
  return bounded ?? event;
}

/** Receives events; must not throw (errors are swallowed) and should not block. */
export type EventSink = (event: ServerEvent) => void;

/** Log levels, most severe first. */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

/** Every log level, most severe first. */
export const logLevels: readonly LogLevel[] = ['error', 'warn', 'info', 'debug'];

/**
 * How severe an event is: `error` for what an operator must fix (a 500, a failed maintenance
 * round), `warn` for what may be an attack or an outage (reuse, failed client authentication,
 * a store that cannot answer), `info` for the lifecycle of tokens and clients' own mistakes.
 */
export function eventLevel(event: ServerEvent): LogLevel {
  switch (event.type) {
    case 'maintenance.failed':
      return 'error';
    case 'request.failed':
      return event.error === 'server_error' ? 'error' : event.error === 'temporarily_unavailable' ? 'warn' : 'info';
    case 'client_auth.failed':
    case 'refresh_token.reuse_detected':
    case 'refresh_token.shadowing_detected':
    case 'authorization_code.replayed':
      return 'warn';
    case 'grant.revoked':
      return event.reason === 'reuse' || event.reason === 'shadowing' || event.reason === 'code_replay' ? 'warn' : 'info';
    default:
      return 'info';
  }
}

/** Longest string written in a log line; longer ones (request-derived text) are cut. */
export const maxLogFieldLength = 256;

/** The JSON line of a log record: `level` first, strings cut to {@link maxLogFieldLength}. */
export function logLine(level: LogLevel, record: object): string {
  return (
    JSON.stringify({ level, ...record }, (_key, value: unknown) =>
      typeof value === 'string' && value.length > maxLogFieldLength ? `${value.slice(0, maxLogFieldLength)}...(${value.length} chars)` : value,
    ) + '\n'
  );
}

/**
 * An {@link EventSink} writing one JSON line per event at or above `level` (default `info`),
 * e.g. to stderr.
 */
export function jsonLineSink(write: (line: string) => void, level: LogLevel = 'info'): EventSink {
  const most = logLevels.indexOf(level);
  return (event) => {
    const severity = eventLevel(event);
    if (logLevels.indexOf(severity) <= most) write(logLine(severity, event));
  };
}

/**
 * Fans an event out to several sinks, isolating their failures; each sink gets the event with
 * its fields bounded ({@link boundEvent}).
 */
export function combineSinks(sinks: Array<EventSink | undefined>): EventSink {
  const active = sinks.filter((s): s is EventSink => s !== undefined);
  return (unbounded) => {
    const event = boundEvent(unbounded);
    for (const sink of active) {
      try {
        sink(event);
      } catch {
        // A failing sink must never break the token endpoint.
      }
    }
  };
}
