/**
 * @refresh-grant/server/fetch: the Fetch API adapter alone, `(Request) => Promise<Response>`,
 * for Hono, Next.js route handlers, Bun and Deno (also in the main entry).
 *
 * @example
 * ```ts
 * import { createFetchHandler } from '@refresh-grant/server/fetch'
 * Bun.serve({ fetch: createFetchHandler(server) })
 * ```
 *
 * @packageDocumentation
 * @module @refresh-grant/server/fetch
 */
export { createFetchHandler, type FetchHandlerOptions } from './http/fetch-handler.ts';
