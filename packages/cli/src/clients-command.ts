/**
 * `refresh-grant clients add|list|remove`: client registration from the command line.
 * `--json` uses RFC 7591 names (`client_id`, `client_secret`, `token_endpoint_auth_method`).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { tokenEndpointAuthMethods, type ClientRecord, type TokenEndpointAuthMethod } from '@refresh-grant/server/core';
import { commonOptions, onOff, openServer, seconds, table, UsageError, type CliIo } from './common.ts';

export const clientsUsage = `Usage:
  refresh-grant clients add --auth-method client_secret_basic|client_secret_post|client_secret_jwt|private_key_jwt|none
      [--id ID] [--jwks FILE | --jwks-uri URL] [--scope "..."] [--resource URI]... [--rotation on|off]
      [--retry-window SECONDS] [--idle-ttl SECONDS] [--absolute-ttl SECONDS] [--access-token jwt|opaque]
      [--access-token-ttl SECONDS] [--db FILE|URL] [--json]
  refresh-grant clients list [--db FILE|URL] [--json]
  refresh-grant clients remove --id ID [--db FILE|URL] [--json]
`;

/** Runs `clients <sub>`; returns the exit code. */
export async function clientsCommand(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  const { values } = parseArgs({
    args: rest,
    options: {
      ...commonOptions,
      id: { type: 'string' },
      'auth-method': { type: 'string' },
      jwks: { type: 'string' },
      'jwks-uri': { type: 'string' },
      scope: { type: 'string' },
      resource: { type: 'string', multiple: true },
      rotation: { type: 'string' },
      'retry-window': { type: 'string' },
      'idle-ttl': { type: 'string' },
      'absolute-ttl': { type: 'string' },
      'access-token': { type: 'string' },
      'access-token-ttl': { type: 'string' },
    },
  });
  if (values.help) return io.stdout(clientsUsage), 0;
  if (sub !== 'add' && sub !== 'list' && sub !== 'remove') throw new UsageError(`unknown clients command: ${sub ?? '(none)'}`);
  const { store, server } = await openServer(values);
  try {
    if (sub === 'list') {
      const clients = await store.listClients();
      if (values.json) io.stdout(JSON.stringify(clients.map(toWire)) + '\n');
      else io.stdout(table(clients.map((c) => ({ client_id: c.clientId, auth_method: c.authMethod, scope: c.scope, rotation: c.rotation ? 'on' : 'off', access_token: c.accessTokenFormat }))));
      return 0;
    }
    if (sub === 'remove') {
      if (!values.id) throw new UsageError('--id is required');
      const removed = await store.deleteClient(values.id, Math.floor(Date.now() / 1000));
      if (values.json) io.stdout(JSON.stringify({ client_id: values.id, removed }) + '\n');
      else io.stdout(removed ? `removed ${values.id}\n` : `no client ${values.id}\n`);
      return removed ? 0 : 1;
    }
    const method = values['auth-method'] as TokenEndpointAuthMethod | undefined;
    if (!method || !tokenEndpointAuthMethods.includes(method)) {
      throw new UsageError(`--auth-method must be one of ${tokenEndpointAuthMethods.join(', ')}`);
    }
    const format = values['access-token'];
    if (format !== undefined && format !== 'jwt' && format !== 'opaque') throw new UsageError('--access-token must be jwt or opaque');
    let jwks: { keys: Array<Record<string, unknown> & { kty: string }> } | undefined;
    if (values.jwks) {
      jwks = JSON.parse(readFileSync(values.jwks, 'utf8'));
      if (!jwks || !Array.isArray(jwks.keys)) throw new UsageError('--jwks must be a JWK Set file ({"keys": [...]})');
    }
    let registered;
    try {
      registered = await server.registerClient({
        clientId: values.id,
        authMethod: method,
        jwks,
        jwksUri: values['jwks-uri'],
        scope: values.scope,
        resources: values.resource,
        rotation: onOff('rotation', values.rotation),
        retryWindow: seconds('retry-window', values['retry-window']),
        idleTtl: seconds('idle-ttl', values['idle-ttl']),
        absoluteTtl: seconds('absolute-ttl', values['absolute-ttl']),
        accessTokenFormat: format,
        accessTokenTtl: seconds('access-token-ttl', values['access-token-ttl']),
      });
    } catch (err) {
      if (err instanceof TypeError) throw new UsageError(err.message);
      throw err;
    }
    const { client, clientSecret } = registered;
    if (values.json) {
      io.stdout(JSON.stringify({ ...toWire(client), ...(clientSecret ? { client_secret: clientSecret } : {}) }) + '\n');
    } else {
      io.stdout(`client_id: ${client.clientId}\n`);
      if (clientSecret) io.stdout(`client_secret: ${clientSecret}\n(shown once: only its hash is stored)\n`);
    }
    return 0;
  } finally {
    await store.close();
  }
}

/** RFC 7591 names for a client (never its secret or hash). */
function toWire(c: ClientRecord): Record<string, unknown> {
  return {
    client_id: c.clientId,
    token_endpoint_auth_method: c.authMethod,
    scope: c.scope,
    resources: c.resources,
    ...(c.jwksUri ? { jwks_uri: c.jwksUri } : {}),
    ...(c.jwks ? { jwks: c.jwks } : {}),
    rotation: c.rotation,
    retry_window: c.retryWindow,
    idle_ttl: c.idleTtl,
    absolute_ttl: c.absoluteTtl,
    access_token_format: c.accessTokenFormat,
    access_token_ttl: c.accessTokenTtl,
    client_id_issued_at: c.createdAt,
  };
}
