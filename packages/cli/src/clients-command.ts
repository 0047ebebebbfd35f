/**
 * `refresh-grant clients add|list|update|rotate-secret|remove`. `--json` uses RFC 7591 names
 * (`client_id`, `client_secret`, `token_endpoint_auth_method`); a secret is printed once, when it
 * is made, and never stored or listed.
 */
import type { ClientChanges, ClientRecord, GrantType, Jwk, JwtBearerIssuer, TokenEndpointAuthMethod } from '@refresh-grant/server';
import { duration, fields, table, time, withServer, withStore } from './common.ts';
import { UsageError, type CliIo, type Options } from './options.ts';

// Not `import ... from 'node:fs'`: fs's ES module namespace loads its streams, promises and
// watchers, a good part of `clients list`'s start-up (see main.ts).
const { readFileSync, writeFileSync } = process.getBuiltinModule('node:fs');

/** `clients add`. */
export async function add(options: Options, io: CliIo): Promise<number> {
  const method = options.required('auth-method') as TokenEndpointAuthMethod;
  const settings = clientSettings(options, method);
  if (settings.scope === undefined) throw new UsageError('give --scope "..." (what this client may be granted) or --any-scope');
  // RFC 7662 section 2.1: introspection needs an authenticated caller.
  if (settings.introspection && method === 'none') throw new UsageError('--introspection is not for a public client (--auth-method none)');
  const keyFile = options.string('generate-key');
  if (method === 'private_key_jwt') {
    const given = [options.has('jwks'), options.has('jwks-uri'), keyFile !== undefined].filter(Boolean).length;
    if (given !== 1) throw new UsageError('private_key_jwt needs exactly one of --jwks FILE, --jwks-uri URL or --generate-key FILE');
  } else if (keyFile !== undefined) {
    throw new UsageError('--generate-key is for --auth-method private_key_jwt');
  }
  const id = options.string('id');
  return withServer(options, async (server, store) => {
    if (id !== undefined && (await store.getClient(id))) {
      throw new Error(`client ${id} already exists (change it with clients update, give it a new secret with clients rotate-secret, or remove it first)`);
    }
    let publicJwk: Jwk | undefined;
    if (keyFile !== undefined) {
      const { createHash, generateKeyPairSync } = await import('node:crypto');
      const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const jwk = pair.publicKey.export({ format: 'jwk' }) as Jwk;
      // RFC 7638: the thumbprint of the required members, in lexicographic order.
      const kid = createHash('sha256').update(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })).digest('base64url');
      publicJwk = { ...jwk, kid, alg: 'ES256', use: 'sig' };
      try {
        writeFileSync(keyFile, pair.privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' });
      } catch (error) {
        throw new Error(`cannot write the private key to ${keyFile}: ${(error as Error).message}`);
      }
      settings.jwks = { keys: [publicJwk] };
    }
    const { client, clientSecret } = await registered(() => server.registerClient({ clientId: id, authMethod: method, ...settings }));
    if (options.flag('json')) {
      io.stdout(JSON.stringify({ ...toWire(client), ...(clientSecret ? { client_secret: clientSecret } : {}), ...(keyFile ? { private_key_file: keyFile } : {}) }) + '\n');
      return 0;
    }
    io.stdout(describe(client));
    if (clientSecret) io.stdout(`client_secret:  ${clientSecret}\n(the secret is shown once: only its hash is stored; clients rotate-secret makes a new one)\n`);
    if (keyFile) io.stdout(`private key:    ${keyFile} (PKCS#8 PEM, mode 0600; sign client assertions with it: refresh --private-key ${keyFile})\n`);
    return 0;
  });
}

/** `clients list`. */
export async function list(options: Options, io: CliIo): Promise<number> {
  return withStore(options, async (store) => {
    const clients = await store.listClients();
    if (options.flag('json')) {
      io.stdout(JSON.stringify(clients.map(toWire)) + '\n');
      return 0;
    }
    io.stdout(
      table(
        clients.map((c) => ({
          client_id: c.clientId,
          auth_method: c.authMethod,
          scope: scopeText(c.scope),
          rotation: c.rotation ? 'on' : 'off',
          access_token: `${c.accessTokenFormat}, ${duration(c.accessTokenTtl)}`,
          created: time(c.createdAt),
        })),
      ),
    );
    return 0;
  });
}

