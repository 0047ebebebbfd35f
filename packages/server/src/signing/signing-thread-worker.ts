/**
 * The signing thread's code (see `signing-thread.ts`): keys arrive once each, then batches of
 * signing inputs; it answers each batch with the signatures, in order. A batch that fails
 * (a key it does not have) is answered with an error and the caller signs it itself.
 *
 * The thread runs from source text (`new Worker(source, { eval: true })`), not from a file:
 * a file next to this module would be left behind by bundlers (Next.js, esbuild) and renamed
 * by builds. The signature itself is {@link jwsSignatureWith}'s own source, so the thread and
 * the calling thread share one implementation.
 */
import type { KeyObject } from 'node:crypto';
import { derToRaw, jwsSignatureWith } from '../core/tokens/jws.ts';
import type { SigningAlg } from '../core/types.ts';

/** Messages to the thread: a key to keep, or a batch of `[kid, signingInput]` to sign. */
export type SigningRequest =
  | { key: { kid: string; alg: SigningAlg; privateKey: KeyObject } }
  | { id: number; batch: Array<[kid: string, signingInput: string]> };

/** The answer to a batch: its signatures in order, or why it failed. */
export type SigningResponse = { id: number; signatures: string[] } | { id: number; error: string };

/** The thread's program (CommonJS, evaluated). */
export const signingWorkerSource = `'use strict';
const { sign } = require('node:crypto');
const { parentPort } = require('node:worker_threads');
const derToRaw = (${derToRaw.toString()});
const jwsSignatureWith = (${jwsSignatureWith.toString()});
const keys = new Map();
parentPort.on('message', (request) => {
  if ('key' in request) {
    keys.set(request.key.kid, request.key);
    return;
  }
  let response;
  try {
    const signatures = request.batch.map(([kid, input]) => {
      const key = keys.get(kid);
      if (!key) throw new Error('no key ' + kid + ' on the signing thread');
      return jwsSignatureWith(sign, derToRaw, key, input);
    });
    response = { id: request.id, signatures };
  } catch (error) {
    response = { id: request.id, error: error.message };
  }
  parentPort.postMessage(response);
});
`;
