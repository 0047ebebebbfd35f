/**
 * oidc-provider v9 (npm), a server nobody here wrote, started on 127.0.0.1:0 for interop
 * tests. Refresh tokens are minted through its models (Grant + RefreshToken), as its own
 * authorization code grant would leave them.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';

/** The part of oidc-provider's API used here (it ships no type declarations). */
export interface OidcProvider {
  callback(): (req: unknown, res: unknown) => void;
  Client: { find(id: string): Promise<unknown> };
  Grant: new (init: { accountId: string; clientId: string }) => { addOIDCScope(scope: string): void; save(): Promise<string> };
  RefreshToken: new (init: Record<string, unknown>) => { save(): Promise<string> };
}

/** A running oidc-provider. */
export interface RunningProvider {
  issuer: string;
  provider: OidcProvider;
  /** Mints a refresh token for `accountId` (default alice) with `scope`; `jkt` binds it to a DPoP key. */
  mint(clientId: string, scope: string, options?: { accountId?: string; jkt?: string }): Promise<string>;
  close(): Promise<void>;
}

/** Client registration defaults for a code-flow client that may refresh. */
export const codeClient = { grant_types: ['authorization_code', 'refresh_token'], redirect_uris: ['https://rp.example/cb'], response_types: ['code'] };

/**
 * Starts oidc-provider with refresh token rotation on, RS256 id_tokens and the given clients,
 * scopes and features.
 */
export async function startOidcProvider(options: { clients: object[]; scopes: string[]; features?: object }): Promise<RunningProvider> {
  // A non-literal specifier: resolved at run time, without type declarations.
  const oidcProvider = 'oidc-provider';
  const { default: Provider } = (await import(oidcProvider)) as { default: new (issuer: string, configuration: object) => OidcProvider };
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const signing = await generateKeyPair('RS256', { extractable: true });
  const provider = new Provider(issuer, {
    clients: options.clients,
    jwks: { keys: [{ ...(await exportJWK(signing.privateKey)), kid: 's1', alg: 'RS256', use: 'sig' }] },
    findAccount: (_ctx: unknown, sub: string) => ({ accountId: sub, claims: () => ({ sub }) }),
    scopes: options.scopes,
    rotateRefreshToken: true,
    issueRefreshToken: () => true,
    ttl: { AccessToken: 600, IdToken: 600, RefreshToken: 3600, Grant: 3600 },
    features: { devInteractions: { enabled: false }, ...(options.features ?? {}) },
  });
  server.on('request', provider.callback());
  return {
    issuer,
    provider,
    async mint(clientId, scope, { accountId = 'alice', jkt } = {}) {
      const client = await provider.Client.find(clientId);
      const grant = new provider.Grant({ accountId, clientId });
      grant.addOIDCScope(scope);
      const grantId = await grant.save();
      const init: Record<string, unknown> = { accountId, client, grantId, scope, gty: 'authorization_code', authTime: Math.floor(Date.now() / 1000) - 60 };
      if (jkt !== undefined) init.jkt = jkt;
      return new provider.RefreshToken(init).save();
    },
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}
