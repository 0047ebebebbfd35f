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
  | 'maintenance.failed';

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
  /** Private detail for operators. */
  detail?: string;
}

/** Receives events; must not throw (errors are swallowed) and should not block. */
export type EventSink = (event: ServerEvent) => void;

/** An {@link EventSink} writing one JSON line per event, e.g. to stderr. */
export function jsonLineSink(write: (line: string) => void): EventSink {
  return (event) => write(JSON.stringify({ level: event.error || event.type.endsWith('.failed') ? 'warn' : 'info', ...event }) + '\n');
}

/** Fans an event out to several sinks, isolating their failures. */
export function combineSinks(sinks: Array<EventSink | undefined>): EventSink {
  const active = sinks.filter((s): s is EventSink => s !== undefined);
  return (event) => {
    for (const sink of active) {
      try {
        sink(event);
      } catch {
        // A failing sink must never break the token endpoint.
      }
    }
  };
}
