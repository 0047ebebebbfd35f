/**
 * A peer for the benchmark: node-oidc-provider (npm `oidc-provider`), as an operator who wants
 * refresh token rotation would configure it: its in-memory adapter (with room for the load, see
 * below), `rotateRefreshToken`
 * forced on, one `client_secret_basic` client, ES256 id_tokens. Refresh tokens are minted
 * through its own models (Grant + RefreshToken), as a finished authorization code flow would
 * leave them, so no browser is needed.
 *
 * Run: `npx node bench/servers/oidc-provider.ts --scope "openid offline_access api"`.
 * Prints its token endpoint URL, the Basic authorization value and the URL that mints refresh
 * tokens (`GET <url>?count=N`, one per line), and serves until SIGTERM.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { exportJWK, generateKeyPair } from 'jose';

/** The part of oidc-provider's API used here (it ships no type declarations). */
interface OidcProvider {
  callback(): (req: unknown, res: unknown) => void;
  Client: { find(id: string): Promise<unknown> };
  Grant: new (init: { accountId: string; clientId: string }) => { addOIDCScope(scope: string): void; save(): Promise<string> };
  RefreshToken: new (init: Record<string, unknown>) => { save(): Promise<string> };
}

const { values } = parseArgs({ options: { scope: { type: 'string', default: 'offline_access api' } } });
const scope = values.scope;
const clientId = 'bench';
const clientSecret = 'bench-secret-0123456789-0123456789-0123456789';

// Non-literal specifiers: resolved at run time, without type declarations.
const oidcProvider = 'oidc-provider';
const { default: Provider } = (await import(oidcProvider)) as { default: new (issuer: string, configuration: object) => OidcProvider };
const memoryAdapterModule = 'oidc-provider/lib/adapters/memory_adapter.js';
const lruModule = 'oidc-provider/lib/helpers/lru.js';
const { default: MemoryAdapter } = (await import(memoryAdapterModule)) as { default: new (model: string, store: unknown) => unknown };
const { default: LRU } = (await import(lruModule)) as { default: new (options: { maxSize: number }) => unknown };
// oidc-provider's own in-memory adapter, but over an LRU of 100,000 entries instead of its
// default 1,000: at thousands of refreshes per second (three entries each) the default evicts
// the tokens and grants of live chains within a few hundred milliseconds, and a chain whose
// request is slow once dies with invalid_grant.
const storage = new LRU({ maxSize: 100_000 });

const server = createServer({ keepAliveTimeout: 65_000 });
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const signing = await generateKeyPair('ES256', { extractable: true });
const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['authorization_code', 'refresh_token'],
      redirect_uris: ['https://rp.example/cb'],
      response_types: ['code'],
      id_token_signed_response_alg: 'ES256',
    },
  ],
  jwks: { keys: [{ ...(await exportJWK(signing.privateKey)), kid: 'bench', alg: 'ES256', use: 'sig' }] },
  findAccount: (_ctx: unknown, sub: string) => ({ accountId: sub, claims: () => ({ sub }) }),
  scopes: ['openid', 'offline_access', 'api'],
  adapter: (model: string) => new MemoryAdapter(model, storage),
  rotateRefreshToken: true,
  issueRefreshToken: () => true,
  ttl: { AccessToken: 900, IdToken: 3600, RefreshToken: 14 * 24 * 3600, Grant: 90 * 24 * 3600 },
  features: { devInteractions: { enabled: false } },
});
server.on('request', provider.callback());

const client = await provider.Client.find(clientId);

/** Mints `count` refresh tokens, each with its own grant, as an authorization code flow would. */
async function mint(count: number): Promise<string[]> {
  const tokens: string[] = [];
  for (let i = 0; i < count; i++) {
    const grant = new provider.Grant({ accountId: 'bench-user-0001', clientId });
    grant.addOIDCScope(scope);
    const grantId = await grant.save();
    const rt = new provider.RefreshToken({ accountId: 'bench-user-0001', client, grantId, scope, gty: 'authorization_code', authTime: Math.floor(Date.now() / 1000) });
    tokens.push(await rt.save());
  }
  return tokens;
}

// Each measurement's chains are minted just before it (an LRU evicts what waits too long), on a
// second port.
const admin = createServer((req, res) => {
  const count = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('count') ?? '1');
  mint(count).then((tokens) => res.end(tokens.join('\n')), (error: Error) => ((res.statusCode = 500), res.end(error.message)));
});
await new Promise<void>((resolve) => admin.listen(0, '127.0.0.1', resolve));
const basic = 'Basic ' + Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64');
process.stdout.write(`${issuer}/token\n${basic}\nhttp://127.0.0.1:${(admin.address() as AddressInfo).port}/mint\n`);
process.on('SIGTERM', () => {
  admin.close();
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
