/**
 * DPoP (RFC 9449) at the token endpoint, over real HTTP on a real SQLite file: bound access
 * tokens, public families bound to their key, confidential families not bound, every malformed
 * proof refused with its error, single-use `jti` across two instances sharing one store, server
 * nonces (and that a client told to use one can retry with the same client assertion).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calculateJwkThumbprint, decodeJwt, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import type { AuthorizationServer } from '../../../src/core/authorization-server.ts';
import type { Store } from '../../../src/core/store.ts';
import { createNodeHandler } from '../../../src/http/node-handler.ts';
import { createAuthorizationServer, type AuthorizationServerOptions } from '../../../src/server.ts';
import { openSqliteStore } from '../../../src/stores/sqlite-store.ts';

/** A DPoP key: the private key signs, the public JWK goes in the header. */
interface ProofKey {
  privateKey: CryptoKey;
  jwk: JWK;
  jkt: string;
  alg: string;
}

async function proofKey(alg = 'ES256'): Promise<ProofKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(publicKey);
  return { privateKey, jwk, jkt: await calculateJwkThumbprint(jwk), alg };
}

interface ProofClaims {
  htm?: string;
  htu?: string;
  iat?: number;
  jti?: string;
  nonce?: string;
  ath?: string;
}

/** Signs a proof; `header` overrides the protected header, `signWith` signs with another key. */
async function proof(key: ProofKey, claims: ProofClaims, options: { header?: Record<string, unknown>; signWith?: CryptoKey } = {}): Promise<string> {
  const payload: Record<string, unknown> = { htm: 'POST', jti: randomUUID(), ...claims };
  return new SignJWT(payload)
    .setProtectedHeader({ alg: key.alg, typ: 'dpop+jwt', jwk: key.jwk, ...options.header } as never)
    .setIssuedAt(claims.iat ?? Math.floor(Date.now() / 1000))
    .sign(options.signWith ?? key.privateKey);
}

interface Instance {
  issuer: string;
  url: string;
  server: AuthorizationServer;
  http: Server;
}

interface Post {
  status: number;
  headers: Headers;
  json: any;
}

