/**
 * End to end: the real client (@refresh-grant/client) against the real server over HTTP,
 * for every client authentication method, id_token refresh, scope narrowing, and a lost
 * response: a proxy drops the server's answer after the server rotated, the token manager
 * retries with the same refresh token, and the server's retry window hands back the same
 * successor. The session survives and the family is never revoked.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';
import * as rg from '@refresh-grant/client';
import { startHarness, type Harness } from '../support/harness.ts';

describe('e2e: @refresh-grant/client against @refresh-grant/server', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());

  const discover = (clientId: string, auth: rg.ClientAuth, issuer = h.issuer) =>
    rg.discovery(new URL(issuer), clientId, undefined, auth, { execute: [rg.allowInsecureRequests] });

  async function roundTrip(clientId: string, auth: rg.ClientAuth) {
    const config = await discover(clientId, auth);
    const first = await h.server.issueGrant({ clientId, subject: 'alice', scope: 'openid offline_access read write' });
    const tokens = await rg.refreshTokenGrant(config, first.tokens.refresh_token!, undefined, { idToken: first.tokens.id_token });
    assert.match(tokens.refresh_token!, /^rg_rt_/);
    assert.equal(tokens.claims()!.sub, 'alice');
    assert.ok(tokens.expiresIn()! > 0);
    const narrowed = await rg.refreshTokenGrant(config, tokens.refresh_token!, { scope: 'read' });
    assert.equal(narrowed.scope, 'read');
    await assert.rejects(rg.refreshTokenGrant(config, tokens.refresh_token!, { scope: 'admin' }), (err: rg.OAuthResponseError) => {
      assert.ok(err instanceof rg.OAuthResponseError);
      assert.equal(err.error, 'invalid_scope');
      assert.equal(err.retryable, false);
      return true;
    });
  }

  it('client_secret_basic', async () => {
    const c = await h.client({ clientId: 'e2e-basic', authMethod: 'client_secret_basic' });
    await roundTrip(c.clientId, rg.ClientSecretBasic(c.clientSecret));
  });

  it('client_secret_post', async () => {
    const c = await h.client({ clientId: 'e2e-post', authMethod: 'client_secret_post' });
    await roundTrip(c.clientId, rg.ClientSecretPost(c.clientSecret));
  });

  it('client_secret_jwt', async () => {
    const c = await h.client({ clientId: 'e2e-hs', authMethod: 'client_secret_jwt' });
    await roundTrip(c.clientId, rg.ClientSecretJwt(c.clientSecret));
  });

  it('private_key_jwt', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    await h.server.registerClient({ clientId: 'e2e-pk', authMethod: 'private_key_jwt', jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'e2e' } as never] } });
    await roundTrip('e2e-pk', rg.PrivateKeyJwt({ key: privateKey, kid: 'e2e' }));
  });

  it('none', async () => {
    await h.client({ clientId: 'e2e-public', authMethod: 'none' });
    await roundTrip('e2e-public', rg.None());
  });

  it('resource indicators set the audience', async () => {
    const c = await h.client({ clientId: 'e2e-res' });
    const config = await discover(c.clientId, rg.ClientSecretBasic(c.clientSecret));
    const rt = (await h.server.issueGrant({ clientId: c.clientId, subject: 'u', scope: 'read', resources: ['https://a.example/', 'https://b.example/'] })).tokens.refresh_token!;
    const params = new URLSearchParams([['resource', 'https://a.example/']]);
    const tokens = await rg.refreshTokenGrant(config, rt, params);
    const aud = JSON.parse(Buffer.from(tokens.access_token.split('.')[1], 'base64url').toString()).aud;
    assert.equal(aud, 'https://a.example/');
  });

  it('token manager: 20 concurrent callers cause exactly one refresh at the server', async () => {
    const c = await h.client({ clientId: 'e2e-sf' });
    const config = await discover(c.clientId, rg.ClientSecretBasic(c.clientSecret));
    const first = await h.server.issueGrant({ clientId: c.clientId, subject: 'sf', scope: 'read' });
    const manager = rg.createTokenManager({ config, store: rg.createMemoryStore() });
    await manager.setTokens({ refresh_token: first.tokens.refresh_token!, access_token: 'stale', expires_in: 0, token_type: 'Bearer' });
    const before = h.events.filter((e) => e.type === 'refresh_token.rotated' && e.familyId === first.familyId).length;
    const tokens = await Promise.all(Array.from({ length: 20 }, () => manager.getAccessToken()));
    assert.equal(new Set(tokens).size, 1);
    assert.notEqual(tokens[0], 'stale');
    const rotations = h.events.filter((e) => e.type === 'refresh_token.rotated' && e.familyId === first.familyId).length - before;
    assert.equal(rotations, 1);
  });

  it('expiry on the wire: our client reads refresh_token_timeout and authorization_expires_in from our server; the token manager stores them and warns ahead of the absolute expiry', async () => {
    const c = await h.client({ clientId: 'e2e-expiry', idleTtl: 3600, absoluteTtl: 7200 });
    const config = await discover(c.clientId, rg.ClientSecretBasic(c.clientSecret));
    const metadata = config.serverMetadata();
    assert.deepEqual(metadata.refresh_token_expiration_types_supported, ['authorization', 'token_timeout']);
    const first = await h.server.issueGrant({ clientId: c.clientId, subject: 'exp', scope: 'read' });
    const before = Date.now();
    const tokens = await rg.refreshTokenGrant(config, first.tokens.refresh_token!);
    assert.equal(tokens.refresh_token_timeout, 3600);
    assert.ok(tokens.authorization_expires_in! <= 7200 && tokens.authorization_expires_in! >= 7190);
    assert.ok(Math.abs(tokens.refreshTokenExpiresAt()!.getTime() - (before + 3600_000)) < 10_000);
    assert.ok(Math.abs(tokens.authorizationExpiresAt()!.getTime() - (before + 7200_000)) < 10_000);

    // Warned two hours ahead: the two-hour authorization is already within it.
    const manager = rg.createTokenManager({ config, store: rg.createMemoryStore(), expiryWarning: 7200 });
    const warnings: number[] = [];
    manager.on('authorization-expiring', ({ expiresAt }) => warnings.push(expiresAt));
    await manager.setTokens({ ...tokens, refresh_token: tokens.refresh_token!, access_token: 'stale', expires_in: 0 });
    await manager.getAccessToken();
    assert.equal(warnings.length, 1);
    assert.ok(Math.abs(warnings[0] - (before + 7200_000)) < 10_000);
  });

  describe('a lost response', () => {
    let proxy: Server;
    let proxyIssuer: string;
    let dropNextTokenResponse = false;
    let dropped = 0;

    before(async () => {
      // A loopback proxy in front of the server that can swallow the token endpoint's answer
      // after the server has committed the rotation, as a broken network would.
      proxy = createServer(async (req, res) => {
        const chunks: Buffer[] = [];
        for await (const chunk of req) chunks.push(chunk as Buffer);
        const upstream = await fetch(h.issuer + req.url, {
          method: req.method,
          headers: Object.fromEntries(Object.entries(req.headers).filter(([k]) => k !== 'host' && k !== 'content-length') as Array<[string, string]>),
          body: req.method === 'POST' ? Buffer.concat(chunks) : undefined,
        });
        const text = await upstream.text();
        if (req.url === '/token' && dropNextTokenResponse) {
          dropNextTokenResponse = false;
          dropped++;
          req.socket.destroy();
          return;
        }
        res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' });
        res.end(text);
      });
      await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
      proxyIssuer = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
    });
    after(async () => {
      proxy.closeAllConnections();
      await new Promise((resolve) => proxy.close(resolve));
    });

    it('the token manager retries with the same refresh token and gets the same successor; the family lives on', async () => {
      const c = await h.client({ clientId: 'e2e-lost' });
      const serverMeta = await (await fetch(`${h.issuer}/.well-known/openid-configuration`)).json();
      // The proxy stands in for the token endpoint; identity checks use the real issuer.
      const config = new rg.Configuration({ ...serverMeta, token_endpoint: `${proxyIssuer}/token` }, c.clientId, undefined, rg.ClientSecretBasic(c.clientSecret));
      rg.allowInsecureRequests(config);
      const first = await h.server.issueGrant({ clientId: c.clientId, subject: 'lost', scope: 'read' });
      const store = rg.createMemoryStore();
      const manager = rg.createTokenManager({ config, store, retry: { baseDelay: 5, attempts: 3 } });
      await manager.setTokens({ refresh_token: first.tokens.refresh_token!, access_token: 'stale', expires_in: 0 });
      const retries: unknown[] = [];
      manager.on('retry', (d) => retries.push(d.error));

      dropNextTokenResponse = true;
      const tokens = await manager.refresh();
      assert.equal(dropped, 1, 'the first answer was lost');
      assert.equal(retries.length, 1);
      assert.ok(retries[0] instanceof rg.TransportError);
      const replays = h.events.filter((e) => e.type === 'refresh_token.replayed' && e.familyId === first.familyId);
      assert.equal(replays.length, 1, 'the server answered the retry from its retry window');
      const rotated = h.events.filter((e) => e.type === 'refresh_token.rotated' && e.familyId === first.familyId);
      assert.equal(rotated.length, 1, 'exactly one rotation: the chain did not fork');
      // The stored successor keeps working; nothing was revoked.
      const next = await manager.refresh();
      assert.notEqual(next.refreshToken, tokens.refreshToken);
      assert.equal((await h.store.getGrant(first.familyId))!.revokedAt, undefined);
    });
  });
});
