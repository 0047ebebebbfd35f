/**
 * refresh-grant with a store that `serve` does not offer, for side-by-side benchmark targets:
 * the same server as `refresh-grant serve --quiet` (node:http, the signing thread when the
 * machine has more than one CPU, events off), on an alternative store. Provision it with the CLI
 * against the same database, as any other target.
 *
 * Run: `npx node bench/servers/refresh-grant-variant.ts --store postgresjs --db postgres://... --kek-file F`;
 * prints its issuer once listening, serves until SIGTERM.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { createAuthorizationServer, createNodeHandler } from '../../packages/server/src/index.ts';
import { postgresSchemaParam } from '../../packages/cli/src/open-store.ts';
import { openPostgresJsStore } from './postgresjs-store.ts';

const { values } = parseArgs({
  options: { store: { type: 'string', default: 'postgresjs' }, db: { type: 'string' }, 'kek-file': { type: 'string' } },
});
if (values.store !== 'postgresjs' || !values.db || !values['kek-file']) throw new Error('usage: --store postgresjs --db postgres://... --kek-file FILE');
const { connectionString, schema, poolSize } = postgresSchemaParam(values.db);
const store = await openPostgresJsStore(connectionString, { schema, poolSize });
const http = createServer({ keepAliveTimeout: 65_000 });
await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', () => resolve()));
const issuer = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
const server = await createAuthorizationServer({
  issuer,
  store,
  kek: { file: values['kek-file'] },
  log: false,
  signingThread: availableParallelism() > 1,
});
http.on('request', createNodeHandler(server));
process.stdout.write(`${issuer}\n`);
process.once('SIGTERM', () => {
  http.close(() => void server.close().then(() => store.close()).then(() => process.exit(0)));
  http.closeIdleConnections();
});
