/**
 * The signing thread's code (see `signing-thread.ts`): keys arrive once each, then batches of
 * signing inputs; it answers each batch with the signatures, in order. A batch that fails
 * (a key it does not have) is answered with an error and the caller signs it itself.
 */
import type { KeyObject } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { jwsSignature, type JwsKey } from '../core/tokens/jws.ts';
import type { SigningAlg } from '../core/types.ts';

/** Messages to the thread: a key to keep, or a batch of `[kid, signingInput]` to sign. */
export type SigningRequest =
  | { key: { kid: string; alg: SigningAlg; privateKey: KeyObject } }
  | { id: number; batch: Array<[kid: string, signingInput: string]> };

/** The answer to a batch: its signatures in order, or why it failed. */
export type SigningResponse = { id: number; signatures: string[] } | { id: number; error: string };

const keys = new Map<string, JwsKey>();
const port = parentPort!;

port.on('message', (request: SigningRequest) => {
  if ('key' in request) {
    keys.set(request.key.kid, request.key);
    return;
  }
  let response: SigningResponse;
  try {
    const signatures = request.batch.map(([kid, input]) => {
      const key = keys.get(kid);
      if (!key) throw new Error(`no key ${kid} on the signing thread`);
      return jwsSignature(key, input);
    });
    response = { id: request.id, signatures };
  } catch (error) {
    response = { id: request.id, error: (error as Error).message };
  }
  port.postMessage(response);
});
