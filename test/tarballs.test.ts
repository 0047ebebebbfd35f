/**
 * Proof from the tarballs: every package is packed (`prepack` builds it) and installed with
 * `npm install` into a fresh project under the system's temporary directory, outside this
 * repository, in an environment without the repository's settings. There, as a stranger would:
 *
 * - the installed `refresh-grant` bin: `--help` (and one line on a Node that is too old),
 *   `serve` on the oldest Node the server supports (22.13.0, installed from npm), `clients add`
 *   and `grants issue`;
 * - the client refreshing against that server on the machine's Node 20, on the pinned Node 24,
 *   on the oldest Node its `engines` names (20.0.0, installed from npm), and on workerd (the
 *   Cloudflare Workers runtime, installed from npm), each with an id_token checked and the
 *   token manager;
 * - the server embedded from the installed packages (SQLite store, node handler under a path
 *   prefix, signing thread, startMaintenance) on Node 24 and on Node 22.13.0;
 * - a strict TypeScript consumer under `moduleResolution` nodenext and bundler;
 * - a browser bundle (esbuild) of the client without any `node:` import;
 * - the Fetch handler and the client under Bun (PostgreSQL store) and under Deno (SQLite).
 *
 * One packed install serves every case. The Next.js example has its own test
 * (examples/next/next.test.ts) on a packed install of its own.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { freshSchema, pgTestOptions, pgUrl } from '../packages/server/test/support/postgres.ts';
import { cleanEnv, installConsumer, repoBin, repoRoot, type Consumer } from './support/packages.ts';
import { freePort } from '../packages/server/test/support/free-port.ts';

const exec = promisify(execFile);
const fixtures = new URL('./fixtures/consumer/', import.meta.url).pathname;
/** The pinned Node 24 that runs this test (`npm test`). */
const node24 = process.execPath;
const clientFloor = '20.0.0';
const serverFloor = '22.13.0';
const scope = 'openid offline_access read';

