/**
 * The JWT bearer grant (RFC 7523 section 2.1) over real HTTP: assertions by an identity provider
 * the client trusts (keys inline, or at a JWK Set URL on loopback) are exchanged for tokens whose
 * family rotates; every check of RFC 7523 section 3 refuses with invalid_grant.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { startHarness, type Harness } from '../../support/harness.ts';

const jwtBearer = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

describe('jwt-bearer grant', () => {
  let h: Harness;
  let auth: Record<string, string>;
  let idp: CryptoKey;
  let remoteIdp: CryptoKey;
  let jwksServer: Server;
  const now = () => Math.floor(Date.now() / 1000);

  before(async () => {
    h = await startHarness();
    const local = await generateKeyPair('ES256');
    idp = local.privateKey;
    const remote = await generateKeyPair('EdDSA');
    remoteIdp = remote.privateKey;
    const remoteJwks = { keys: [{ ...(await exportJWK(remote.publicKey)), kid: 'r1', alg: 'EdDSA' }] };
    jwksServer = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(remoteJwks)));
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    const jwksUri = `http://127.0.0.1:${(jwksServer.address() as { port: number }).port}/jwks`;
    const c = await h.client({
      clientId: 'backend',
      scope: 'openid offline_access api',
      jwtBearerIssuers: [
        { issuer: 'https://idp.example', jwks: { keys: [{ ...(await exportJWK(local.publicKey)), kid: 'i1', alg: 'ES256' } as never] } },
        { issuer: 'https://remote-idp.example', jwksUri },
      ],
    });
    auth = h.basic(c.clientId, c.clientSecret);
    const plain = await h.client({ clientId: 'plain' });
    assert.ok(plain);
  });
  after(async () => {
    await h.close();
    jwksServer.close();
  });

  function assertion(claims: Record<string, unknown> = {}, options: { key?: CryptoKey; alg?: string; kid?: string } = {}): Promise<string> {
    const payload: Record<string, unknown> = { iss: 'https://idp.example', sub: 'dana', aud: h.issuer, exp: now() + 300, iat: now(), jti: randomUUID(), ...claims };
    for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k];
    return new SignJWT(payload).setProtectedHeader({ alg: options.alg ?? 'ES256', kid: options.kid ?? 'i1' }).sign(options.key ?? idp);
  }

  const grant = (form: Record<string, string>, headers = auth) => h.post('/token', { grant_type: jwtBearer, ...form }, headers);

  it('exchanges an assertion of a trusted issuer; the family rotates like any other', async () => {
    const res = await grant({ assertion: await assertion(), scope: 'openid offline_access' });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.scope, 'openid offline_access');
    assert.match(res.json.refresh_token, /^rg_rt_/);
    assert.equal(JSON.parse(Buffer.from(res.json.id_token.split('.')[1], 'base64url').toString()).sub, 'dana');
    const refreshed = await h.post('/token', { grant_type: 'refresh_token', refresh_token: res.json.refresh_token }, auth);
    assert.equal(refreshed.status, 200, refreshed.text);
    assert.notEqual(refreshed.json.refresh_token, res.json.refresh_token);
  });

  it('without a scope, the client\'s registered scope; the token endpoint as audience is accepted too', async () => {
    const res = await grant({ assertion: await assertion({ aud: h.tokenEndpoint }) });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.scope, 'openid offline_access api');
  });

  it('fetches the keys of an issuer registered with a JWK Set URL', async () => {
    const res = await grant({ assertion: await assertion({ iss: 'https://remote-idp.example' }, { key: remoteIdp, alg: 'EdDSA', kid: 'r1' }), scope: 'api' });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.id_token, undefined);
  });

  const refusals: Array<{ name: string; make: () => Promise<Record<string, string>>; error: string }> = [
    { name: 'no assertion', make: async () => ({}), error: 'invalid_request' },
    { name: 'not a JWT', make: async () => ({ assertion: 'not-a-jwt' }), error: 'invalid_grant' },
    { name: 'an issuer the client does not trust', make: async () => ({ assertion: await assertion({ iss: 'https://evil.example' }) }), error: 'invalid_grant' },
    { name: 'a signature by another key', make: async () => ({ assertion: await assertion({}, { key: (await generateKeyPair('ES256')).privateKey }) }), error: 'invalid_grant' },
    { name: "the other trusted issuer's key", make: async () => ({ assertion: await assertion({}, { key: remoteIdp, alg: 'EdDSA', kid: 'r1' }) }), error: 'invalid_grant' },
    { name: 'another audience', make: async () => ({ assertion: await assertion({ aud: 'https://other-as.example' }) }), error: 'invalid_grant' },
    { name: 'no exp', make: async () => ({ assertion: await assertion({ exp: undefined }) }), error: 'invalid_grant' },
    { name: 'an expired assertion', make: async () => ({ assertion: await assertion({ exp: now() - 120 }) }), error: 'invalid_grant' },
    { name: 'exp more than an hour away', make: async () => ({ assertion: await assertion({ exp: now() + 7200 }) }), error: 'invalid_grant' },
    { name: 'nbf in the future', make: async () => ({ assertion: await assertion({ nbf: now() + 600 }) }), error: 'invalid_grant' },
    { name: 'no sub', make: async () => ({ assertion: await assertion({ sub: undefined }) }), error: 'invalid_grant' },
    { name: 'an unsecured JWT (alg none)', make: async () => ({ assertion: `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ iss: 'https://idp.example', sub: 'x', aud: h.issuer, exp: now() + 60 })).toString('base64url')}.` }), error: 'invalid_grant' },
    { name: 'a scope beyond the client', make: async () => ({ assertion: await assertion(), scope: 'admin' }), error: 'invalid_scope' },
  ];
  for (const t of refusals) {
    it(`refuses ${t.name}: ${t.error}`, async () => {
      const res = await grant(await t.make());
      assert.equal(res.status, 400, res.text);
      assert.equal(res.json.error, t.error);
    });
  }

  it('refuses a replayed assertion (same jti)', async () => {
    const a = await assertion();
    assert.equal((await grant({ assertion: a })).status, 200);
    assert.equal((await grant({ assertion: a })).json.error, 'invalid_grant');
  });

  it('is off for a client that does not list it: unauthorized_client', async () => {
    const plain = await h.client({ clientId: 'plain2' });
    const res = await grant({ assertion: await assertion() }, h.basic(plain.clientId, plain.clientSecret));
    assert.equal(res.json.error, 'unauthorized_client');
  });

  it('registration refuses the grant type without a trusted issuer', async () => {
    await assert.rejects(h.server.registerClient({ authMethod: 'none', grantTypes: [jwtBearer] }), TypeError);
    await assert.rejects(h.server.registerClient({ authMethod: 'none', jwtBearerIssuers: [{ issuer: 'x' }] }), TypeError);
  });
});
