/**
 * Interop: openid-client v6's DPoP (`getDPoPHandle`, not written here) against our server with
 * server nonces required: its automatic retry on use_dpop_nonce, our DPoP-bound tokens, a public
 * family bound to its key, a confidential client authenticating with private_key_jwt.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as client from 'openid-client';
import { decodeJwt, exportJWK, generateKeyPair } from 'jose';
import type { AuthorizationServer } from '../../src/core/authorization-server.ts';
import type { Store } from '../../src/core/store.ts';
import { createNodeHandler } from '../../src/http/node-handler.ts';
import { createAuthorizationServer } from '../../src/server.ts';
import { openSqliteStore } from '../../src/stores/sqlite-store.ts';

describe('interop: openid-client DPoP against our server (nonces required)', () => {
  let dir: string;
  let store: Store;
  let http: Server;
  let server: AuthorizationServer;
  let issuer: string;
  /** DPoP nonces sent in proofs to the token endpoint, in order (undefined: none). */
  const proofNonces: Array<string | undefined> = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rg-oc-dpop-'));
    store = await openSqliteStore(join(dir, 'test.db'));
    http = createServer();
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    issuer = `http://127.0.0.1:${(http.address() as { port: number }).port}`;
    server = await createAuthorizationServer({ issuer, store, kek: new Uint8Array(randomBytes(32)), log: false, dpop: { requireNonce: true } });
    const handle = createNodeHandler(server);
    http.on('request', (req, res) => {
      if (req.url === '/token' && typeof req.headers.dpop === 'string') proofNonces.push(decodeJwt(req.headers.dpop).nonce as string | undefined);
      handle(req, res);
    });
  });
  after(async () => {
    http.closeAllConnections();
    await new Promise<void>((resolve) => http.close(() => resolve()));
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const discover = (clientId: string, auth: client.ClientAuth) =>
    client.discovery(new URL(issuer), clientId, {}, auth, { execute: [client.allowInsecureRequests] });

  it('discovers dpop_signing_alg_values_supported', async () => {
    const config = await discover('any', client.None());
    assert.ok(config.serverMetadata().dpop_signing_alg_values_supported!.includes('ES256'));
  });

  it('a public client bound at issue: openid-client retries use_dpop_nonce and gets DPoP-bound tokens', async () => {
    await server.registerClient({ clientId: 'oc-spa', authMethod: 'none', scope: 'openid offline_access read' });
    const config = await discover('oc-spa', client.None());
    const DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
    const jkt = await DPoP.calculateThumbprint();
    const issued = await server.issueGrant({ clientId: 'oc-spa', subject: 'alice', scope: 'openid offline_access read', dpopJkt: jkt });
    proofNonces.length = 0;
    const tokens = await client.refreshTokenGrant(config, issued.tokens.refresh_token!, undefined, { DPoP });
    assert.equal(tokens.token_type, 'dpop');
    assert.deepEqual(decodeJwt(tokens.access_token).cnf, { jkt });
    assert.equal(tokens.claims()!.sub, 'alice');
    assert.equal(proofNonces.length, 2);
    assert.equal(proofNonces[0], undefined, 'the first proof had no nonce');
    assert.match(proofNonces[1]!, /^[A-Za-z0-9_-]{43}$/);
    // The nonce is remembered: one request.
    const again = await client.refreshTokenGrant(config, tokens.refresh_token!, undefined, { DPoP });
    assert.equal(again.token_type, 'dpop');
    assert.equal(proofNonces.length, 3);
    // Another key, or none, is refused for the bound family.
    const other = client.getDPoPHandle(config, await client.randomDPoPKeyPair('EdDSA'));
    await assert.rejects(client.refreshTokenGrant(config, again.refresh_token!, undefined, { DPoP: other }), (e: client.ResponseBodyError) => e.error === 'invalid_grant');
    await assert.rejects(client.refreshTokenGrant(config, again.refresh_token!), (e: client.ResponseBodyError) => e.error === 'invalid_grant');
    const still = await client.refreshTokenGrant(config, again.refresh_token!, undefined, { DPoP });
    assert.equal(still.token_type, 'dpop');
  });

  it('RFC 9449 section 5: a public family issued unbound is bound by openid-client\'s first DPoP refresh; then a refresh without its key is refused', async () => {
    await server.registerClient({ clientId: 'oc-spa-late', authMethod: 'none', scope: 'read' });
    const config = await discover('oc-spa-late', client.None());
    const DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
    const issued = await server.issueGrant({ clientId: 'oc-spa-late', subject: 'carol', scope: 'read' });
    assert.equal((await store.getGrant(issued.familyId))?.dpopJkt, undefined);
    const bound = await client.refreshTokenGrant(config, issued.tokens.refresh_token!, undefined, { DPoP });
    assert.equal(bound.token_type, 'dpop');
    assert.equal((await store.getGrant(issued.familyId))?.dpopJkt, await DPoP.calculateThumbprint());
    // The draft's lifetimes ride along; openid-client passes them through.
    assert.equal(typeof bound.refresh_token_timeout, 'number');
    assert.equal(typeof bound.authorization_expires_in, 'number');
    await assert.rejects(client.refreshTokenGrant(config, bound.refresh_token!), (e: client.ResponseBodyError) => e.error === 'invalid_grant');
    const other = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
    await assert.rejects(client.refreshTokenGrant(config, bound.refresh_token!, undefined, { DPoP: other }), (e: client.ResponseBodyError) => e.error === 'invalid_grant');
    const again = await client.refreshTokenGrant(config, bound.refresh_token!, undefined, { DPoP });
    assert.equal(again.token_type, 'dpop');
  });

  it('a confidential private_key_jwt client: DPoP-bound access tokens, an unbound refresh token', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    await server.registerClient({ clientId: 'oc-backend', authMethod: 'private_key_jwt', jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' } as never] } });
    const config = await discover('oc-backend', client.PrivateKeyJwt({ key: privateKey, kid: 'k1' }));
    const DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair('PS256'));
    const rt = (await server.issueGrant({ clientId: 'oc-backend', subject: 'bob', scope: 'read' })).tokens.refresh_token!;
    const tokens = await client.refreshTokenGrant(config, rt, undefined, { DPoP });
    assert.equal(tokens.token_type, 'dpop');
    assert.deepEqual(decodeJwt(tokens.access_token).cnf, { jkt: await DPoP.calculateThumbprint() });
    const bearer = await client.refreshTokenGrant(config, tokens.refresh_token!);
    assert.equal(bearer.token_type, 'bearer');
  });
});
