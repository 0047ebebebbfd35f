/**
 * `refresh-grant refresh`: one refresh token grant against any server (discovered from `--issuer`),
 * through @refresh-grant/client. Exit codes tell the failure apart for scripts.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import {
  ClientSecretBasic,
  ClientSecretJwt,
  ClientSecretPost,
  discovery,
  InvalidResponseError,
  None,
  OAuthResponseError,
  PrivateKeyJwt,
  refreshTokenGrant,
  TransportError,
  type ClientAuth,
} from '@refresh-grant/client';
import type { CliIo } from './common.ts';

export const refreshUsage = `Usage:
  refresh-grant refresh --issuer URL --client-id ID [--client-secret S | --private-key FILE [--kid KID]]
      [--auth-method client_secret_basic|client_secret_post|client_secret_jwt|private_key_jwt|none]
      --refresh-token RT [--scope "..."] [--resource URI]... [--json]
  --private-key takes a PKCS#8 PEM or a private JWK (RSA keys sign RS256, or PS256 with "alg": "PS256").
  Default auth method: private_key_jwt with --private-key, client_secret_basic with --client-secret, else none.
  Exit codes: 0 done, 2 usage error, 3 OAuth error response, 4 invalid response, 5 transport failure, 1 other.
`;

/** Exit codes of `refresh`. */
export const exitCodes = { ok: 0, other: 1, usage: 2, oauthError: 3, invalidResponse: 4, transport: 5 } as const;

class Usage extends Error {}

