/**
 * Sealed interaction references: the whole state of a sign-in in progress (the validated
 * authorization request and, after the login step, who signed in), encrypted and authenticated
 * with AES-256-GCM under a key derived from the KEK. The browser carries it to the
 * application's page in the `interaction` query parameter; nothing is stored until a step
 * finishes, when its random `id` is consumed once through the store (`consumeOnce`), so each
 * reference finishes at most once, on any instance sharing the KEK and the store.
 */
import { deriveKey, randomId, seal, unseal } from '../crypto.ts';
import type { AuthorizationRequest } from '../types.ts';
import type { AuthenticatedUser } from '../context.ts';

/** How long a sign-in may take, from the authorization request to the last step, in seconds. */
export const interactionTtl = 1800;

/** The AAD every sealed reference is bound to (and its version). */
const aad = 'refresh-grant interaction v1';

/** What a reference holds. */
export interface InteractionState {
  /** Random; consumed when the step finishes. */
  id: string;
  step: 'login' | 'consent';
  request: AuthorizationRequest;
  /** When the authorization request arrived (seconds). */
  createdAt: number;
  expiresAt: number;
  /** Who signed in (the consent step). */
  login?: Required<Pick<AuthenticatedUser, 'subject' | 'authTime'>> & Pick<AuthenticatedUser, 'acr' | 'amr'>;
}

/** The key references are sealed under, derived from the KEK. */
export function interactionKey(kek: Uint8Array): Uint8Array {
  return deriveKey(kek, 'refresh-grant interaction key v1');
}

/**
 * A new reference for `state` (a fresh `id`).
 *
 * @example
 * ```ts
 * const ref = sealInteraction(key, { step: 'login', request, createdAt: now, expiresAt: now + interactionTtl })
 * ```
 */
export function sealInteraction(key: Uint8Array, state: Omit<InteractionState, 'id'>): string {
  return seal(key, JSON.stringify({ ...state, id: randomId() }), aad);
}

/**
 * The state of a reference, or undefined when it is malformed, forged, sealed under another
 * key, or expired at `now`.
 *
 * @example
 * ```ts
 * const state = openInteraction(key, ref, now)
 * ```
 */
export function openInteraction(key: Uint8Array, ref: unknown, now: number): InteractionState | undefined {
  if (typeof ref !== 'string' || ref.length === 0 || ref.length > 16_384 || !/^[A-Za-z0-9_-]+$/.test(ref)) return undefined;
  let state: InteractionState;
  try {
    state = JSON.parse(unseal(key, ref, aad)) as InteractionState;
  } catch {
    return undefined;
  }
  if (typeof state !== 'object' || state === null || typeof state.expiresAt !== 'number' || state.expiresAt <= now) return undefined;
  return state;
}
