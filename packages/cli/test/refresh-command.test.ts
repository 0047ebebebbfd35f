/**
 * `refresh-grant refresh` (the real bin) against a local stand-in authorization server
 * (discovery, JWKS-free token endpoint): output, every auth method (and the method taken from
 * discovery), and the exit code of each failure kind.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { importSPKI, jwtVerify } from 'jose';
import { exitCodes } from '../src/refresh-command.ts';
import { cli } from './support.ts';

interface Seen { headers: IncomingMessage['headers']; form: URLSearchParams }
let issuer: string;
let seen: Seen[] = [];
let answer: (res: ServerResponse) => void;
let supported: string[] | undefined;
const server = createServer(async (req, res) => {
  if (req.url === '/.well-known/openid-configuration') {
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify({ issuer, token_endpoint: `${issuer}/token`, token_endpoint_auth_methods_supported: supported }));
  }
  let body = '';
  for await (const chunk of req) body += chunk;
  seen.push({ headers: req.headers, form: new URLSearchParams(body) });
  answer(res);
});
const dir = mkdtempSync(join(tmpdir(), 'rg-refresh-cli-'));

before(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
  return new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve())));
});

const ok = (res: ServerResponse) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ access_token: 'at-2', token_type: 'Bearer', expires_in: 3600, refresh_token: 'rt-2', scope: 'read', extra: 1 }));
};

function run(...args: string[]) {
  return cli(['refresh', ...args]);
}

const base = () => ['--issuer', issuer, '--client-id', 'cli-client', '--refresh-token', 'rt-1'];

test('prints the token response readably, and the wire JSON with --json; sends scope and resources', async () => {
  answer = ok;
  seen = [];
  const readable = await run(...base(), '--client-secret', 's3cret', '--scope', 'read', '--resource', 'https://a.example', '--resource', 'https://b.example');
  assert.equal(readable.code, 0, readable.stderr);
  assert.match(readable.stdout, /^access_token: +at-2$/m);
  assert.match(readable.stdout, /^refresh_token: +rt-2 \(rotated/m);
  assert.match(readable.stdout, /^expires_in: +3600 s \(until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)$/m);
  assert.match(readable.stdout, /^token_type: +Bearer$/m);
  const [request] = seen;
  assert.equal(request.headers.authorization, `Basic ${btoa('cli-client:s3cret')}`);
  assert.equal(request.headers.accept, 'application/json');
  assert.equal(request.form.get('grant_type'), 'refresh_token');
  assert.equal(request.form.get('refresh_token'), 'rt-1');
  assert.equal(request.form.get('scope'), 'read');
  assert.deepEqual(request.form.getAll('resource'), ['https://a.example', 'https://b.example']);
  const json = await run(...base(), '--client-secret', 's3cret', '--json');
  assert.equal(json.code, 0);
  // The server's own response: token_type as sent, members the client does not know kept.
  assert.deepEqual(JSON.parse(json.stdout), { access_token: 'at-2', token_type: 'Bearer', expires_in: 3600, refresh_token: 'rt-2', scope: 'read', extra: 1 });
});

test('auth methods: client_secret_post, none by default without credentials, private_key_jwt from PEM and JWK files', async () => {
  answer = ok;
  seen = [];
  assert.equal((await run(...base(), '--client-secret', 's', '--auth-method', 'client_secret_post')).code, 0);
  assert.equal(seen[0].form.get('client_secret'), 's');
  assert.equal(seen[0].headers.authorization, undefined);
  assert.equal((await run(...base())).code, 0);
  assert.equal(seen[1].form.get('client_id'), 'cli-client');
  assert.equal(seen[1].form.has('client_secret'), false);
  const keys = { ec: generateKeyPairSync('ec', { namedCurve: 'P-256' }), rsa: generateKeyPairSync('rsa', { modulusLength: 2048 }), ed: generateKeyPairSync('ed25519') };
  const cases: Array<[string, string, string, string]> = [
    ['ec.pem', keys.ec.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, 'ES256', keys.ec.publicKey.export({ format: 'pem', type: 'spki' }) as string],
    ['rsa.jwk', JSON.stringify({ ...keys.rsa.privateKey.export({ format: 'jwk' }), kid: 'from-jwk' }), 'RS256', keys.rsa.publicKey.export({ format: 'pem', type: 'spki' }) as string],
    ['rsa-ps.jwk', JSON.stringify({ ...keys.rsa.privateKey.export({ format: 'jwk' }), alg: 'PS256' }), 'PS256', keys.rsa.publicKey.export({ format: 'pem', type: 'spki' }) as string],
    ['ed.pem', keys.ed.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, 'Ed25519', keys.ed.publicKey.export({ format: 'pem', type: 'spki' }) as string],
  ];
  for (const [name, contents, alg, spki] of cases) {
    writeFileSync(join(dir, name), contents);
    seen = [];
    const result = await run(...base(), '--private-key', join(dir, name), ...(name === 'ec.pem' ? ['--kid', 'k-ec'] : []));
    assert.equal(result.code, 0, `${name}: ${result.stderr}`);
    const assertion = seen[0].form.get('client_assertion')!;
    const { protectedHeader, payload } = await jwtVerify(assertion, await importSPKI(spki, alg), { issuer: 'cli-client', audience: issuer });
    assert.equal(protectedHeader.alg, alg);
    if (name === 'ec.pem') assert.equal(protectedHeader.kid, 'k-ec');
    if (name === 'rsa.jwk') assert.equal(protectedHeader.kid, 'from-jwk');
    assert.equal(payload.sub, 'cli-client');
  }
});

test('exit 3 on an OAuth error response, with the error on stderr (JSON with --json)', async () => {
  answer = (res) => (res.writeHead(400, { 'content-type': 'application/json' }), res.end(JSON.stringify({ error: 'invalid_grant', error_description: 'already used' })));
  const readable = await run(...base(), '--client-secret', 's');
  assert.equal(readable.code, exitCodes.oauthError);
  assert.equal(readable.code, 3);
  assert.equal(readable.stdout, '');
  assert.match(readable.stderr, /invalid_grant: already used/);
  const json = await run(...base(), '--client-secret', 's', '--json');
  assert.equal(json.code, 3);
  assert.deepEqual(JSON.parse(json.stderr), { error: 'invalid_grant', error_description: 'already used', status: 400 });
});

test('exit 4 on an invalid response, exit 5 on a transport failure', async () => {
  answer = (res) => (res.writeHead(502, { 'content-type': 'text/html' }), res.end('<h1>Bad Gateway</h1>'));
  const invalid = await run(...base());
  assert.equal(invalid.code, 4);
  assert.match(invalid.stderr, /invalid response: .*HTTP 502/);
  answer = (res) => res.socket!.destroy();
  const transport = await run(...base(), '--json');
  assert.equal(transport.code, 5);
  assert.equal(JSON.parse(transport.stderr).error, 'transport_failure');
  const dead = createServer();
  await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
  const port = (dead.address() as AddressInfo).port;
  await new Promise((resolve) => dead.close(resolve));
  const refused = await run('--issuer', `http://127.0.0.1:${port}`, '--client-id', 'c', '--refresh-token', 'rt');
  assert.equal(refused.code, 5);
  assert.match(refused.stderr, /failed/);
});

test('the auth method for a secret comes from discovery; an invalid_client says which --auth-method to try', async () => {
  answer = ok;
  seen = [];
  supported = ['client_secret_post', 'private_key_jwt'];
  try {
    assert.equal((await run(...base(), '--client-secret', 's')).code, 0);
    assert.equal(seen[0].form.get('client_secret'), 's');
    assert.equal(seen[0].headers.authorization, undefined);
  } finally {
    supported = undefined;
  }
  answer = (res) => (res.writeHead(401, { 'content-type': 'application/json' }), res.end(JSON.stringify({ error: 'invalid_client', error_description: 'Client authentication failed.' })));
  const guessed = await run(...base(), '--client-secret', 's');
  assert.equal(guessed.code, 3);
  assert.match(guessed.stderr, /invalid_client.*\(sent as client_secret_basic: if the client is registered for another method, pass --auth-method client_secret_post/);
  const explicit = await run(...base(), '--client-secret', 's', '--auth-method', 'client_secret_basic');
  assert.doesNotMatch(explicit.stderr, /sent as/);
});

test('exit 2 on usage errors, before any request; secrets may come from the environment', async () => {
  seen = [];
  const usage: string[][] = [
    ['--issuer', 'http://127.0.0.1:1', '--client-id', 'c'],
    [...base(), '--client-secret', 's', '--private-key', 'k.pem'],
    [...base(), '--auth-method', 'tls_client_auth'],
    [...base(), '--auth-method', 'client_secret_basic'],
    [...base(), '--auth-method', 'private_key_jwt'],
    [...base(), '--private-key', join(dir, 'missing.pem')],
    [...base(), '--unknown'],
    ['--issuer', 'not a url', '--client-id', 'c', '--refresh-token', 'rt'],
    ['--issuer', 'http://as.example', '--client-id', 'c', '--refresh-token', 'rt'],
  ];
  const results = await Promise.all(usage.map((args) => run(...args)));
  results.forEach((result, i) => {
    assert.equal(result.code, 2, `${usage[i].join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, /^refresh-grant: .*\nsee: refresh-grant refresh --help\n$/);
  });
  writeFileSync(join(dir, 'garbage.pem'), 'not a key');
  assert.equal((await run(...base(), '--private-key', join(dir, 'garbage.pem'))).code, 2);
  assert.equal(seen.length, 0);
  const help = await run('--help');
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Exit codes: 0 done, 1 failure, 2 usage error, 3 OAuth error response, 4 invalid response, 5 transport failure/);
  answer = ok;
  const fromEnv = await cli(['refresh', '--issuer', issuer, '--client-id', 'cli-client', '--json'], { env: { REFRESH_GRANT_REFRESH_TOKEN: 'rt-env', REFRESH_GRANT_CLIENT_SECRET: 's-env' } });
  assert.equal(fromEnv.code, 0, fromEnv.stderr);
  assert.equal(seen[0].form.get('refresh_token'), 'rt-env');
  assert.equal(seen[0].headers.authorization, `Basic ${btoa('cli-client:s-env')}`);
});
