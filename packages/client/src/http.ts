import { customFetch, type CustomFetch } from './configuration.ts';
import { TransportError } from './errors.ts';

/** A response reduced to what parsing needs: the transport-free layer's input. */
export interface RawResponse {
  /** HTTP status. */
  status: number;
  /** Response headers. */
  headers?: HeadersInit;
  /** The body, as text. */
  bodyText: string;
}

/** A sent request's response, with the time (epoch ms) its headers arrived. */
export interface ReceivedResponse extends RawResponse {
  headers: Headers;
  receivedAt: number;
}

/**
 * Sends one request with the configuration's fetch and timeout and reads the whole body. A network
 * failure, a timeout or a body cut short is a TransportError; the caller's own abort is rethrown.
 */
export async function send(
  config: { timeout: number; [customFetch]?: CustomFetch },
  url: URL,
  method: string,
  headers: Headers | Map<string, string>,
  body?: string,
  signal?: AbortSignal,
): Promise<ReceivedResponse> {
  // One cleared timer per request: cheaper than AbortSignal.timeout, whose timer and weakly held
  // signal outlive the request until the timeout would fire.
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
  }, config.timeout * 1000);
  try {
    const response = await (config[customFetch] ?? fetch)(url.href, {
      method,
      headers: Object.fromEntries(headers),
      body,
      redirect: 'manual',
      signal: signal ? AbortSignal.any([signal, controller.signal]) : controller.signal,
    });
    const receivedAt = Date.now();
    return { status: response.status, headers: response.headers, bodyText: await response.text(), receivedAt };
  } catch (cause) {
    if (signal?.aborted) throw signal.reason;
    throw new TransportError(
      timedOut ? `${url.origin} did not answer within ${config.timeout}s` : `request to ${url.origin} failed`,
      cause,
      timedOut,
    );
  } finally {
    clearTimeout(timer);
  }
}
