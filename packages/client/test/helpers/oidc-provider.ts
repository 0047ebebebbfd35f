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

/** Where a user agent's trip through the authorization endpoint ended. */
export type Landing =
  /** A redirect to the redirect URI (response_mode query): the URL with the response. */
  | { url: URL }
  /** response_mode=form_post: the auto-submitting form's target and fields, as the browser would POST them. */
  | { post: Request };

const unescape = (text: string) =>
  text.replace(/&(#x?[0-9a-f]+|amp|lt|gt|quot|apos);/gi, (_m, entity: string) =>
    entity[0] === '#' ? String.fromCodePoint(Number(entity[1] === 'x' ? `0${entity.slice(1)}` : entity.slice(1))) : { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[entity.toLowerCase()]!);

/** The first form of a page: its action and its inputs that have a value (hidden fields). */
function firstForm(html: string, base: string): { action: URL; fields: URLSearchParams } {
  const form = /<form[^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/i.exec(html);
  if (!form) throw new Error(`no form in the page: ${html.slice(0, 300)}`);
  const fields = new URLSearchParams();
  for (const [, name, value] of form[2].matchAll(/<input[^>]*name="([^"]*)"[^>]*value="([^"]*)"/gi)) fields.append(unescape(name), unescape(value));
  return { action: new URL(unescape(form[1]), base), fields };
}

/**
 * Drives oidc-provider's development interactions over HTTP as a browser would: follows redirects
 * with its cookies, signs in as `login` on the login page, allows on the consent page (or aborts
 * there with `abort`), and stops where the user agent would reach `redirectUri`.
 */
export async function signInThroughDevInteractions(authorizationUrl: URL, redirectUri: string, options: { login?: string; abort?: boolean; cookies?: Map<string, string> } = {}): Promise<Landing> {
  const { login = 'alice', abort = false, cookies = new Map<string, string>() } = options;
  let url = authorizationUrl.href;
  let body: string | undefined;
  for (let hops = 0; hops < 20; hops++) {
    if (url.startsWith(redirectUri)) return { url: new URL(url) };
    const response = await fetch(url, {
      method: body === undefined ? 'GET' : 'POST',
      body,
      redirect: 'manual',
      headers: { cookie: [...cookies].map(([name, value]) => `${name}=${value}`).join('; '), ...(body !== undefined && { 'content-type': 'application/x-www-form-urlencoded' }) },
    });
    for (const cookie of response.headers.getSetCookie()) {
      const [pair] = cookie.split(';');
      const at = pair.indexOf('=');
      if (pair.slice(at + 1)) cookies.set(pair.slice(0, at), pair.slice(at + 1));
      else cookies.delete(pair.slice(0, at));
    }
    body = undefined;
    const location = response.headers.get('location');
    if (location) {
      url = new URL(location, url).href;
      continue;
    }
    const html = await response.text();
    const { action, fields } = firstForm(html, url);
    if (action.href.startsWith(redirectUri)) {
      return { post: new Request(action, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: fields }) };
    }
    if (response.status !== 200) throw new Error(`HTTP ${response.status} at ${url}: ${html.slice(0, 500)}`);
    if (abort && fields.get('prompt') === 'consent') {
      url = `${action.href}/abort`;
      continue;
    }
    if (fields.get('prompt') === 'login') fields.set('login', login), fields.set('password', 'any');
    url = action.href;
    body = fields.toString();
  }
  throw new Error('too many redirects');
}
