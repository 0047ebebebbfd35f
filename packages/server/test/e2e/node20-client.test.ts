/**
 * The client runs on Node 20 (the brief's floor), not only on the pinned Node 24: the client
 * package is bundled with esbuild for Node 20 and a Node 20 process uses it against our real
 * server: discovery, refresh with an id_token validated against the original (jose loaded on
 * demand), and the token manager.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { startHarness, type Harness } from '../support/harness.ts';

/** The machine's own Node 20 (this machine kind ships it at /usr/bin/node). */
function findNode20(): string | undefined {
  for (const candidate of [process.env.NODE20_BIN, '/usr/bin/node', '/usr/local/bin/node'].filter(Boolean) as string[]) {
    const result = spawnSync(candidate, ['--version'], { encoding: 'utf8' });
    if (result.status === 0 && result.stdout.startsWith('v20.')) return candidate;
  }
  return undefined;
}

const node20 = findNode20();
const required = process.env.CI === 'true' || process.env.REQUIRE_NODE20 === '1';
if (!node20 && required) throw new Error('No Node 20 binary found (/usr/bin/node or NODE20_BIN): the Node 20 client test cannot run');

describe('client on Node 20 against our server', { skip: node20 ? false : 'no Node 20 binary (set NODE20_BIN, or REQUIRE_NODE20=1 to fail)' }, () => {
  let h: Harness;
  let bundle: string;

  before(async () => {
    h = await startHarness();
    bundle = join(h.dir, 'client.mjs');
    await build({
      entryPoints: [new URL('../../../client/src/index.ts', import.meta.url).pathname],
      bundle: true,
      format: 'esm',
      platform: 'neutral',
      target: 'node20',
      mainFields: ['module', 'main'],
      conditions: ['import', 'default'],
      outfile: bundle,
      logLevel: 'silent',
    });
  });
  after(() => h.close());

  it('discovers, refreshes with id_token validation, and runs the token manager', async () => {
    const { clientId, clientSecret } = await h.client({ clientId: 'node20', authMethod: 'client_secret_basic' });
    const first = await h.server.issueGrant({ clientId, subject: 'old-node', scope: 'openid offline_access read' });
    const script = join(h.dir, 'run.mjs');
    writeFileSync(
      script,
      `import * as rg from ${JSON.stringify(bundle)};
const [issuer, clientId, secret, rt, idToken] = process.argv.slice(2);
const config = await rg.discovery(new URL(issuer), clientId, undefined, rg.ClientSecretBasic(secret));
const tokens = await rg.refreshTokenGrant(config, rt, { scope: 'openid read' }, { idToken });
const manager = rg.createTokenManager({ config, store: rg.createMemoryStore() });
await manager.setTokens({ refresh_token: tokens.refresh_token, access_token: 'stale', expires_in: 0 });
const at = await manager.getAccessToken();
let error;
try { await rg.refreshTokenGrant(config, rt); } catch (e) { error = { name: e.constructor.name, error: e.error, retryable: e.retryable }; }
console.log(JSON.stringify({ version: process.version, sub: tokens.claims().sub, scope: tokens.scope, rotated: tokens.refresh_token !== rt, managed: at !== 'stale', error }));
`,
    );
    // Asynchronously: the server answering the child runs in this very process.
    const { stdout: out } = await promisify(execFile)(node20!, [script, h.issuer, clientId, clientSecret, first.tokens.refresh_token!, first.tokens.id_token!], { encoding: 'utf8', timeout: 30_000 });
    const result = JSON.parse(out);
    assert.match(result.version, /^v20\./);
    assert.equal(result.sub, 'old-node');
    assert.equal(result.scope, 'openid read');
    assert.equal(result.rotated, true);
    assert.equal(result.managed, true);
    // The original token was rotated and its successor used by the manager: presenting it again is reuse.
    assert.deepEqual(result.error, { name: 'OAuthResponseError', error: 'invalid_grant', retryable: false });
  });
});
