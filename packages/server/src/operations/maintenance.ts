/**
 * What a running server does in the background, in one call: reload signing keys (so that a
 * key added by `refresh-grant keys rotate` in another process is published and, once active,
 * used) and purge expired rows from stores that do not purge by themselves. `serve` runs it;
 * an application that embeds the server runs the same call.
 */
import type { AuthorizationServer } from '../core/authorization-server.ts';
import { startPurgeLoop } from './purge-loop.ts';

/** Options of {@link startMaintenance}. */
export interface MaintenanceOptions {
  /** How often signing keys are reloaded from the store, ms (default 60 000). */
  keyReloadIntervalMs?: number;
  /** How often expired rows are purged, ms (default 60 000). */
  purgeIntervalMs?: number;
  /**
   * Called when a round fails; the next round runs anyway. Default: a `maintenance.failed`
   * event on the server's event sinks (a JSON line on stderr with the default log).
   */
  onError?: (error: unknown, task: 'key_reload' | 'purge') => void;
}

/** The background work of a server, started by {@link startMaintenance}. */
export interface Maintenance {
  /** Reloads signing keys now (e.g. on `SIGHUP`); failures go to `onError`. */
  reloadKeys(): Promise<void>;
  /** Stops every timer and waits for a round in progress. */
  stop(): Promise<void>;
}

/** Seconds between key reloads of `serve`; {@link keyActivationDelay} is twice this. */
export const keyReloadIntervalSeconds = 60;

/**
 * Starts the background work of `server`: key reload every minute and, unless the store purges
 * in the background itself (`capabilities.purgesInBackground`), a purge of expired tombstones,
 * spent `jti`s and retired keys in small batches that yield to the event loop. Timers are
 * unreferenced: they never keep the process alive.
 *
 * @example
 * ```ts
 * const server = await createAuthorizationServer({ issuer, store, kek: { file: './rg.kek' } })
 * const maintenance = startMaintenance(server)
 * process.on('SIGHUP', () => void maintenance.reloadKeys())
 * // on shutdown, after the HTTP server closed:
 * await maintenance.stop(); await server.close(); await store.close()
 * ```
 */
export function startMaintenance(server: AuthorizationServer, options: MaintenanceOptions = {}): Maintenance {
  const onError =
    options.onError ??
    ((error: unknown, task: string) =>
      server.emit({ type: 'maintenance.failed', at: Math.floor(Date.now() / 1000), reason: task, detail: String(error) }));
  const reloadKeys = () => server.keys.reload().catch((error) => onError(error, 'key_reload'));
  const reloadTimer = setInterval(reloadKeys, options.keyReloadIntervalMs ?? keyReloadIntervalSeconds * 1000);
  reloadTimer.unref();
  const stopPurge = startPurgeLoop(server.store, {
    intervalMs: options.purgeIntervalMs,
    onError: (error) => onError(error, 'purge'),
  });
  return {
    reloadKeys,
    async stop() {
      clearInterval(reloadTimer);
      await stopPurge();
    },
  };
}
