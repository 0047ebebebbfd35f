/**
 * The seed requests replayed with real values against our server:
 * seed 003 (an identity domain's token endpoint: Basic header, JWT client assertion, public
 * client) and seed 004 (WorkOS Connect: body credentials, narrowed scope, id_token).
 * Bodies are written out as the seeds write them.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { randomUUID } from 'node:crypto';
import { startHarness, type Harness } from './support/harness.ts';

describe('seed requests', () => {
  let h: Harness;
  const seedContentType = 'application/x-www-form-urlencoded;charset=UTF-8';
  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());

  const raw = (body: string, headers: Record<string, string> = {}) =>
    fetch(h.tokenEndpoint, { method: 'POST', headers: { 'Content-Type': seedContentType, ...headers }, body }).then(async (r) => ({ status: r.status, json: await r.json(), headers: r.headers }));

  it("seed 003, first form: Authorization: Basic <base64Encoded clientid:secret> with an optional scope", async () => {
    const { clientId, clientSecret } = await h.client({ clientId: 'idcs-app', authMethod: 'client_secret_basic' });
    const rt = (await h.server.issueGrant({ clientId, subject: 'user1', scope: 'urn:opc:idm:__myscopes__ read' })).tokens.refresh_token!;
    const basic = Buffer.from(`${clientId}:${clientSecret}`).toString('base64');
    const res = await raw(`grant_type=refresh_token&refresh_token=${rt}&scope=read`, { Authorization: `Basic ${basic}` });
    assert.equal(res.status, 200, JSON.stringify(res.json));
    assert.equal(res.json.scope, 'read');
    assert.match(res.json.refresh_token, /^rg_rt_/);
  });

  it('seed 003, second form: client_id + client_assertion_type + client_assertion', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'idcs', use: 'sig' };
    await h.server.registerClient({ clientId: 'idcs-jwt', authMethod: 'private_key_jwt', jwks: { keys: [jwk as never] } });
    const rt = (await h.server.issueGrant({ clientId: 'idcs-jwt', subject: 'user2', scope: 'read write' })).tokens.refresh_token!;
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: 'RS256', kid: 'idcs' })
      .setIssuer('idcs-jwt')
      .setSubject('idcs-jwt')
      .setAudience(h.tokenEndpoint)
      .setIssuedAt()
      .setExpirationTime('2m')
      .setJti(randomUUID())
      .sign(privateKey);
    const body =
      `grant_type=refresh_token&refresh_token=${rt}&client_id=idcs-jwt` +
      `&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=${assertion}&scope=read`;
    const res = await raw(body);
    assert.equal(res.status, 200, JSON.stringify(res.json));
    assert.equal(res.json.scope, 'read');
    // The same assertion again is a replay: invalid_client, even with a valid token.
    const replay = await raw(body.replace(rt, res.json.refresh_token));
    assert.equal(replay.status, 401);
    assert.equal(replay.json.error, 'invalid_client');
  });

  it('seed 003, third form: a public client sending only client_id', async () => {
    await h.client({ clientId: 'idcs-public', authMethod: 'none' });
    const rt = (await h.server.issueGrant({ clientId: 'idcs-public', subject: 'user3', scope: 'read' })).tokens.refresh_token!;
    const res = await raw(`grant_type=refresh_token&refresh_token=${rt}&client_id=idcs-public`);
    assert.equal(res.status, 200, JSON.stringify(res.json));
    assert.notEqual(res.json.refresh_token, rt, 'public clients are always rotated');
  });

  it('seed 004 (WorkOS Connect): client_id and client_secret in the body, a narrowed scope, id_token in the response', async () => {
    const { clientId, clientSecret } = await h.client({ clientId: 'client_01WORKOS', authMethod: 'client_secret_post' });
    const first = await h.server.issueGrant({ clientId, subject: 'user_01', scope: 'openid profile email offline_access' });
    assert.ok(first.tokens.refresh_token, 'offline_access was granted, so a refresh token exists');
    const body = new URLSearchParams({ client_id: clientId, client_secret: clientSecret, grant_type: 'refresh_token', refresh_token: first.tokens.refresh_token!, scope: 'openid profile' });
    const res = await fetch(h.tokenEndpoint, { method: 'POST', body });
    const json = await res.json();
    assert.equal(res.status, 200, JSON.stringify(json));
    for (const field of ['access_token', 'expires_in', 'id_token', 'refresh_token', 'token_type']) assert.ok(json[field] !== undefined, field);
    assert.equal(typeof json.expires_in, 'number');
    assert.equal(json.token_type.toLowerCase(), 'bearer');
    assert.equal(json.scope, 'openid profile');
    // Must be a subset of what was first granted.
    const wider = new URLSearchParams({ client_id: clientId, client_secret: clientSecret, grant_type: 'refresh_token', refresh_token: json.refresh_token, scope: 'openid admin' });
    const bad = await (await fetch(h.tokenEndpoint, { method: 'POST', body: wider })).json();
    assert.equal(bad.error, 'invalid_scope');
    // Without offline_access there is no refresh token at all.
    const noOffline = await h.server.issueGrant({ clientId, subject: 'user_02', scope: 'openid profile' });
    assert.equal(noOffline.tokens.refresh_token, undefined);
  });
});
