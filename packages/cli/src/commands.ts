/**
 * Every command of `refresh-grant` and its options, as one table. Help text, parsing, the
 * environment variables (`REFRESH_GRANT_*`) and the README's configuration table all come from
 * here. To add a flag, add one line to the command's `options`; to give it an environment
 * variable, give that line `env: true`.
 *
 * Implementations are loaded on use (`load`), so that `--help` or `clients list` never load the
 * server's protocol code, the client library or a database driver they do not need.
 */
import { httpUrl, port, positiveInteger, positiveSeconds, seconds, type CommandSpec, type OptionSpec } from './options.ts';

/** Client authentication methods (the server's `tokenEndpointAuthMethods`; a test keeps them equal). */
export const authMethods = ['client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'private_key_jwt', 'none'] as const;

/** Grant types as `--grant-type` names them (`jwt-bearer` for urn:ietf:params:oauth:grant-type:jwt-bearer). */
export const grantTypeNames = ['authorization_code', 'refresh_token', 'jwt-bearer', 'password'] as const;

/** RFC 6749 section 3.3: scope-tokens separated by single spaces. */
const scopeCheck = (value: string) =>
  value === '' || /^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$/.test(value) ? undefined : 'must be scope tokens separated by single spaces';
/** RFC 8707 section 2: an absolute URI without a fragment. */
const resourceCheck = (value: string) => (URL.canParse(value) && !value.includes('#') ? undefined : 'must be an absolute URI without a fragment');

// --- options several commands share --------------------------------------------------------
const db: OptionSpec = {
  name: 'db', value: 'FILE|URL', default: './refresh-grant.db', env: true,
  help: 'the store: a SQLite file, or postgres://user@host:5432/db (?schema=NAME&pool_size=N)',
};
const kekFile: OptionSpec = {
  name: 'kek-file', value: 'FILE', env: true,
  help: 'key-encryption key file, created 0600 for a store with nothing sealed yet (default <db>.kek; ./refresh-grant.kek for PostgreSQL); REFRESH_GRANT_KEK may hold the key itself',
};
const json: OptionSpec = { name: 'json', type: 'boolean', help: 'print JSON with wire names, one document per line' };
const store = [db, kekFile];

/** What a client is allowed and how its tokens live: shared by `clients add` and `clients update`. */
const clientSettings: OptionSpec[] = [
  { name: 'scope', value: '"a b c"', check: scopeCheck, help: 'the scope this client may be granted (space-separated)' },
  { name: 'any-scope', type: 'boolean', help: 'let this client be granted any scope (instead of --scope)' },
  { name: 'resource', value: 'URI', multiple: true, check: resourceCheck, help: 'a resource (RFC 8707) this client may be granted; none given: any' },
  { name: 'jwks', value: 'FILE', help: 'private_key_jwt: a JWK Set file with the client\'s public keys' },
  { name: 'jwks-uri', value: 'URL', check: httpUrl, help: 'private_key_jwt: where the client publishes its public keys' },
  { name: 'rotation', choices: ['on', 'off'], help: 'rotate the refresh token on every use (public clients are always rotated unless DPoP-bound) [default on]' },
  { name: 'retry-window', value: 'SECONDS', check: seconds, help: 'lost-response retry window after a rotation; 0 turns it off [default 30]' },
  { name: 'idle-ttl', value: 'SECONDS', check: positiveSeconds, help: 'idle (sliding) refresh token lifetime [default 1209600, 14 days]' },
  { name: 'absolute-ttl', value: 'SECONDS', check: positiveSeconds, help: 'absolute lifetime of a grant [default 7776000, 90 days]' },
  { name: 'access-token', choices: ['jwt', 'opaque'], help: 'access token format [default jwt]' },
  { name: 'access-token-ttl', value: 'SECONDS', check: positiveSeconds, help: 'access token lifetime [default 900]' },
  { name: 'redirect-uri', value: 'URI', multiple: true, help: 'a redirection URI for the authorization endpoint: https, http on 127.0.0.1/[::1]/localhost (any port matches), or app.example:/path' },
  { name: 'require-par', type: 'boolean', help: 'authorization requests only as pushed authorization requests (RFC 9126)' },
  { name: 'grant-type', value: 'TYPE', multiple: true, choices: grantTypeNames, help: 'a grant type the client may use: authorization_code, refresh_token, jwt-bearer, password (legacy) [default authorization_code and refresh_token]' },
  { name: 'jwt-bearer-issuers', value: 'FILE', help: 'jwt-bearer (RFC 7523): JSON [{"issuer": "...", "jwks_uri": "..." | "jwks": {"keys": [...]}}]; allows the grant' },
];

/** Exit codes every command shares (`refresh` adds its own). */
export const exitCodesHelp = `Exit codes: 0 done, 1 failure, 2 usage error.`;

/** Every command, in the order help lists them. */
export const commands: CommandSpec[] = [
  {
    path: ['serve'],
    summary: 'Run the authorization server (authorization, PAR, token, UserInfo, revocation, introspection, JWKS, discovery, /health, /ready).',
    options: [
      { name: 'port', value: 'PORT', default: '8080', env: ['PORT'], check: port, help: 'TCP port to listen on (0: any free port)' },
      { name: 'host', value: 'HOST', default: '127.0.0.1', env: true, help: 'address to listen on; in a container, 0.0.0.0 (or :: for IPv6 too)' },
      { name: 'issuer', value: 'URL', env: true, check: httpUrl, help: 'issuer URL as clients see it (default http://HOST:PORT); the same on every instance' },
      ...store,
      { name: 'dpop-nonce', type: 'boolean', env: true, help: 'require server nonces in DPoP proofs (RFC 9449 section 8)' },
      { name: 'signing-thread', choices: ['auto', 'on', 'off'], default: 'auto', env: true, help: 'sign tokens on a worker thread (auto: when the machine has more than one CPU)' },
      { name: 'cors-origin', value: 'ORIGIN', multiple: true, env: true, help: 'let browser apps on this origin (https://app.example, or *) call the endpoints' },
      { name: 'log-level', choices: ['error', 'warn', 'info', 'debug'], default: 'info', env: true, help: 'least severe log line written (JSON lines on stderr)' },
      { name: 'access-log', type: 'boolean', env: true, help: 'one log line per HTTP request (method, path, status, duration; never a header or a body)' },
      { name: 'quiet', type: 'boolean', env: true, help: 'same as --log-level error' },
      { name: 'metrics', type: 'boolean', env: true, help: 'serve Prometheus metrics at GET /metrics' },
      { name: 'metrics-port', value: 'PORT', env: true, check: port, help: 'serve /metrics on this port (same --host) instead of the main one; implies --metrics' },
      { name: 'max-in-flight', value: 'N', env: true, check: positiveInteger, help: 'requests handled at once; more get 503 with Retry-After at once, never a queue [default 256]' },
      { name: 'max-event-loop-delay', value: 'MS', env: true, check: positiveInteger, help: 'a request read after the server has been busy this long without a break waited that long unread: 503 at once, not answered late [default 25]' },
      { name: 'max-connections', value: 'N', env: true, check: positiveInteger, help: 'open connections; beyond, the one idle the longest is closed [default 4096, or 3/4 of ulimit -n when lower]' },
      { name: 'no-demo', type: 'boolean', env: true, help: 'do not create the demo client and grant on a first start with an empty store' },
      { name: 'dev-login', type: 'boolean', env: true, help: 'DEVELOPMENT ONLY: a sign-in page where anyone signs in as any subject, without a password, and a demo client at /dev-login/start (npm start turns it on)' },
    ],
    details: `The first line on stdout is the issuer URL. Logs are JSON lines on stderr.
SIGTERM or SIGINT: /ready answers 503, in-flight requests finish, then the process exits 0.
SIGHUP: reload signing keys now (they are also reloaded every minute).
${exitCodesHelp}`,
    load: async () => (await import('./serve-command.ts')).serve,
  },
  {
    path: ['clients', 'add'],
    summary: 'Register a client. Prints its id and, for secret methods, its secret (shown once).',
    options: [
      { name: 'auth-method', choices: authMethods, required: true, value: 'METHOD', help: `how the client authenticates: ${authMethods.join(', ')}` },
      { name: 'id', value: 'ID', help: 'client id (default: generated); refused if it exists (see clients update)' },
      ...clientSettings,
      { name: 'generate-key', value: 'FILE', help: 'private_key_jwt: make an ES256 key pair, write the private key to FILE (PKCS#8 PEM, 0600) and register the public key' },
      { name: 'introspection', type: 'boolean', help: 'a resource server: may call /introspect, and sees as active the tokens whose audience names its client id (not for none)' },
      ...store,
      json,
    ],
    details: `Either --scope or --any-scope is required: a client is never allowed "anything" by accident.
${exitCodesHelp}`,
    load: async () => (await import('./clients-command.ts')).add,
  },
  {
    path: ['clients', 'list'],
    summary: 'List the registered clients (never their secrets).',
    options: [db, json],
    load: async () => (await import('./clients-command.ts')).list,
  },
  {
    path: ['clients', 'update'],
    summary: 'Change settings of a client; settings not given stay as they are.',
    options: [
      { name: 'id', value: 'ID', required: true, help: 'the client' },
      ...clientSettings,
      { name: 'introspection', choices: ['on', 'off'], help: 'may call /introspect (a resource server); not for none' },
      ...store,
      json,
    ],
    details: `To change the authentication method, remove the client and add it again.\n${exitCodesHelp}`,
    load: async () => (await import('./clients-command.ts')).update,
  },
  {
    path: ['clients', 'rotate-secret'],
    summary: 'Give a client_secret_basic/post/jwt client a new secret; the old one stops working at once.',
    options: [{ name: 'id', value: 'ID', required: true, help: 'the client' }, ...store, json],
    load: async () => (await import('./clients-command.ts')).rotateSecret,
  },
  {
    path: ['clients', 'remove'],
    summary: 'Remove a client and revoke its grants.',
    options: [{ name: 'id', value: 'ID', required: true, help: 'the client' }, db, json],
    load: async () => (await import('./clients-command.ts')).remove,
  },
  {
    path: ['grants', 'issue'],
    summary: 'Issue a first grant (access token, refresh token, id_token with openid) without a login flow: for demos, tests and provisioning.',
    options: [
      { name: 'client', value: 'ID', required: true, help: 'the client' },
      { name: 'subject', value: 'SUB', required: true, help: 'the user (the tokens\' sub)' },
      { name: 'scope', value: '"openid offline_access ..."', required: true, check: scopeCheck, help: 'the scope granted; with openid, a refresh token only with offline_access' },
      { name: 'resource', value: 'URI', multiple: true, check: resourceCheck, help: 'a resource (RFC 8707) granted' },
      { name: 'count', value: 'N', check: positiveInteger, help: 'issue N grants (one JSON line each with --json)' },
      { name: 'dpop-jkt', value: 'THUMBPRINT', help: 'bind to this DPoP key (RFC 7638 thumbprint); binds a public client\'s refresh tokens too' },
      { name: 'issuer', value: 'URL', env: true, check: httpUrl, help: 'the issuer of the server that will refresh them [default http://127.0.0.1:8080]' },
      ...store,
      json,
    ],
    load: async () => (await import('./grants-command.ts')).issue,
  },
  {
    path: ['grants', 'list'],
    summary: 'List grants (refresh token families), newest first: when each was last used, its generation, its DPoP binding.',
    options: [
      { name: 'subject', value: 'SUB', help: 'only this user\'s' },
      { name: 'client', value: 'ID', help: 'only this client\'s' },
      ...store,
      json,
    ],
    load: async () => (await import('./grants-command.ts')).list,
  },
  {
    path: ['grants', 'revoke'],
    summary: 'Revoke grants: one family, or every grant of a user and/or a client. Their refresh tokens stop working, their access tokens introspect inactive.',
    options: [
      { name: 'family', value: 'ID', help: 'one family (grants list, grants issue)' },
      { name: 'subject', value: 'SUB', help: 'every grant of this user ("log out everywhere")' },
      { name: 'client', value: 'ID', help: 'every grant of this client (with --subject: of this user at this client)' },
      { name: 'reason', value: 'REASON', check: (v) => (/^[\x21-\x7E]{1,64}$/.test(v) ? undefined : 'must be 1-64 visible ASCII characters'), help: 'why, recorded with each grant and in its event [default admin]' },
      ...store,
      json,
    ],
    load: async () => (await import('./grants-command.ts')).revoke,
  },
  {
    path: ['keys', 'rotate'],
    summary: 'Add a new signing key. Running servers publish it within a minute (or at once on SIGHUP); it signs after --activate-after.',
    options: [
      { name: 'activate-after', value: 'SECONDS', check: seconds, help: 'seconds until the new key signs; keep it above a minute so every server publishes it first [default 120]' },
      ...store,
      json,
    ],
    load: async () => (await import('./keys-command.ts')).rotate,
  },
  {
    path: ['keys', 'list'],
    summary: 'List the signing keys: which signs now, which are still published, and until when.',
    options: [db, json],
    load: async () => (await import('./keys-command.ts')).list,
  },
  {
    path: ['refresh'],
    summary: 'Refresh a token against any authorization server (discovered from --issuer) and print the response.',
    options: [
      { name: 'issuer', value: 'URL', required: true, env: true, check: httpUrl, help: 'the authorization server' },
      { name: 'client-id', value: 'ID', required: true, help: 'the client' },
      { name: 'refresh-token', value: 'RT', required: true, env: true, help: 'the refresh token' },
      { name: 'client-secret', value: 'SECRET', env: true, help: 'the client secret (client_secret_basic, _post, _jwt)' },
      { name: 'private-key', value: 'FILE', help: 'private_key_jwt: a PKCS#8 PEM or private JWK file (RSA signs RS256, or PS256 with "alg": "PS256")' },
      { name: 'kid', value: 'KID', help: 'private_key_jwt: the key id to put in the assertion header' },
      { name: 'auth-method', choices: authMethods, value: 'METHOD', help: 'client authentication (default: from the credentials given and the server\'s discovery document)' },
      { name: 'scope', value: '"a b"', check: scopeCheck, help: 'narrow the scope' },
      { name: 'resource', value: 'URI', multiple: true, check: resourceCheck, help: 'a resource (RFC 8707) for the access token' },
      json,
    ],
    details: `Secrets on the command line are visible to other users of the machine (ps): prefer
REFRESH_GRANT_CLIENT_SECRET and REFRESH_GRANT_REFRESH_TOKEN.
Exit codes: 0 done, 1 failure, 2 usage error, 3 OAuth error response, 4 invalid response, 5 transport failure.`,
    load: async () => (await import('./refresh-command.ts')).refresh,
  },
];

/** The command groups (the first word of a path with subcommands) and what they are for. */
export const groups: Record<string, string> = {
  clients: 'Register and manage clients.',
  grants: 'Issue, list and revoke grants (refresh token families).',
  keys: 'Rotate and list signing keys.',
};
