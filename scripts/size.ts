/**
 * `npm run size`: bundles entry points of @refresh-grant/client with esbuild (minified, ESM,
 * browser-neutral, lazy chunks split out) and prints min+gzip bytes. Exits 1 when the bare refresh
 * path (a hand-built Configuration, ClientSecretBasic, refreshTokenGrant) exceeds its 4 KB budget.
 */
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const client = fileURLToPath(new URL('../packages/client/src/index.ts', import.meta.url));

/** Budget of the bare refresh path, min+gzip bytes. */
export const BARE_BUDGET = 4096;

/** Scenarios measured: what an application imports and uses. */
export const scenarios: Record<string, string> = {
  'bare refresh path (Configuration + ClientSecretBasic + refreshTokenGrant)': `
    import { Configuration, ClientSecretBasic, refreshTokenGrant } from ${JSON.stringify(client)};
    export const refresh = (rt) => refreshTokenGrant(
      new Configuration({ issuer: 'https://as.example', token_endpoint: 'https://as.example/token' }, 'client', undefined, ClientSecretBasic('secret')),
      rt,
    );`,
  'token manager (the bare path + createTokenManager + createMemoryStore)': `
    import { Configuration, ClientSecretBasic, createTokenManager, createMemoryStore } from ${JSON.stringify(client)};
    export const manager = () => createTokenManager({
      config: new Configuration({ issuer: 'https://as.example', token_endpoint: 'https://as.example/token' }, 'client', undefined, ClientSecretBasic('secret')),
      store: createMemoryStore(),
    });`,
  'authorization code flow (the bare path + randomPKCECodeVerifier, calculatePKCECodeChallenge, randomState, randomNonce, buildAuthorizationUrl, buildAuthorizationUrlWithPAR, authorizationCodeGrant)': `
    import { Configuration, ClientSecretBasic, refreshTokenGrant, randomPKCECodeVerifier, calculatePKCECodeChallenge, randomState, randomNonce,
      buildAuthorizationUrl, buildAuthorizationUrlWithPAR, authorizationCodeGrant } from ${JSON.stringify(client)};
    const config = new Configuration({ issuer: 'https://as.example', token_endpoint: 'https://as.example/token' }, 'client', undefined, ClientSecretBasic('secret'));
    export const signIn = async (par) => {
      const verifier = randomPKCECodeVerifier();
      const parameters = { code_challenge: await calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state: randomState(), nonce: randomNonce() };
      return [verifier, par ? await buildAuthorizationUrlWithPAR(config, parameters) : buildAuthorizationUrl(config, parameters)];
    };
    export const callback = (url, checks) => authorizationCodeGrant(config, url, checks);
    export const refresh = (rt) => refreshTokenGrant(config, rt);`,
  'everything in the package index': `export * from ${JSON.stringify(client)};`,
  'reference: oauth4webapi refresh path (ClientSecretBasic + refreshTokenGrantRequest + processRefreshTokenResponse)': `
    import { ClientSecretBasic, refreshTokenGrantRequest, processRefreshTokenResponse } from 'oauth4webapi';
    const as = { issuer: 'https://as.example', token_endpoint: 'https://as.example/token' };
    const client = { client_id: 'client' };
    export const refresh = async (rt) => processRefreshTokenResponse(as, client, await refreshTokenGrantRequest(as, client, ClientSecretBasic('secret'), rt));`,
};

/** Sizes of one scenario: the entry chunk (loaded up front) and lazy chunks (loaded on use). */
export interface Measurement {
  initial: number;
  lazy: number;
  /** The minified code of the initial chunks. */
  code: string;
}

/** Bundles one scenario and measures min+gzip bytes of its chunks. */
export async function measure(source: string): Promise<Measurement> {
  const result = await build({
    stdin: { contents: source, resolveDir: fileURLToPath(new URL('..', import.meta.url)), loader: 'js', sourcefile: 'entry.js' },
    bundle: true,
    minify: true,
    format: 'esm',
    splitting: true,
    platform: 'neutral',
    target: 'es2022',
    outdir: 'out',
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const gzipped = new Map(result.outputFiles.map((file) => [file.path.slice(file.path.lastIndexOf('/out/') + 1), gzipSync(file.contents, { level: 9 }).length]));
  const outputs = result.metafile.outputs;
  // Initial: the entry chunk and every chunk it imports statically, transitively.
  const initial = new Set<string>();
  const visit = (name: string) => {
    if (initial.has(name)) return;
    initial.add(name);
    for (const entry of outputs[name].imports) if (entry.kind === 'import-statement') visit(entry.path);
  };
  visit(Object.keys(outputs).find((name) => outputs[name].entryPoint)!);
  const sizes = { initial: 0, lazy: 0, code: '' };
  for (const [name, bytes] of gzipped) sizes[initial.has(name) ? 'initial' : 'lazy'] += bytes;
  for (const file of result.outputFiles) if (initial.has(file.path.slice(file.path.lastIndexOf('/out/') + 1))) sizes.code += file.text;
  return sizes;
}

if (import.meta.main) {
  let bare = 0;
  for (const [name, source] of Object.entries(scenarios)) {
    const { initial, lazy } = await measure(source);
    bare ||= initial;
    const kb = (n: number) => `${(n / 1024).toFixed(2)} KB`;
    console.log(`${name}\n  ${initial} B (${kb(initial)}) min+gzip${lazy ? `, plus ${lazy} B (${kb(lazy)}) loaded only when an id_token arrives` : ''}`);
  }
  if (bare > BARE_BUDGET) {
    console.error(`bare refresh path is ${bare} B, over its ${BARE_BUDGET} B budget`);
    process.exitCode = 1;
  }
}
