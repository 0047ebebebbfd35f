/**
 * The limit: a bare `node:http` server that does what every token endpoint must do at the
 * least (read the body, parse the form, read the Authorization header) and answers a fixed
 * token response as large as refresh-grant's. With `--sign`, it also signs one ES256 JWT
 * access token per request (the cost floor of a JWT access token), through the same
 * node:crypto path as `packages/server/src/core/tokens/jws.ts`. With `--sign-thread`, that
 * signature is computed on a signing thread (`signing/signing-thread.ts`), as `serve` does.
 *
 * Run: `npx node bench/servers/limit.ts [--sign | --sign-thread]`; prints its URL once listening.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { JwsSigner } from '../../packages/server/src/core/tokens/jws.ts';
import { SigningThread } from '../../packages/server/src/signing/signing-thread.ts';

const signEach = process.argv.includes('--sign');
/** `--sign-thread`: the signature computed on a signing thread, as `refresh-grant serve` does. */
const onThread = process.argv.includes('--sign-thread');
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signer = new JwsSigner({ kid: randomBytes(32).toString('base64url'), alg: 'ES256', privateKey }, onThread ? SigningThread.start() : undefined);
const issuerPlaceholder = 'http://127.0.0.1:65535';
const scope = 'offline_access api';
const refreshToken = 'rg_rt_' + randomBytes(32).toString('base64url');
let counter = 0;

/** The claims refresh-grant puts in an access token (RFC 9068), same names, same sizes. */
function claims(now: number): Record<string, unknown> {
  counter++;
  return {
    iss: issuerPlaceholder,
    sub: 'bench-user-0001',
    aud: issuerPlaceholder,
    client_id: 'bench',
    scope,
    jti: 'jti' + String(counter).padStart(19, '0'),
    iat: now,
    exp: now + 900,
    sid: 'sid' + String(counter).padStart(19, '0'),
    auth_time: now,
  };
}

function body(accessToken: string): string {
  return JSON.stringify({ access_token: accessToken, token_type: 'Bearer', expires_in: 900, scope, refresh_token: refreshToken });
}

const fixed = body(await signer.sign(claims(Math.floor(Date.now() / 1000)), 'at+jwt'));
const headers = { 'content-type': 'application/json', 'cache-control': 'no-store', pragma: 'no-cache' };

const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
    const ok = req.method === 'POST' && form.get('grant_type') === 'refresh_token' && !!form.get('refresh_token') && !!req.headers.authorization;
    if (!ok) {
      res.writeHead(400, headers);
      res.end('{"error":"invalid_request"}');
      return;
    }
    const send = (answer: string) => {
      res.writeHead(200, { ...headers, 'content-length': Buffer.byteLength(answer) });
      res.end(answer);
    };
    if (!signEach && !onThread) send(fixed);
    else void signer.sign(claims(Math.floor(Date.now() / 1000)), 'at+jwt').then((jwt) => send(body(jwt)));
  });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