const methods = ['client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'private_key_jwt', 'none'];

/** Runs `refresh`; resolves with the exit code. */
export async function refreshCommand(args: string[], io: CliIo): Promise<number> {
  let json = args.includes('--json');
  try {
    const { values } = parseArgs({
      args,
      options: {
        issuer: { type: 'string' },
        'client-id': { type: 'string' },
        'client-secret': { type: 'string' },
        'private-key': { type: 'string' },
        kid: { type: 'string' },
        'auth-method': { type: 'string' },
        'refresh-token': { type: 'string' },
        scope: { type: 'string' },
        resource: { type: 'string', multiple: true },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    });
    json = values.json;
    if (values.help) return io.stdout(refreshUsage), exitCodes.ok;
    const { issuer, 'client-id': clientId, 'client-secret': secret, 'private-key': keyFile, 'refresh-token': refreshToken } = values;
    if (!issuer || !clientId || !refreshToken) throw new Usage('--issuer, --client-id and --refresh-token are required');
    if (secret !== undefined && keyFile !== undefined) throw new Usage('pass --client-secret or --private-key, not both');
    const method = values['auth-method'] ?? (keyFile ? 'private_key_jwt' : secret ? 'client_secret_basic' : 'none');
    if (!methods.includes(method)) throw new Usage(`--auth-method must be one of ${methods.join(', ')}`);
    if (method.startsWith('client_secret') && !secret) throw new Usage(`--auth-method ${method} needs --client-secret`);
    if (method === 'private_key_jwt' && !keyFile) throw new Usage('--auth-method private_key_jwt needs --private-key');
    let issuerUrl: URL;
    try {
      issuerUrl = new URL(issuer);
    } catch {
      throw new Usage(`--issuer is not a URL: ${issuer}`);
    }
    const auth: ClientAuth =
      method === 'client_secret_basic' ? ClientSecretBasic(secret)
      : method === 'client_secret_post' ? ClientSecretPost(secret)
      : method === 'client_secret_jwt' ? ClientSecretJwt(secret)
      : method === 'private_key_jwt' ? PrivateKeyJwt(await loadPrivateKey(keyFile!, values.kid))
      : None();
    const config = await discovery(issuerUrl, clientId, secret, auth);
    const response = await refreshTokenGrant(config, refreshToken, { scope: values.scope, resource: values.resource });
    if (json) {
      io.stdout(`${JSON.stringify(response)}\n`);
      return exitCodes.ok;
    }
    const expiresAt = response.accessTokenExpiresAt();
    const lines: Array<[string, string | undefined]> = [
      ['access_token', response.access_token],
      ['token_type', response.token_type],
      ['expires_in', response.expires_in === undefined ? undefined : `${response.expires_in} (until ${expiresAt!.toISOString()})`],
      ['refresh_token', response.refresh_token ? `${response.refresh_token} (rotated: use this one from now on)` : '(not rotated: keep using the one you have)'],
      ['scope', response.scope],
      ['id_token', response.id_token],
    ];
    const claims = response.claims();
    if (claims) lines.push(['id_token sub', claims.sub], ['id_token iss', claims.iss]);
    io.stdout(lines.filter(([, v]) => v !== undefined).map(([k, v]) => `${`${k}:`.padEnd(15)}${v}\n`).join(''));
    return exitCodes.ok;
  } catch (error) {
    return report(error, json, io);
  }
}

function report(error: unknown, json: boolean, io: CliIo): number {
  const say = (code: number, message: string, details: Record<string, unknown>) => {
    io.stderr(json ? `${JSON.stringify(details)}\n` : `refresh-grant refresh: ${message}\n`);
    return code;
  };
  if (error instanceof OAuthResponseError) {
    return say(exitCodes.oauthError, `the server answered with an OAuth error (HTTP ${error.status}): ${error.message}`, {
      error: error.error,
      error_description: error.errorDescription,
      error_uri: error.errorUri,
      status: error.status,
    });
  }
  if (error instanceof InvalidResponseError) {
    return say(exitCodes.invalidResponse, `invalid response: ${error.message}`, { error: 'invalid_response', error_description: error.message, status: error.status });
  }
  if (error instanceof TransportError) {
    return say(exitCodes.transport, `${error.message}${error.cause instanceof Error && error.cause.cause instanceof Error ? ` (${error.cause.cause.message})` : ''}`, {
      error: 'transport_failure',
      error_description: error.message,
      timeout: error.timeout,
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  // parseArgs errors, our checks, and the client library's TypeErrors (e.g. an http: issuer) are usage errors.
  if (error instanceof Usage || error instanceof TypeError || (error as { code?: string })?.code?.startsWith('ERR_PARSE_ARGS')) {
    return say(exitCodes.usage, `${message}\n\n${refreshUsage}`, { error: 'usage', error_description: message });
  }
  return say(exitCodes.other, message, { error: 'failure', error_description: message });
}

/** A PKCS#8 PEM or private JWK file as a signing CryptoKey (algorithm from the key type). */
async function loadPrivateKey(file: string, kid?: string): Promise<{ key: CryptoKey; kid?: string }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new Usage(`cannot read --private-key ${file}: ${(cause as Error).message}`);
  }
  let keyObject: KeyObject;
  let jwk: { alg?: string; kid?: string } | undefined;
  try {
    if (text.trimStart().startsWith('{')) {
      jwk = JSON.parse(text);
      keyObject = createPrivateKey({ key: jwk as never, format: 'jwk' });
    } else {
      keyObject = createPrivateKey(text);
    }
  } catch (cause) {
    throw new Usage(`--private-key ${file} is not a private key (PKCS#8 PEM or JWK): ${(cause as Error).message}`);
  }
  const type = keyObject.asymmetricKeyType;
  const curve = keyObject.asymmetricKeyDetails?.namedCurve;
  const alg = jwk?.alg;
  const algorithm =
    type === 'rsa' ? (alg?.startsWith('PS') ? { name: 'RSA-PSS', hash: `SHA-${alg.slice(2)}` } : { name: 'RSASSA-PKCS1-v1_5', hash: `SHA-${alg?.slice(2) || 256}` })
    : type === 'rsa-pss' ? { name: 'RSA-PSS', hash: `SHA-${keyObject.asymmetricKeyDetails?.hashAlgorithm?.slice(3) || 256}` }
    : type === 'ec' ? { name: 'ECDSA', namedCurve: ({ prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' } as Record<string, string>)[curve ?? ''] }
    : type === 'ed25519' ? { name: 'Ed25519' }
    : undefined;
  if (!algorithm || ('namedCurve' in algorithm && !algorithm.namedCurve)) throw new Usage(`--private-key ${file}: unsupported key type ${type}${curve ? ` (${curve})` : ''}`);
  const der = keyObject.export({ format: 'der', type: 'pkcs8' });
  const key = await crypto.subtle.importKey('pkcs8', der, algorithm, false, ['sign']);
  return { key, kid: kid ?? jwk?.kid };
}
