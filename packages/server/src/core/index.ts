/**
 * The protocol core, without I/O: for embedding the token endpoint's logic in another
 * HTTP stack, or writing a store backend against the contract.
 *
 * @example
 * ```ts
 * import { AuthorizationServer, type Store } from '@refresh-grant/server/core'
 * ```
 */
export * from './authorization-server.ts';
export * from './errors.ts';
export * from './events.ts';
export * from './http-types.ts';
export * from './store.ts';
export * from './types.ts';
export * from './dpop.ts';
export { decideRefresh, mustRotate } from './grants/refresh-token.ts';