/** Runs a program in the consumer project with a clean environment; resolves with its stdout. */
async function runIn(dir: string, file: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  const { stdout } = await exec(file, args, { cwd: dir, env: cleanEnv(env), encoding: 'utf8', timeout: 90_000, maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

/** The last line of `stdout`, parsed as JSON (what every fixture prints). */
function lastJson(stdout: string): any {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
}

/** Sends `body` to `url` until something listens there (workerd starting up), at most 300 tries. */
async function postWhenUp(url: string, body: unknown): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fetch(url, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    } catch (error) {
      if (attempt >= 300) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

describe('the packed packages, installed in a fresh project outside the repository', () => {
  let consumer: Consumer;
  let nodeAt: (version: string) => string;
  const started = performance.now();

  before(async () => {
    consumer = await installConsumer({
      [`node-${serverFloor}`]: `npm:node@${serverFloor}`,
      [`node-${clientFloor}`]: `npm:node@${clientFloor}`,
      '@types/node': '24.19.2',
    });
    nodeAt = (version) => join(consumer.dir, 'node_modules', `node-${version}`, 'bin', 'node');
    for (const file of readdirSync(fixtures)) cpSync(join(fixtures, file), join(consumer.dir, file));
  });
  after(() => {
    consumer?.remove();
    console.log(`# tarball test: ${Math.round(performance.now() - started)} ms in all`);
  });

  it('installs the Node versions it tests on from npm', async () => {
    assert.equal((await runIn(consumer.dir, nodeAt(serverFloor), ['--version'])).trim(), `v${serverFloor}`);
    assert.equal((await runIn(consumer.dir, nodeAt(clientFloor), ['--version'])).trim(), `v${clientFloor}`);
    assert.match((await runIn(consumer.dir, '/usr/bin/node', ['--version'])).trim(), /^v20\./);
    assert.match(process.version, /^v24\./);
  });

  it('ships built JavaScript, declarations, README, CHANGELOG and LICENSE; no sources, no tests', async () => {
    for (const tarball of consumer.tarballs) {
      const files = (await exec('tar', ['tzf', tarball], { encoding: 'utf8' })).stdout.trim().split('\n').map((f) => f.replace(/^package\//, ''));
      for (const required of ['package.json', 'README.md', 'CHANGELOG.md', 'LICENSE']) assert.ok(files.includes(required), `${tarball} lacks ${required}`);
      assert.deepEqual(files.filter((f) => /(^|\/)(src|test)\//.test(f) || (f.endsWith('.ts') && !f.endsWith('.d.ts'))), [], `${tarball} ships sources or tests`);
      const manifest = JSON.parse((await exec('tar', ['xzOf', tarball, 'package/package.json'], { encoding: 'utf8' })).stdout);
      // Every target of every entry point (but the repository-only source condition) is in the tarball.
      const targets = [
        ...Object.values(manifest.exports ?? {}).flatMap((entry) => (typeof entry === 'string' ? [entry] : Object.entries(entry as object).filter(([c]) => c !== 'refresh-grant-source').map(([, t]) => t))),
        ...Object.values(manifest.imports ?? {}).flatMap((entry) => Object.entries(entry as object).filter(([c]) => c !== 'refresh-grant-source').map(([, t]) => t)),
        ...Object.values(manifest.bin ?? {}),
      ] as string[];
      for (const target of targets) assert.ok(files.includes(target.replace(/^\.\//, '')), `${manifest.name}: ${target} is not in the tarball`);
      assert.equal(manifest.license, 'MIT');
      assert.ok(manifest.engines?.node, `${manifest.name} names no engines.node`);
    }
  });

  describe('`refresh-grant serve` from the installed bin on Node 22.13.0, and the client against it', () => {
    let serve: ChildProcess | undefined;
    let issuer: string;
    let client: { client_id: string; client_secret: string };
    const grants: Array<{ refresh_token: string; id_token: string }> = [];
    const bin = () => join(consumer.dir, 'node_modules', 'refresh-grant', 'bin', 'refresh-grant.js');
    const db = () => join(consumer.dir, 'serve.db');

    before(async () => {
      serve = spawn(nodeAt(serverFloor), [bin(), 'serve', '--port', '0', '--db', db(), '--no-demo', '--quiet', '--signing-thread', 'on'], {
        cwd: consumer.dir,
        env: cleanEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      serve.stderr!.on('data', (chunk) => (stderr += chunk));
      const lines = createInterface({ input: serve.stdout! });
      issuer = await new Promise<string>((resolve, reject) => {
        lines.once('line', resolve);
        serve!.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
      });
      assert.match(issuer, /^http:\/\/127\.0\.0\.1:\d+$/);
    });
    after(() => stop(serve));

    it('--help from node_modules/.bin on Node 24; one line naming the Node it needs on Node 20', async () => {
      const path = `${dirname(node24)}:${cleanEnv().PATH}`;
      const help = await runIn(consumer.dir, consumer.bin('refresh-grant'), ['--help'], { PATH: path });
      assert.match(help, /^refresh-grant: an OAuth 2\.0 refresh token server/);
      for (const command of ['serve', 'clients add', 'grants issue', 'keys rotate', 'refresh']) assert.match(help, new RegExp(`^  ${command} +\\S`, 'm'), command);
      const old = await runIn(consumer.dir, '/usr/bin/node', [bin(), '--help']).then(
        () => assert.fail('the bin ran on Node 20'),
        (error) => error as { code: number; stderr: string; stdout: string },
      );
      assert.equal(old.code, 1);
      assert.equal(old.stdout, '');
      assert.match(old.stderr, /^refresh-grant needs Node\.js 22\.13\+ or 23\.4\+ \(for node:sqlite\); this is Node\.js 20\.\d+\.\d+\.\n$/);
    });

    it('clients add and grants issue on the serving database', async () => {
      client = lastJson(await runIn(consumer.dir, node24, [bin(), 'clients', 'add', '--db', db(), '--id', 'app', '--auth-method', 'client_secret_basic', '--scope', scope, '--json']));
      assert.equal(client.client_id, 'app');
      assert.match(client.client_secret, /^rg_cs_/);
      const issued = await runIn(consumer.dir, node24, [bin(), 'grants', 'issue', '--db', db(), '--issuer', issuer, '--client', 'app', '--subject', 'cli-user', '--scope', scope, '--count', '4', '--json']);
      for (const line of issued.trim().split('\n')) grants.push(JSON.parse(line));
      assert.equal(grants.length, 4);
      for (const grant of grants) assert.match(grant.refresh_token, /^rg_rt_/);
    });

    const expectFlow = (result: any, runtime: RegExp) => {
      assert.match(result.runtime, runtime);
      assert.equal(result.subject, 'cli-user');
      assert.equal(result.scope, 'openid read');
      assert.equal(result.rotated, true);
      assert.equal(result.managed, true);
      // The original token was rotated and its successor used by the manager: presenting it again is reuse.
      assert.deepEqual(result.reuse, { kind: 'oauth', error: 'invalid_grant', retryable: false });
    };
    const flowArgs = (i: number) => [issuer, client.client_id, client.client_secret, grants[i].refresh_token, grants[i].id_token];

    it('the client refreshes on the machine\'s Node 20', async () => {
      expectFlow(lastJson(await runIn(consumer.dir, '/usr/bin/node', ['client-refresh.mjs', ...flowArgs(0)])), /^v20\./);
    });

    it('the client refreshes on the pinned Node 24', async () => {
      expectFlow(lastJson(await runIn(consumer.dir, node24, ['client-refresh.mjs', ...flowArgs(1)])), /^v24\./);
    });

    it(`the client refreshes on Node ${clientFloor}, the oldest its engines field names`, async () => {
      expectFlow(lastJson(await runIn(consumer.dir, nodeAt(clientFloor), ['client-refresh.mjs', ...flowArgs(2)])), new RegExp(`^v${clientFloor}$`));
    });

    it('the client refreshes on workerd (Cloudflare Workers), bundled without nodejs_compat', async () => {
      const worker = join(consumer.dir, 'workerd');
      mkdirSync(worker, { recursive: true });
      await build({
        absWorkingDir: consumer.dir,
        entryPoints: ['worker.mjs'],
        bundle: true,
        format: 'esm',
        platform: 'browser',
        conditions: ['workerd', 'worker', 'browser'],
        outfile: join(worker, 'worker.js'),
        logLevel: 'silent',
      });
      writeFileSync(
        join(worker, 'config.capnp'),
        `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "loopback", network = (allow = ["local"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:8080", http = (), service = "main")],
);
const worker :Workerd.Worker = (
  modules = [(name = "worker", esModule = embed "worker.js")],
  compatibilityDate = "2026-11-01",
  globalOutbound = "loopback",
);
`,
      );
      const port = await freePort();
      const workerd = spawn(repoBin('workerd'), ['serve', 'config.capnp', '--socket-addr', `http=127.0.0.1:${port}`], {
        cwd: worker,
        env: cleanEnv(),
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      workerd.stderr!.on('data', (chunk) => (stderr += chunk));
      try {
        // `--socket-addr` moves config.capnp's socket to a free port.
        const response = await postWhenUp(`http://127.0.0.1:${port}/`, {
          issuer,
          clientId: client.client_id,
          clientSecret: client.client_secret,
          refreshToken: grants[3].refresh_token,
          idToken: grants[3].id_token,
        });
        const result = await response.json();
        assert.equal(response.status, 200, `${JSON.stringify(result)}\n${stderr}`);
        expectFlow(result, /^workerd$/);
      } finally {
        await stop(workerd);
      }
    });
  });

  for (const version of ['24', serverFloor]) {
    it(`embeds the server on Node ${version}: SQLite store, node handler under /oauth, signing thread, startMaintenance`, async () => {
      const node = version === '24' ? node24 : nodeAt(version);
      const db = join(consumer.dir, `embedded-${version}.db`);
      const cli = join(consumer.dir, 'node_modules', 'refresh-grant', 'bin', 'refresh-grant.js');
      const result = lastJson(await runIn(consumer.dir, node, ['embed-server.mjs', db, cli]));
      assert.match(result.runtime, version === '24' ? /^v24\./ : new RegExp(`^v${version}$`));
      assert.equal(result.flow.subject, 'embedded');
      assert.equal(result.flow.rotated, true);
      assert.equal(result.flow.managed, true);
      assert.deepEqual(result.flow.reuse, { kind: 'oauth', error: 'invalid_grant', retryable: false });
      // Key reload picked up the key another process added; the purge removed the expired family.
      assert.match(result.rotatedKid, /^[\w-]{43}$/);
      assert.equal(result.revokedKept, true);
      assert.deepEqual(result.failures, []);
      // Every signature (access tokens and id_tokens) ran on the signing thread.
      assert.ok(result.signatures.onThread > 0, JSON.stringify(result.signatures));
      assert.equal(result.signatures.inline, 0);
      assert.equal(result.signatures.pending, 0);
    });
  }

  it('type-checks a strict TypeScript consumer under moduleResolution nodenext and bundler (default settings)', async () => {
    const tsc = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
    const configs = {
      nodenext: { strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', noEmit: true, types: ['node'] },
      bundler: { strict: true, module: 'esnext', moduleResolution: 'bundler', target: 'es2022', noEmit: true, types: ['node'] },
    };
    for (const [name, compilerOptions] of Object.entries(configs)) {
      writeFileSync(join(consumer.dir, `tsconfig.${name}.json`), JSON.stringify({ compilerOptions, files: ['consumer.ts'] }));
      const result = await runIn(consumer.dir, node24, [tsc, '-p', `tsconfig.${name}.json`, '--listFilesOnly']);
      // The declarations come from the installed packages, not from this repository's sources.
      assert.ok(result.includes(join(consumer.dir, 'node_modules/@refresh-grant/server/dist/index.d.ts')), name);
      assert.ok(!result.includes(join(repoRoot, 'packages')), name);
      await runIn(consumer.dir, node24, [tsc, '-p', `tsconfig.${name}.json`]).catch((error) => assert.fail(`${name}: ${error.stdout}${error.stderr}`));
    }
  });

  it('bundles a browser page importing the client (esbuild) with no node: import', async () => {
    const result = await build({
      absWorkingDir: consumer.dir,
      entryPoints: ['browser-entry.mjs'],
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      outdir: join(consumer.dir, 'browser-out'),
      metafile: true,
      write: false,
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    assert.ok(inputs.some((input) => input.startsWith('node_modules/@refresh-grant/client/dist/')), inputs.join(', '));
    assert.ok(result.outputFiles.length >= 2, 'the id_token code is a lazy chunk');
    for (const file of result.outputFiles) {
      assert.doesNotMatch(file.text, /["'`]node:/, `${file.path} names a node: module`);
      const imports = Object.values(result.metafile.outputs).flatMap((output) => output.imports.filter((i) => i.external).map((i) => i.path));
      assert.deepEqual(imports, []);
    }
  });

  it('under Bun: the Fetch handler on a PostgreSQL store (a throwaway schema) and the client', async (t) => {
    const pgOptions = await pgTestOptions();
    if (pgOptions.skip) return t.skip(pgOptions.skip);
    const { schema, drop } = await freshSchema();
    try {
      const result = lastJson(await runIn(consumer.dir, repoBin('bun'), ['fetch-server.mjs', 'postgres', pgUrl, schema]));
      assert.match(result.runtime, /^bun 1\./);
      expectFetchRun(result, 'postgres');
    } finally {
      await drop();
    }
  });

  it('under Deno: the Fetch handler on a SQLite store (node:sqlite) and the client', async () => {
    const result = lastJson(
      await runIn(consumer.dir, repoBin('deno'), ['run', '--allow-all', '--no-prompt', 'fetch-server.mjs', 'sqlite', join(consumer.dir, 'deno.db')], {
        DENO_DIR: join(consumer.dir, '.deno'),
        DENO_NO_UPDATE_CHECK: '1',
      }),
    );
    assert.match(result.runtime, /^deno 2\./);
    expectFetchRun(result, 'sqlite');
  });
});

function expectFetchRun(result: any, store: string): void {
  assert.equal(result.store, store);
  assert.equal(result.flow.subject, 'fetch-user');
  assert.equal(result.flow.rotated, true);
  assert.equal(result.flow.managed, true);
  assert.deepEqual(result.flow.reuse, { kind: 'oauth', error: 'invalid_grant', retryable: false });
  // RFC 9449: the DPoP-bound family refreshes with a proof, and not without one.
  assert.equal(result.dpop, 'dpop');
  assert.equal(result.withoutProof, 'invalid_grant');
  assert.ok(result.signatures.onThread > 0, JSON.stringify(result.signatures));
}

