import { endpoint, internal, type Configuration } from './configuration.ts';
import type { DPoPHandle } from './dpop.ts';
import { OAuthResponseError, type InvalidResponseError } from './errors.ts';
import { send, type ReceivedResponse } from './http.ts';
import type { RefreshParameters } from './refresh-request.ts';

/** The outcome of parsing one response: a value, or an error as data. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; error: OAuthResponseError | InvalidResponseError };

/**
 * Request parameters as a new URLSearchParams: a string each, an array repeated (`resource`), or
 * joined with spaces for `scope`; `undefined` left out. (The refresh grant's `prepare` inlines the
 * same loop: calling this from there costs the bare bundle 13 B of its 16 B headroom.)
 */
export function parametersOf(parameters?: RefreshParameters): URLSearchParams {
  const form = new URLSearchParams();
  for (const [name, value] of parameters instanceof URLSearchParams ? parameters : Object.entries(parameters ?? {})) {
    if (typeof value === 'string') form.append(name, value);
    else if (value) name === 'scope' ? form.set(name, value.join(' ')) : value.forEach((v) => form.append(name, v));
  }
  return form;
}

/**
 * POSTs a form to one of the server's endpoints (a metadata name such as `token_endpoint`) with the
 * client's authentication and, given a handle, a DPoP proof, retrying once when the server asks for
 * a DPoP nonce. For the requests of a sign-in (the pushed authorization request, the code
 * exchange); the refresh grant keeps its own leaner loop (refresh-token-grant.ts), on the hot path
 * and under the bare bundle's size budget. Returns the parsed value and the response it came from.
 */
export async function postForm<T>(
  config: Configuration,
  name: string,
  parameters: URLSearchParams,
  parse: (response: ReceivedResponse) => Parsed<T>,
  options?: { DPoP?: DPoPHandle; signal?: AbortSignal },
): Promise<[value: T, response: ReceivedResponse]> {
  const { server, client, auth } = internal(config);
  const url = endpoint(config, name);
  const DPoP = options?.DPoP;
  for (let retried = !DPoP; ; retried = true) {
    // Built afresh for a retry: a client assertion is single use.
    const body = new URLSearchParams(parameters);
    const headers = new Headers({ accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded;charset=UTF-8' });
    await auth(server, client, body, headers);
    if (DPoP) await DPoP.addProof(url, headers, 'POST');
    const response = await send(config, url, 'POST', headers, body.toString(), options?.signal);
    DPoP?.cacheNonce(response, url);
    const result = parse(response);
    if (result.ok) return [result.value, response];
    // RFC 9449 section 8: a server asking for a nonce gets one more request, with it.
    if (retried || !(result.error instanceof OAuthResponseError) || result.error.error !== 'use_dpop_nonce') throw result.error;
  }
}
