/**
 * @refresh-grant/server/node: the `node:http` adapter and the server that holds it under load
 * and hostile input (also in the main entry).
 *
 * @example
 * ```ts
 * import { createNodeHandler, createNodeServer } from '@refresh-grant/server/node'
 * const { http, stats } = createNodeServer(createNodeHandler(server), { maxInFlight: 256 })
 * http.listen(8080)
 * ```
 *
 * @packageDocumentation
 * @module @refresh-grant/server/node
 */
export { createNodeHandler, type NodeHandlerOptions, type ResponseInfo } from './http/node-handler.ts';
export { createNodeServer, nodeServerDefaults, type NodeServer, type NodeServerOptions, type NodeServerStats } from './http/node-server.ts';
