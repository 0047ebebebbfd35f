/**
 * `refresh-grant refresh`: one refresh token grant against any server (discovered from `--issuer`),
 * through @refresh-grant/client. Exit codes tell the failure apart for scripts.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  ClientSecretBasic,
  ClientSecretJwt,
  ClientSecretPost,
  Configuration,
  customFetch,
  discovery,
  InvalidResponseError,
  None,
  OAuthResponseError,
  PrivateKeyJwt,
  refreshTokenGrant,
  TransportError,
  type ClientAuth,
} from '@refresh-grant/client';
import { fields, time } from './common.ts';
import { UsageError, type CliIo, type Options } from './options.ts';

/** Exit codes of `refresh`. */
export const exitCodes = { ok: 0, other: 1, usage: 2, oauthError: 3, invalidResponse: 4, transport: 5 } as const;

/** `refresh`; resolves with the exit code. */
export async function refresh(options: Options, io: CliIo): Promise<number> {
  const json = options.flag('json');
  const issuer = options.required('issuer');
  const clientId = options.required('client-id');
  const refreshToken = options.required('refresh-token');
  const secret = options.string('client-secret');
  const keyFile = options.string('private-key');
  if (secret !== undefined && keyFile !== undefined) throw new UsageError('give --client-secret or --private-key, not both');
  const explicit = options.string('auth-method');
  if (explicit?.startsWith('client_secret') && secret === undefined) throw new UsageError(`--auth-method ${explicit} needs --client-secret`);
  if (explicit === 'private_key_jwt' && keyFile === undefined) throw new UsageError('--auth-method private_key_jwt needs --private-key');
  const key = keyFile === undefined ? undefined : await loadPrivateKey(keyFile, options.string('kid'));
  // The token response as the server sent it, for --json: complete and unchanged (token_type's case, extra members).
  let raw: string | undefined;
  const capture = async (url: string, init: RequestInit) => {
    const response = await fetch(url, init);
    if (init.method === 'POST') raw = await response.clone().text();
    return response;
  };
  let method: string | undefined;
  try {
    const discovered = await discovery(new URL(issuer), clientId, secret, None(), { [customFetch]: capture });
    const supported = discovered.serverMetadata().token_endpoint_auth_methods_supported;
    method = explicit ?? chooseMethod(secret, keyFile, supported);
    const auth: ClientAuth =
      method === 'client_secret_basic' ? ClientSecretBasic(secret)
      : method === 'client_secret_post' ? ClientSecretPost(secret)
      : method === 'client_secret_jwt' ? ClientSecretJwt(secret)
      : method === 'private_key_jwt' ? PrivateKeyJwt(key!)
      : None();
    const config = new Configuration(discovered.serverMetadata(), clientId, secret, auth);
    config[customFetch] = capture;
    const response = await refreshTokenGrant(config, refreshToken, { scope: options.string('scope'), resource: options.list('resource') });
    if (json) {
      io.stdout(`${JSON.stringify(JSON.parse(raw!))}\n`);
      return exitCodes.ok;
    }
    const expiresAt = response.accessTokenExpiresAt();
    const claims = response.claims();
    const wire = JSON.parse(raw!) as { token_type?: string };
    io.stdout(
      fields([
        ['access_token', response.access_token],
        ['token_type', wire.token_type ?? response.token_type],
        ['expires_in', response.expires_in === undefined ? undefined : `${response.expires_in} s (until ${time(Math.floor(expiresAt!.getTime() / 1000))})`],
        ['refresh_token', response.refresh_token ? `${response.refresh_token} (rotated: use this one from now on)` : '(not rotated: keep using the one you have)'],
        ['scope', response.scope],
        ['id_token', response.id_token],
        ['id_token sub', claims?.sub],
        ['id_token iss', claims?.iss],
      ]),
    );
    return exitCodes.ok;
  } catch (error) {
    if (error instanceof TypeError && !(error.cause instanceof Error)) throw new UsageError(error.message);
    return report(error, json, io, explicit === undefined ? method : undefined);
  }
}

/**
 * The client authentication when `--auth-method` is not given: from the credentials, and for a
 * secret from the server's `token_endpoint_auth_methods_supported` (RFC 8414 section 2: absent
 * means client_secret_basic).
 */
function chooseMethod(secret: string | undefined, keyFile: string | undefined, supported: string[] | undefined): string {
  if (keyFile !== undefined) return 'private_key_jwt';
  if (secret === undefined) return 'none';
  const offered = supported ?? ['client_secret_basic'];
  return ['client_secret_basic', 'client_secret_post', 'client_secret_jwt'].find((m) => offered.includes(m)) ?? 'client_secret_basic';
}

/** The exit code of a failed refresh, its error on stderr; anything else is rethrown (exit 1). */
function report(error: unknown, json: boolean, io: CliIo, guessedMethod: string | undefined): number {
  const say = (code: number, message: string, details: Record<string, unknown>) => {
    io.stderr(json ? `${JSON.stringify(details)}\n` : `refresh-grant: ${message}\n`);
    return code;
  };
  if (error instanceof OAuthResponseError) {
    const hint =
      error.error === 'invalid_client' && guessedMethod?.startsWith('client_secret')
        ? ` (sent as ${guessedMethod}: if the client is registered for another method, pass --auth-method client_secret_post, client_secret_basic or client_secret_jwt)`
        : '';
    return say(exitCodes.oauthError, `the server answered with an OAuth error (HTTP ${error.status}): ${error.message}${hint}`, {
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
  throw error;
}

/** A PKCS#8 PEM or private JWK file as a signing CryptoKey (algorithm from the key type). */
async function loadPrivateKey(file: string, kid?: string): Promise<{ key: CryptoKey; kid?: string }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new UsageError(`cannot read --private-key ${file}: ${(cause as Error).message}`);
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
    throw new UsageError(`--private-key ${file} is not a private key (PKCS#8 PEM or JWK): ${(cause as Error).message}`);
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
  if (!algorithm || ('namedCurve' in algorithm && !algorithm.namedCurve)) throw new UsageError(`--private-key ${file}: unsupported key type ${type}${curve ? ` (${curve})` : ''}`);
  const der = keyObject.export({ format: 'der', type: 'pkcs8' });
  const key = await crypto.subtle.importKey('pkcs8', der, algorithm, false, ['sign']);
  return { key, kid: kid ?? jwk?.kid };
}