/** `clients update`. */
export async function update(options: Options, io: CliIo): Promise<number> {
  const id = options.required('id');
  return withServer(options, async (server, store) => {
    const current = await store.getClient(id);
    if (!current) throw new Error(`unknown client ${id}`);
    const changes = clientSettings(options, current.authMethod);
    if (Object.values(changes).every((v) => v === undefined)) throw new UsageError('nothing to change: give at least one setting');
    const client = await registered(() => server.updateClient(id, changes));
    io.stdout(options.flag('json') ? JSON.stringify(toWire(client)) + '\n' : `updated ${id}\n${describe(client)}`);
    return 0;
  });
}

/** `clients rotate-secret`. */
export async function rotateSecret(options: Options, io: CliIo): Promise<number> {
  const id = options.required('id');
  return withServer(options, async (server, store) => {
    const current = await store.getClient(id);
    if (!current) throw new Error(`unknown client ${id}`);
    if (!current.authMethod.startsWith('client_secret')) throw new Error(`client ${id} uses ${current.authMethod}: it has no secret`);
    const { client, clientSecret } = await server.rotateClientSecret(id);
    if (options.flag('json')) io.stdout(JSON.stringify({ client_id: client.clientId, client_secret: clientSecret }) + '\n');
    else io.stdout(`client_id:      ${client.clientId}\nclient_secret:  ${clientSecret}\n(the old secret no longer works; this one is shown once)\n`);
    return 0;
  });
}

/** `clients remove`. */
export async function remove(options: Options, io: CliIo): Promise<number> {
  const id = options.required('id');
  return withStore(options, async (store) => {
    const removed = await store.deleteClient(id, Math.floor(Date.now() / 1000));
    if (!removed) throw new Error(`unknown client ${id}`);
    io.stdout(options.flag('json') ? JSON.stringify({ client_id: id, removed }) + '\n' : `removed ${id} (its grants are revoked)\n`);
    return 0;
  });
}

/** The settings `clients add` and `clients update` share, from the options given. */
function clientSettings(options: Options, method: TokenEndpointAuthMethod): ClientChanges {
  if (options.has('scope') && options.flag('any-scope')) throw new UsageError('give --scope or --any-scope, not both');
  if (options.has('jwks') && options.has('jwks-uri')) throw new UsageError('give --jwks or --jwks-uri, not both');
  if ((options.has('jwks') || options.has('jwks-uri')) && method !== 'private_key_jwt') {
    throw new UsageError(`--jwks and --jwks-uri are for private_key_jwt clients, not ${method}`);
  }
  const onOff = options.string('rotation');
  return {
    scope: options.flag('any-scope') ? '' : options.string('scope'),
    resources: options.list('resource'),
    jwks: options.has('jwks') ? readJwks(options.required('jwks')) : undefined,
    jwksUri: options.string('jwks-uri'),
    rotation: onOff === undefined ? undefined : onOff === 'on',
    retryWindow: options.number('retry-window'),
    idleTtl: options.number('idle-ttl'),
    absoluteTtl: options.number('absolute-ttl'),
    accessTokenFormat: options.string('access-token') as ClientRecord['accessTokenFormat'] | undefined,
    accessTokenTtl: options.number('access-token-ttl'),
    redirectUris: options.list('redirect-uri'),
    requirePushedAuthorizationRequests: options.flag('require-par') ? true : undefined,
    grantTypes: options.list('grant-type')?.map((t) => (t === 'jwt-bearer' ? 'urn:ietf:params:oauth:grant-type:jwt-bearer' : t) as GrantType),
    jwtBearerIssuers: options.has('jwt-bearer-issuers') ? readIssuers(options.required('jwt-bearer-issuers')) : undefined,
    // clients add: a flag; clients update: on or off.
    introspection: options.flag('introspection') || (options.has('introspection') ? options.string('introspection') === 'on' : undefined),
  };
}