describe('DPoP at the token endpoint', () => {
  let dir: string;
  let store: Store;
  const kek = new Uint8Array(randomBytes(32));
  const instances: Instance[] = [];
  /** Private details of refused requests (the event stream), to tell which check refused. */
  const details: string[] = [];
  let offset = 0;

  /** Starts an instance on the shared store; `issuer` makes it a second instance of the same server. */
  async function start(options: Partial<AuthorizationServerOptions> = {}, issuer?: string): Promise<Instance> {
    const http = createServer();
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(http.address() as { port: number }).port}`;
    const server = await createAuthorizationServer({
      issuer: issuer ?? url,
      store,
      kek,
      log: false,
      onEvent: (e) => e.type === 'request.failed' && details.push(e.detail ?? ''),
      clock: () => Math.floor(Date.now() / 1000) + offset,
      ...options,
    });
    http.on('request', createNodeHandler(server));
    const instance = { issuer: issuer ?? url, url, server, http };
    instances.push(instance);
    return instance;
  }

  async function post(instance: Instance, form: Record<string, string>, headers: Record<string, string | string[]> = {}): Promise<Post> {
    const body = new URLSearchParams(form).toString();
    // node:http so that a header can be sent twice (fetch would join the values).
    return new Promise((resolve, reject) => {
      const req = httpRequest(`${instance.url}/token`, { method: 'POST' }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk) => (text += chunk));
        res.on('end', () => {
          const h = new Headers();
          for (const [name, value] of Object.entries(res.headers)) if (typeof value === 'string') h.set(name, value);
          resolve({ status: res.statusCode!, headers: h, json: text ? JSON.parse(text) : undefined });
        });
      });
      req.on('error', reject);
      req.setHeader('content-type', 'application/x-www-form-urlencoded');
      for (const [name, value] of Object.entries(headers)) req.setHeader(name, value);
      req.end(body);
    });
  }

  let main: Instance;
  let noncy: Instance;
  const refresh = (rt: string, clientId = 'spa') => ({ grant_type: 'refresh_token', refresh_token: rt, client_id: clientId });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rg-dpop-'));
    store = await openSqliteStore(join(dir, 'dpop.db'));
    main = await start();
    noncy = await start({ dpop: { requireNonce: true } });
    await main.server.registerClient({ clientId: 'spa', authMethod: 'none', scope: 'openid offline_access read' });
    await main.server.registerClient({ clientId: 'unrotated-spa', authMethod: 'none', rotation: false });
  });

  after(async () => {
    for (const { http } of instances) {
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    }
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('advertises dpop_signing_alg_values_supported', async () => {
    const metadata = await (await fetch(`${main.url}/.well-known/oauth-authorization-server`)).json();
    assert.deepEqual(metadata.dpop_signing_alg_values_supported, ['ES256', 'ES384', 'EdDSA', 'Ed25519', 'RS256', 'PS256']);
  });

  it('a public family bound at issue refreshes with proofs by its key, gets DPoP-bound access tokens', async () => {
    const key = await proofKey();
    const issued = await main.server.issueGrant({ clientId: 'spa', subject: 'alice', scope: 'read', dpopJkt: key.jkt });
    assert.equal(issued.tokens.token_type, 'DPoP');
    assert.deepEqual(decodeJwt(issued.tokens.access_token).cnf, { jkt: key.jkt });
    let rt = issued.tokens.refresh_token!;
    for (let i = 0; i < 2; i++) {
      const res = await post(main, refresh(rt), { dpop: await proof(key, { htu: `${main.issuer}/token` }) });
      assert.equal(res.status, 200, JSON.stringify(res.json));
      assert.equal(res.json.token_type, 'DPoP');
      assert.deepEqual(decodeJwt(res.json.access_token).cnf, { jkt: key.jkt });
      assert.notEqual(res.json.refresh_token, rt, 'a public client is rotated');
      assert.equal(res.headers.get('dpop-nonce'), null, 'no nonces unless required');
      rt = res.json.refresh_token;
    }
  });

  it('a bound family refuses a refresh without a proof or with another key (invalid_grant), and is not revoked by it', async () => {
    const key = await proofKey();
    const other = await proofKey('EdDSA');
    const first = (await main.server.issueGrant({ clientId: 'spa', subject: 'bob', scope: 'read', dpopJkt: key.jkt })).tokens.refresh_token!;
    const htu = `${main.issuer}/token`;
    const rotated = await post(main, refresh(first), { dpop: await proof(key, { htu }) });
    assert.equal(rotated.status, 200);
    const current = rotated.json.refresh_token;

    const bare = await post(main, refresh(current));
    assert.equal(bare.status, 400);
    assert.equal(bare.json.error, 'invalid_grant');
    const wrongKey = await post(main, refresh(current), { dpop: await proof(other, { htu }) });
    assert.equal(wrongKey.status, 400);
    assert.equal(wrongKey.json.error, 'invalid_grant');
    // The old (rotated) token presented without the key: refused, but the family lives on.
    const stale = await post(main, refresh(first), { dpop: await proof(other, { htu }) });
    assert.equal(stale.json.error, 'invalid_grant');

    const ok = await post(main, refresh(current), { dpop: await proof(key, { htu }) });
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    assert.equal(ok.json.token_type, 'DPoP');
  });

  it('a bound public family is sender-constrained, so a public client with rotation off keeps its token', async () => {
    const key = await proofKey();
    const rt = (await main.server.issueGrant({ clientId: 'unrotated-spa', subject: 'carol', scope: '', dpopJkt: key.jkt })).tokens.refresh_token!;
    const res = await post(main, refresh(rt, 'unrotated-spa'), { dpop: await proof(key, { htu: `${main.issuer}/token` }) });
    assert.equal(res.status, 200, JSON.stringify(res.json));
    assert.equal(res.json.refresh_token, rt);
    // Without the key the same client is still refused.
    assert.equal((await post(main, refresh(rt, 'unrotated-spa'))).json.error, 'invalid_grant');
    // An unbound public family with rotation off is rotated anyway (RFC 9700 section 4.14.2).
    const unbound = (await main.server.issueGrant({ clientId: 'unrotated-spa', subject: 'carol', scope: '' })).tokens.refresh_token!;
    const rotated = await post(main, refresh(unbound, 'unrotated-spa'));
    assert.notEqual(rotated.json.refresh_token, unbound);
  });

  it('RFC 9449 section 5: an unbound public family is bound at the first refresh with a valid proof; from then on every refresh needs that key', async () => {
    const key = await proofKey();
    const other = await proofKey('EdDSA');
    const htu = `${main.issuer}/token`;
    const issued = await main.server.issueGrant({ clientId: 'spa', subject: 'dave', scope: 'read' });
    const rt = issued.tokens.refresh_token!;
    // Unbound so far: a refresh without a proof works and binds nothing.
    const bearer = await post(main, refresh(rt));
    assert.equal(bearer.status, 200, JSON.stringify(bearer.json));
    assert.equal(bearer.json.token_type, 'Bearer');
    assert.equal((await store.getGrant(issued.familyId))?.dpopJkt, undefined);

    const withProof = await post(main, refresh(bearer.json.refresh_token), { dpop: await proof(key, { htu }) });
    assert.equal(withProof.status, 200, JSON.stringify(withProof.json));
    assert.equal(withProof.json.token_type, 'DPoP');
    const grant = await store.getGrant(issued.familyId);
    assert.equal(grant?.dpopJkt, key.jkt);
    assert.equal(grant?.dpopBoundFrom, 3, 'bound from the successor issued with the proof');
    const bound = withProof.json.refresh_token;
    // A public client may not introspect (RFC 7662 section 2.1), not even its own refresh token: the binding shows in the grant above.
    const intro = await fetch(`${main.url}/introspect`, { method: 'POST', body: new URLSearchParams({ token: bound, client_id: 'spa' }) });
    assert.equal(intro.status, 401);

    // From then on: no proof, or another key, is invalid_grant (and revokes nothing) ...
    assert.equal((await post(main, refresh(bound))).json.error, 'invalid_grant');
    assert.equal((await post(main, refresh(bound), { dpop: await proof(other, { htu }) })).json.error, 'invalid_grant');
    // ... a proof by the key refreshes, and the binding never moves to another key.
    const next = await post(main, refresh(bound), { dpop: await proof(key, { htu }) });
    assert.equal(next.status, 200, JSON.stringify(next.json));
    assert.equal(next.json.token_type, 'DPoP');
    assert.equal((await store.getGrant(issued.familyId))?.dpopJkt, key.jkt);
  });

  it('a lost response at the binding refresh: the retry with the key gets the same successor; the unbound parent without the key is reuse', async () => {
    const key = await proofKey();
    const htu = `${main.issuer}/token`;
    const issued = await main.server.issueGrant({ clientId: 'spa', subject: 'dora', scope: 'read' });
    const rt = issued.tokens.refresh_token!;
    const first = await post(main, refresh(rt), { dpop: await proof(key, { htu }) });
    assert.equal(first.status, 200);
    const retry = await post(main, refresh(rt), { dpop: await proof(key, { htu }) });
    assert.equal(retry.status, 200, JSON.stringify(retry.json));
    assert.equal(retry.json.refresh_token, first.json.refresh_token);
    // The parent was issued unbound, but its family is bound now: without the key it is reuse.
    const thief = await post(main, refresh(rt));
    assert.equal(thief.json.error, 'invalid_grant');
    assert.equal((await store.getGrant(issued.familyId))?.revokedReason, 'reuse');
  });

  it('a thief who binds a stolen unbound token to its own key first does not keep the session: the owner\'s retry revokes it', async () => {
    const thiefKey = await proofKey();
    const htu = `${main.issuer}/token`;
    const issued = await main.server.issueGrant({ clientId: 'spa', subject: 'dina', scope: 'read' });
    const stolen = issued.tokens.refresh_token!;
    const thief = await post(main, refresh(stolen), { dpop: await proof(thiefKey, { htu }) });
    assert.equal(thief.status, 200);
    // The owner (no DPoP, or another key) presents its token within the window: reuse, not a silent lock-out.
    const owner = await post(main, refresh(stolen));
    assert.equal(owner.json.error, 'invalid_grant');
    assert.equal((await store.getGrant(issued.familyId))?.revokedReason, 'reuse');
    assert.equal((await post(main, refresh(thief.json.refresh_token), { dpop: await proof(thiefKey, { htu }) })).json.error, 'invalid_grant');
  });

  it('a replay never binds: a thief replaying with its own key gets the unbound successor, and the owner keeps using it', async () => {
    const thiefKey = await proofKey();
    const htu = `${main.issuer}/token`;
    const issued = await main.server.issueGrant({ clientId: 'spa', subject: 'dana', scope: 'read' });
    const rt = issued.tokens.refresh_token!;
    const owner = await post(main, refresh(rt));
    const thief = await post(main, refresh(rt), { dpop: await proof(thiefKey, { htu }) });
    assert.equal(thief.json.refresh_token, owner.json.refresh_token);
    assert.equal((await store.getGrant(issued.familyId))?.dpopJkt, undefined);
    assert.equal((await post(main, refresh(owner.json.refresh_token))).status, 200);
  });

  it("a confidential client's family is never bound, its access tokens are", async () => {
    const { clientSecret } = await main.server.registerClient({ clientId: 'web', authMethod: 'client_secret_post' });
    const key = await proofKey();
    const issued = await main.server.issueGrant({ clientId: 'web', subject: 'erin', scope: 'read', dpopJkt: key.jkt });
    assert.equal(issued.tokens.token_type, 'DPoP');
    const form = { grant_type: 'refresh_token', refresh_token: issued.tokens.refresh_token!, client_id: 'web', client_secret: clientSecret! };
    const bearer = await post(main, form);
    assert.equal(bearer.status, 200, JSON.stringify(bearer.json));
    assert.equal(bearer.json.token_type, 'Bearer');
    const bound = await post(main, { ...form, refresh_token: bearer.json.refresh_token }, { dpop: await proof(key, { htu: `${main.issuer}/token` }) });
    assert.equal(bound.json.token_type, 'DPoP');
    assert.deepEqual(decodeJwt(bound.json.access_token).cnf, { jkt: key.jkt });
  });

  it('issueGrant refuses a dpopJkt that is not a SHA-256 thumbprint', async () => {
    await assert.rejects(main.server.issueGrant({ clientId: 'spa', subject: 'x', scope: 'read', dpopJkt: 'not-a-thumbprint' }), TypeError);
  });

  describe('refused proofs (the refresh token stays usable)', () => {
    let key: ProofKey;
    let rt: string;
    let htu: string;
    before(async () => {
      key = await proofKey();
      rt = (await main.server.issueGrant({ clientId: 'spa', subject: 'frank', scope: 'read', dpopJkt: key.jkt })).tokens.refresh_token!;
      htu = `${main.issuer}/token`;
    });

    const now = () => Math.floor(Date.now() / 1000);
    const cases: Array<{ name: string; error: string; detail: RegExp; make: () => Promise<string | string[]> }> = [
      { name: 'wrong htu', error: 'invalid_dpop_proof', detail: /^htu/, make: () => proof(key, { htu: `${main.issuer}/revoke` }) },
      { name: 'htu of another origin', error: 'invalid_dpop_proof', detail: /^htu/, make: () => proof(key, { htu: 'https://as.example/token' }) },
      { name: 'wrong htm', error: 'invalid_dpop_proof', detail: /^htm/, make: () => proof(key, { htu, htm: 'GET' }) },
      { name: 'stale iat (61 s old)', error: 'invalid_dpop_proof', detail: /^iat is 61s old/, make: () => proof(key, { htu, iat: now() - 61 }) },
      { name: 'iat in the future', error: 'invalid_dpop_proof', detail: /^iat is \d+s in the future/, make: () => proof(key, { htu, iat: now() + 30 }) },
      {
        name: 'signed by another key than the jwk',
        error: 'invalid_dpop_proof',
        detail: /signature verification failed/,
        make: async () => proof(key, { htu }, { signWith: (await proofKey()).privateKey }),
      },
      {
        name: 'a private key in the jwk header',
        error: 'invalid_dpop_proof',
        detail: /private or symmetric key/,
        make: async () => {
          const { privateKey } = await generateKeyPair('ES256', { extractable: true });
          const privateJwk = await exportJWK(privateKey);
          return proof(key, { htu }, { header: { jwk: privateJwk }, signWith: privateKey });
        },
      },
      { name: 'typ not dpop+jwt', error: 'invalid_dpop_proof', detail: /typ/, make: () => proof(key, { htu }, { header: { typ: 'JWT' } }) },
      { name: 'no jwk', error: 'invalid_dpop_proof', detail: /jwk/, make: () => proof(key, { htu }, { header: { jwk: undefined } }) },
      {
        name: 'an algorithm outside the allow-list (HS256)',
        error: 'invalid_dpop_proof',
        detail: /alg/,
        make: () =>
          new SignJWT({ htm: 'POST', htu, jti: randomUUID() })
            .setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk: { kty: 'oct', k: 'c2VjcmV0' } } as never)
            .setIssuedAt()
            .sign(new TextEncoder().encode('0123456789abcdef0123456789abcdef')),
      },
      { name: 'not a JWT', error: 'invalid_dpop_proof', detail: /ERR_JWS_INVALID/, make: async () => 'not-a-jwt' },
      { name: 'two DPoP headers', error: 'invalid_request', detail: /More than one DPoP header/, make: async () => [await proof(key, { htu }), await proof(key, { htu })] },
    ];
    for (const t of cases) {
      it(`${t.name}: 400 ${t.error}`, async () => {
        const res = await post(main, refresh(rt), { dpop: await t.make() });
        assert.equal(res.status, 400, JSON.stringify(res.json));
        assert.equal(res.json.error, t.error);
        assert.equal(res.headers.get('cache-control'), 'no-store');
        assert.match(details.at(-1)!, t.detail);
      });
    }

    it('a replayed jti: invalid_dpop_proof, even at another instance sharing the store', async () => {
      const second = await start({}, main.issuer);
      const once = await proof(key, { htu });
      const first = await post(main, refresh(rt), { dpop: once });
      assert.equal(first.status, 200, JSON.stringify(first.json));
      rt = first.json.refresh_token;
      const replayed = await post(second, refresh(rt), { dpop: once });
      assert.equal(replayed.status, 400);
      assert.equal(replayed.json.error, 'invalid_dpop_proof');
      assert.equal(details.at(-1), 'jti replayed');
      const again = await post(main, refresh(rt), { dpop: once });
      assert.equal(again.json.error, 'invalid_dpop_proof');
      // A fresh proof by the same key at the second instance works.
      const fresh = await post(second, refresh(rt), { dpop: await proof(key, { htu }) });
      assert.equal(fresh.status, 200, JSON.stringify(fresh.json));
    });
  });

  describe('server nonces', () => {
    it('a proof without a nonce: 400 use_dpop_nonce with DPoP-Nonce; with it: 200 and a nonce for next time', async () => {
      const key = await proofKey();
      const rt = (await noncy.server.issueGrant({ clientId: 'spa', subject: 'gina', scope: 'read', dpopJkt: key.jkt })).tokens.refresh_token!;
      const htu = `${noncy.issuer}/token`;
      const missing = await post(noncy, refresh(rt), { dpop: await proof(key, { htu }) });
      assert.equal(missing.status, 400);
      assert.equal(missing.json.error, 'use_dpop_nonce');
      const nonce = missing.headers.get('dpop-nonce')!;
      assert.match(nonce, /^[A-Za-z0-9_-]{43}$/);
      const wrong = await post(noncy, refresh(rt), { dpop: await proof(key, { htu, nonce: 'made-up' }) });
      assert.equal(wrong.json.error, 'use_dpop_nonce');
      assert.equal(wrong.headers.get('dpop-nonce'), nonce);
      const ok = await post(noncy, refresh(rt), { dpop: await proof(key, { htu, nonce }) });
      assert.equal(ok.status, 200, JSON.stringify(ok.json));
      assert.equal(ok.headers.get('dpop-nonce'), nonce);
    });

    it('another instance sharing the KEK accepts the nonce; it goes stale after two slots', async () => {
      const other = await start({ dpop: { requireNonce: true } }, noncy.issuer);
      const key = await proofKey();
      const htu = `${noncy.issuer}/token`;
      const rt = (await noncy.server.issueGrant({ clientId: 'spa', subject: 'hank', scope: 'read', dpopJkt: key.jkt })).tokens.refresh_token!;
      const nonce = (await post(noncy, refresh(rt), { dpop: await proof(key, { htu }) })).headers.get('dpop-nonce')!;
      const ok = await post(other, refresh(rt), { dpop: await proof(key, { htu, nonce }) });
      assert.equal(ok.status, 200, JSON.stringify(ok.json));
      offset += 120; // two 60 s slots later (and the proofs' iat moves along)
      try {
        const res = await post(other, refresh(ok.json.refresh_token), { dpop: await proof(key, { htu, nonce, iat: Math.floor(Date.now() / 1000) + offset }) });
        assert.equal(res.json.error, 'use_dpop_nonce');
        assert.notEqual(res.headers.get('dpop-nonce'), nonce);
      } finally {
        offset -= 120;
      }
    });

    it('the proof is checked before client authentication: a retry after use_dpop_nonce reuses the client assertion', async () => {
      const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
      const clientJwk = { ...(await exportJWK(publicKey)), kid: 'c1', alg: 'ES256' };
      await noncy.server.registerClient({ clientId: 'backend', authMethod: 'private_key_jwt', jwks: { keys: [clientJwk as never] } });
      const rt = (await noncy.server.issueGrant({ clientId: 'backend', subject: 'ivy', scope: 'read' })).tokens.refresh_token!;
      const assertion = await new SignJWT({ jti: randomUUID() })
        .setProtectedHeader({ alg: 'ES256', kid: 'c1' })
        .setIssuer('backend')
        .setSubject('backend')
        .setAudience(noncy.issuer)
        .setIssuedAt()
        .setExpirationTime('60s')
        .sign(privateKey);
      const form = {
        grant_type: 'refresh_token',
        refresh_token: rt,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: assertion,
      };
      const key = await proofKey('RS256');
      const htu = `${noncy.issuer}/token`;
      const first = await post(noncy, form, { dpop: await proof(key, { htu }) });
      assert.equal(first.json.error, 'use_dpop_nonce');
      const retry = await post(noncy, form, { dpop: await proof(key, { htu, nonce: first.headers.get('dpop-nonce')! }) });
      assert.equal(retry.status, 200, JSON.stringify(retry.json));
      assert.equal(retry.json.token_type, 'DPoP');
      // The assertion is single use all the same.
      const third = await post(noncy, { ...form, refresh_token: retry.json.refresh_token }, { dpop: await proof(key, { htu, nonce: retry.headers.get('dpop-nonce')! }) });
      assert.equal(third.json.error, 'invalid_client');
    });
  });
});
