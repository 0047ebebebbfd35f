import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createLocalJWKSet, jwtVerify } from 'jose';
import * as oauth from 'oauth4webapi';
import { clientDefaults } from '../../../src/core/types.ts';
import type { ClientRecord, GrantRecord, SigningAlg } from '../../../src/core/types.ts';
import { openSqliteStore } from '../../../src/stores/sqlite-store.ts';
import type { SqliteStore } from '../../../src/stores/sqlite-store.ts';
import { KeyRing } from '../../../src/core/tokens/keyring.ts';
import { issueAccessToken } from '../../../src/core/tokens/access-token.ts';
import { issueIdToken } from '../../../src/core/tokens/id-token.ts';

const issuer = 'https://as.example.com';
const now = Math.floor(Date.now() / 1000);
const client: ClientRecord = { clientId: 'app', authMethod: 'none', scope: '', resources: [], ...clientDefaults, idTokenTtl: 600, createdAt: now - 1000 };
const grant: GrantRecord = {
  familyId: 'fam-1',
  clientId: 'app',
  subject: 'alice',
  scope: 'openid offline_access',
  resources: ['https://api.example.com'],
  authTime: now - 3000,
  // What the original id_token carried; nonce and the required claims must not leak through.
  idTokenClaims: { acr: 'urn:mace:incommon:iap:silver', amr: ['pwd', 'otp'], nonce: 'n-0S6_WzA2Mj', iss: 'https://evil.example', sub: 'mallory', aud: 'other', auth_time: 1, azp: 'other', at_hash: 'stale' },
  createdAt: now - 3000,
  expiresAt: now + 86400,
};

/** OIDC Core section 3.1.3.6, computed independently with WebCrypto. */
async function expectedAtHash(accessToken: string, hash: 'SHA-256' | 'SHA-512'): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest(hash, new TextEncoder().encode(accessToken)));
  return Buffer.from(digest.subarray(0, digest.length / 2)).toString('base64url');
}

let dir: string;
const stores: SqliteStore[] = [];
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rg-idt-'));
});
after(async () => {
  for (const store of stores) await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

for (const [alg, hash] of [['ES256', 'SHA-256'], ['EdDSA', 'SHA-512']] as [SigningAlg, 'SHA-256' | 'SHA-512'][]) {
  describe(`id_token on refresh (OIDC Core 12.2), ${alg}`, () => {
    let keys: KeyRing;
    let store: SqliteStore;
    before(async () => {
      store = await openSqliteStore(path.join(dir, `${alg}.db`));
      stores.push(store);
      keys = await KeyRing.load(store, randomBytes(32), { alg, now });
    });

    test('claims per 12.2, no nonce, azp, original auth_time, at_hash; verifies with jose', async () => {
      const at = await issueAccessToken({ issuer, client, grant, scope: grant.scope, audience: grant.resources, now }, { keys, store });
      const idToken = await issueIdToken({ issuer, client, grant, now, accessToken: at.accessToken }, keys);
      const { payload, protectedHeader } = await jwtVerify(idToken, createLocalJWKSet(keys.jwks()), {
        typ: 'JWT',
        issuer,
        audience: 'app',
        requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'auth_time', 'azp', 'at_hash'],
      });
      assert.deepEqual(protectedHeader, { alg, kid: keys.current.kid, typ: 'JWT' });
      assert.deepEqual(payload, {
        acr: 'urn:mace:incommon:iap:silver',
        amr: ['pwd', 'otp'],
        iss: issuer,
        sub: 'alice',
        aud: 'app',
        azp: 'app',
        auth_time: now - 3000,
        iat: now,
        exp: now + 600,
        at_hash: await expectedAtHash(at.accessToken, hash),
      });
      assert.equal('nonce' in payload, false);
      assert.deepEqual(await keys.verify(idToken, 'JWT'), payload);
      assert.equal(await keys.verify(idToken, 'at+jwt'), undefined);
    });

    test('no at_hash without an access token', async () => {
      const idToken = await issueIdToken({ issuer, client, grant: { ...grant, idTokenClaims: undefined }, now }, keys);
      const { payload } = await jwtVerify(idToken, createLocalJWKSet(keys.jwks()), { typ: 'JWT', issuer, audience: 'app' });
      assert.deepEqual(Object.keys(payload).sort(), ['aud', 'auth_time', 'azp', 'exp', 'iat', 'iss', 'sub']);
    });

    test('oauth4webapi accepts it in a refresh token response', async () => {
      const at = await issueAccessToken({ issuer, client, grant, scope: grant.scope, audience: grant.resources, now }, { keys, store });
      const idToken = await issueIdToken({ issuer, client, grant, now, accessToken: at.accessToken }, keys);
      const response = new Response(
        JSON.stringify({ access_token: at.accessToken, token_type: at.tokenType, expires_in: at.expiresIn, id_token: idToken }),
        { headers: { 'content-type': 'application/json' } },
      );
      const result = await oauth.processRefreshTokenResponse(
        { issuer },
        { client_id: 'app', id_token_signed_response_alg: alg, require_auth_time: true },
        response,
      );
      const claims = oauth.getValidatedIdTokenClaims(result);
      assert.equal(claims?.sub, 'alice');
      assert.equal(claims?.auth_time, now - 3000);
    });
  });
}