/** The server refuses settings it cannot use (a redirect URI, a grant type without what it needs) with a TypeError: a usage error here. */
async function registered<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof TypeError) throw new UsageError(error.message);
    throw error;
  }
}

/** The `--jwt-bearer-issuers` file, in wire names (`jwks_uri`), as the server's records. */
function readIssuers(file: string): JwtBearerIssuer[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`--jwt-bearer-issuers ${file}: ${(error as Error).message}`);
  }
  if (!Array.isArray(parsed) || parsed.length === 0) throw new UsageError(`--jwt-bearer-issuers ${file} must be a JSON array of {"issuer", "jwks_uri" | "jwks"}`);
  return parsed.map((entry: { issuer?: unknown; jwks_uri?: unknown; jwks?: unknown }) => {
    const issuer: JwtBearerIssuer = { issuer: String(entry?.issuer ?? '') };
    if (typeof entry?.jwks_uri === 'string') issuer.jwksUri = entry.jwks_uri;
    if (entry?.jwks !== undefined) issuer.jwks = entry.jwks as JwtBearerIssuer['jwks'];
    return issuer;
  });
}

function readJwks(file: string): { keys: Jwk[] } {
  let jwks: { keys?: unknown };
  try {
    jwks = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`--jwks ${file}: ${(error as Error).message}`);
  }
  if (!jwks || !Array.isArray(jwks.keys) || jwks.keys.some((k) => typeof k?.kty !== 'string')) {
    throw new UsageError(`--jwks ${file} is not a JWK Set ({"keys": [{"kty": ...}, ...]})`);
  }
  if (jwks.keys.some((k) => 'd' in k)) throw new UsageError(`--jwks ${file} holds a private key: register public keys only`);
  return jwks as { keys: Jwk[] };
}

/** '' means any scope. */
function scopeText(scope: string): string {
  return scope === '' ? '(any)' : scope;
}

/** A client for people. */
function describe(c: ClientRecord): string {
  return fields([
    ['client_id', c.clientId],
    ['auth_method', c.authMethod],
    ['scope', scopeText(c.scope)],
    ['resources', c.resources.length ? c.resources.join(' ') : '(any)'],
    ['jwks_uri', c.jwksUri],
    ['jwks', c.jwks ? c.jwks.keys.map((k) => k.kid ?? k.kty).join(', ') : undefined],
    ['rotation', c.rotation ? `on (retry window ${duration(c.retryWindow)})` : 'off'],
    ['refresh tokens', `idle ${duration(c.idleTtl)}, at most ${duration(c.absoluteTtl)}`],
    ['access tokens', `${c.accessTokenFormat}, ${duration(c.accessTokenTtl)}`],
    ['redirect_uris', c.redirectUris?.join(' ')],
    ['grant_types', c.grantTypes?.join(' ')],
    ['par', c.requirePushedAuthorizationRequests ? 'required' : undefined],
    ['jwt-bearer issuers', c.jwtBearerIssuers?.map((i) => i.issuer).join(' ')],
    ['introspection', c.introspection ? 'yes (a resource server)' : undefined],
  ]);
}

/** RFC 7591 names for a client (never its secret or hash). `scope` `""` means any scope. */
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
    redirect_uris: c.redirectUris ?? [],
    grant_types: c.grantTypes ?? ['authorization_code', 'refresh_token'],
    require_pushed_authorization_requests: c.requirePushedAuthorizationRequests ?? false,
    ...(c.jwtBearerIssuers ? { jwt_bearer_issuers: c.jwtBearerIssuers.map((i) => ({ issuer: i.issuer, ...(i.jwksUri ? { jwks_uri: i.jwksUri } : {}), ...(i.jwks ? { jwks: i.jwks } : {}) })) } : {}),
    introspection: c.introspection === true,
    client_id_issued_at: c.createdAt,
  };
}
