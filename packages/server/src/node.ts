/**
 * @refresh-grant/server/node: the `node:http` adapter alone (also in the main entry).
 *
 * @example
 * ```ts
 * import { createNodeHandler } from '@refresh-grant/server/node'
 * http.createServer(createNodeHandler(server)).listen(8080)
 * ```
 *
 * @packageDocumentation
 * @module @refresh-grant/server/node
 */
export { createNodeHandler, type NodeHandlerOptions, type ResponseInfo } from './http/node-handler.ts';
