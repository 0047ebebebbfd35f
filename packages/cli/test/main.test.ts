/**
 * The command line as a tool: `--help` on every command and group (exit 0), `--version`, usage
 * errors as one line with a pointer to the right help (exit 2), failures as one line without
 * usage (exit 1), everything wrong on stderr, and settings from REFRESH_GRANT_* variables.
 * Runs the real bin.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { tokenEndpointAuthMethods } from '@refresh-grant/server/core';
import { authMethods, commands, groups } from '../src/commands.ts';
import { envNames } from '../src/options.ts';
import { cli } from './support.ts';

const dir = mkdtempSync(join(tmpdir(), 'rg-main-'));
const db = join(dir, 'main.db');
after(() => rmSync(dir, { recursive: true, force: true }));

describe('help and version', () => {
  it('--help on every command and every group prints its usage on stdout and exits 0', async () => {
    const paths = [[], ...Object.keys(groups).map((g) => [g]), ...commands.map((c) => c.path)];
    const results = await Promise.all(paths.flatMap((path) => [cli([...path, '--help']), cli([...path, '-h'])]));
    results.forEach((result, i) => {
      const path = paths[Math.floor(i / 2)];
      assert.equal(result.code, 0, `${path.join(' ')}: ${result.stderr}`);
      assert.equal(result.stderr, '');
      assert.match(result.stdout, path.length === 0 ? /^refresh-grant: .*\n\nUsage: refresh-grant COMMAND/ : new RegExp(`^Usage: refresh-grant ${path.join(' ')}`));
    });
    const named = await cli(['help', 'clients', 'add']);
    assert.equal(named.code, 0);
    assert.match(named.stdout, /^Usage: refresh-grant clients add --auth-method METHOD \[options\]/);
  });

  it('a command\'s help lists each option with its environment variable and default', async () => {
    const { stdout } = await cli(['serve', '--help']);
    assert.match(stdout, /--port PORT +TCP port .*\[default 8080; env REFRESH_GRANT_PORT; env PORT\]/);
    assert.match(stdout, /--host HOST +address to listen on; in a container, 0\.0\.0\.0/);
    assert.match(stdout, /--log-level error\|warn\|info\|debug/);
  });

  it('without a command: the overview on stderr, exit 2; --version prints the version', async () => {
    const none = await cli([]);
    assert.equal(none.code, 2);
    assert.equal(none.stdout, '');
    assert.match(none.stderr, /Usage: refresh-grant COMMAND/);
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    for (const flag of ['--version', '-V']) {
      const result = await cli([flag]);
      assert.deepEqual([result.code, result.stdout, result.stderr], [0, `${version}\n`, '']);
    }
  });
});

describe('errors', () => {
  it('a usage error is one line and where to read more, on stderr, exit 2', async () => {
    const cases: Array<[string[], RegExp, string]> = [
      [['frobnicate'], /^unknown command: frobnicate$/, 'refresh-grant --help'],
      [['clients'], /^clients needs a command$/, 'refresh-grant clients --help'],
      [['clients', 'nosuch'], /^unknown clients command: nosuch$/, 'refresh-grant clients --help'],
      [['clients', 'add', '--db', db], /^--auth-method is required$/, 'refresh-grant clients add --help'],
      [['clients', 'add', '--db', db, '--auth-method', 'nope'], /^--auth-method must be client_secret_basic, .* or none, not "nope"$/, 'refresh-grant clients add --help'],
      [['clients', 'add', '--db', db, '--auth-method', 'none'], /^give --scope "\.\.\." \(what this client may be granted\) or --any-scope$/, 'refresh-grant clients add --help'],
      [['clients', 'add', '--db', db, '--auth-method', 'private_key_jwt', '--any-scope'], /^private_key_jwt needs exactly one of --jwks FILE, --jwks-uri URL or --generate-key FILE$/, 'refresh-grant clients add --help'],
      [['clients', 'add', '--db', db, '--auth-method', 'none', '--scope', 'a  b'], /^--scope must be scope tokens separated by single spaces, not "a  b"$/, 'refresh-grant clients add --help'],
      [['clients', 'add', '--db', db, '--auth-method', 'none', '--any-scope', '--retry-window', 'soon'], /^--retry-window must be a whole number of seconds, not "soon"$/, 'refresh-grant clients add --help'],
      [['clients', 'add', '--bogus'], /^unknown option --bogus$/, 'refresh-grant clients add --help'],
      [['grants', 'issue', '--client', '-nKr45rK2xLcPyswAH_O8Q'], /^--client needs a value; for a value that begins with "-", write --client=VALUE$/, 'refresh-grant grants issue --help'],
      [['grants', 'revoke'], /^give --family ID, or --subject SUB and\/or --client ID$/, 'refresh-grant grants revoke --help'],
      [['keys', 'rotate', '--activate-after=-5'], /^--activate-after must be a whole number of seconds, not "-5"$/, 'refresh-grant keys rotate --help'],
      [['serve', '--signing-thread', 'sometimes'], /^--signing-thread must be auto, on or off, not "sometimes"$/, 'refresh-grant serve --help'],
      [['serve', '--port', '70000'], /^--port must be a port number from 0 to 65535, not "70000"$/, 'refresh-grant serve --help'],
      [['serve', '--db', db, '--cors-origin', 'https://app.example/'], /^--cors-origin: .* is not an origin/, 'refresh-grant serve --help'],
      [['serve', 'extra'], /^unexpected argument extra$/, 'refresh-grant serve --help'],
      [['refresh', '--issuer', 'http://127.0.0.1:1', '--client-id', 'c'], /^--refresh-token is required$/, 'refresh-grant refresh --help'],
    ];
    const results = await Promise.all(cases.map(([args]) => cli(args)));
    results.forEach((result, i) => {
      const [args, message, help] = cases[i];
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.equal(result.stdout, '');
      const lines = result.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 2, result.stderr);
      assert.match(lines[0].replace(/^refresh-grant: /, ''), message);
      assert.equal(lines[1], `see: ${help}`);
    });
  });

  it('a failure is one line on stderr without usage, exit 1', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['grants', 'issue', '--db', db, '--client', 'ghost', '--subject', 's', '--scope', 'a'], /^unknown client ghost$/],
      [['clients', 'remove', '--db', db, '--id', 'nosuch'], /^unknown client nosuch$/],
      [['clients', 'update', '--db', db, '--id', 'nosuch', '--scope', 'a'], /^unknown client nosuch$/],
      [['clients', 'rotate-secret', '--db', db, '--id', 'nosuch'], /^unknown client nosuch$/],
      [['grants', 'revoke', '--db', db, '--family', 'nosuch'], /^unknown family nosuch$/],
    ];
    for (const [args, message] of cases) {
      const result = await cli(args);
      assert.equal(result.code, 1, `${args.join(' ')}: ${result.stderr}`);
      assert.equal(result.stdout, '');
      const lines = result.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0].replace(/^refresh-grant: /, ''), message);
    }
  });
});

describe('configuration', () => {
  it('every serve setting has an environment variable; the CLI and the server agree on auth methods', () => {
    const serve = commands.find((c) => c.path[0] === 'serve')!;
    for (const option of serve.options) assert.ok(envNames(option).length > 0, `--${option.name} has no environment variable`);
    assert.deepEqual([...authMethods], [...tokenEndpointAuthMethods]);
  });

  it('settings come from REFRESH_GRANT_* variables; a flag wins over its variable', async () => {
    const env = { REFRESH_GRANT_DB: join(dir, 'env.db') };
    assert.equal((await cli(['clients', 'add', '--id', 'from-env', '--auth-method', 'none', '--any-scope'], { env })).code, 0);
    const listed = await cli(['clients', 'list', '--json'], { env });
    assert.deepEqual(JSON.parse(listed.stdout).map((c: { client_id: string }) => c.client_id), ['from-env']);
    const flagWins = await cli(['clients', 'list', '--json', '--db', join(dir, 'other.db')], { env });
    assert.deepEqual(JSON.parse(flagWins.stdout), []);
    const bad = await cli(['serve', '--db', db], { env: { REFRESH_GRANT_METRICS: 'maybe' } });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^refresh-grant: REFRESH_GRANT_METRICS must be true or false .*, not "maybe"\nsee: refresh-grant serve --help\n$/);
    const badChoice = await cli(['serve', '--db', db], { env: { REFRESH_GRANT_LOG_LEVEL: 'loud' } });
    assert.match(badChoice.stderr, /^refresh-grant: REFRESH_GRANT_LOG_LEVEL must be error, warn, info or debug, not "loud"/);
  });
});
