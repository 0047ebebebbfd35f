/**
 * The JSON line log of a server process: every line one JSON object with `level`, `type` and
 * `at` (seconds since the epoch), for events, operational messages and the optional access log
 * alike. Never a token, a secret or a header; strings taken from requests are cut to
 * {@link maxLogFieldLength} characters.
 */
import { eventLevel, logLevels, logLine, type EventSink, type LogLevel } from '../core/events.ts';
import type { ResponseInfo } from '../http/node-handler.ts';

/** Options of {@link createJsonLogger}. */
export interface JsonLoggerOptions {
  /** Least severe level written (default `info`). */
  level?: LogLevel;
  /** Where lines go (default stderr). */
  write?: (line: string) => void;
}

/** A leveled JSON line logger. */
export interface Logger {
  readonly level: LogLevel;
  /** True when lines of `level` are written. */
  enabled(level: LogLevel): boolean;
  /** Writes `{"level", "type", "at", ...fields}` when `level` is enabled. */
  log(level: LogLevel, type: string, fields?: Record<string, unknown>): void;
  /** The server's events at their level (`eventLevel`): `server.onEvent(logger.events)`. */
  readonly events: EventSink;
  /** One `http.request` line per request, at `info`: `createNodeHandler(server, { onResponse: logger.access })`. */
  readonly access: (info: ResponseInfo) => void;
}

/**
 * Creates a logger writing JSON lines.
 *
 * @example
 * ```ts
 * const logger = createJsonLogger({ level: 'warn' })
 * const server = await createAuthorizationServer({ issuer, store, kek, log: logger.events })
 * logger.log('info', 'server.listening', { issuer: server.issuer })
 * ```
 */
export function createJsonLogger(options: JsonLoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  if (!logLevels.includes(level)) throw new TypeError(`level must be one of ${logLevels.join(', ')}`);
  const write = options.write ?? ((line: string) => void process.stderr.write(line));
  const most = logLevels.indexOf(level);
  const enabled = (l: LogLevel) => logLevels.indexOf(l) <= most;
  const log = (l: LogLevel, type: string, fields: Record<string, unknown> = {}) => {
    if (enabled(l)) write(logLine(l, { type, at: Math.floor(Date.now() / 1000), ...fields }));
  };
  return {
    level,
    enabled,
    log,
    events: (event) => {
      const severity = eventLevel(event);
      if (enabled(severity)) write(logLine(severity, event));
    },
    access: (info) => {
      if (!enabled('info')) return;
      log('info', 'http.request', {
        method: info.method,
        path: info.path,
        status: info.status,
        durationMs: Math.round(info.durationMs * 100) / 100,
        remoteAddress: info.req.socket.remoteAddress,
        userAgent: info.req.headers['user-agent'],
      });
    },
  };
}
