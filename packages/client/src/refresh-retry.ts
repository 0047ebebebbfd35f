/**
 * When the token manager tries a failed refresh again: errors marked `retryable` (transport
 * errors, 5xx, 408, 429) after an exponential backoff with full jitter, honouring `Retry-After`;
 * which errors end the session for good.
 */
import { InvalidResponseError, type OAuthResponseError, RefreshError } from './errors.ts';

/**
 * Backoff of retried refreshes (transport errors, 5xx, 429). A wait the server asked for with
 * `Retry-After` gets the same jitter added on top: never shorter than asked, at most `maxDelay`.
 */
export interface RetryOptions {
  /** Attempts in total, the first included. @default 4 */
  attempts?: number;
  /** First backoff ceiling, ms; doubles each attempt ("full jitter" picks in [0, ceiling)). @default 500 */
  baseDelay?: number;
  /** Longest wait, ms; a `Retry-After` asking for more ends the retries (jitter never does). @default 30000 */
  maxDelay?: number;
}

/** A 4xx answer that is not a usable OAuth error (an empty 400, say), 408 and 429 excepted: final. */
export const finalStatus = (error: unknown): boolean =>
  error instanceof InvalidResponseError && error.status! >= 400 && error.status! < 500 && !error.retryable;

/**
 * The wait, in ms, before the next attempt after `error` failed attempt number `attempt` (1 for
 * the first); undefined: no retry. `random` is in [0, 1), `now` in epoch ms.
 */
export function retryDelays(retry: RetryOptions, random: () => number, now: () => number): (error: unknown, attempt: number) => number | undefined {
  const { attempts = 4, baseDelay = 500, maxDelay = 30_000 } = retry;
  return (error, attempt) => {
    if (!(error instanceof RefreshError) || !error.retryable || attempt >= attempts) return undefined;
    // Full jitter: a random share of the backoff ceiling.
    const jitter = random() * Math.min(maxDelay, baseDelay * 2 ** (attempt - 1));
    const retryAfter = (error as OAuthResponseError | InvalidResponseError).headers?.get('retry-after')?.trim();
    const seconds = !retryAfter ? 0 : /^\d+$/.test(retryAfter) ? Number(retryAfter) : (Date.parse(retryAfter) - now()) / 1000;
    if (!(seconds > 0)) return jitter;
    // RFC 9110 section 10.2.3: Retry-After is how long to wait at least; the jitter comes on top,
    // so that clients told the same delay do not all come back in the same instant.
    return seconds * 1000 > maxDelay ? undefined : Math.min(maxDelay, seconds * 1000 + jitter);
  };
}
