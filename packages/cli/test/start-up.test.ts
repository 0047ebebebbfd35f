/**
 * What the short commands load, which is most of what they cost to start (issue 15: `--help` and
 * `clients list` within 1.5x of `node -e 0`, measured by bench/cli.ts; no timing here). The
 * real bin runs with a module hook that reports every module it loads: `--help` loads the
 * command table and nothing else; `clients list` adds the SQLite store, never the server's
 * protocol code, the client library, jose or the WAL checkpointer. Neither imports a Node
 * built-in as an ES module: building the namespace of `node:fs` (or `node:util`, `node:sqlite`)
 * reads its lazy members, which load modules the command never uses (process.getBuiltinModule
 * does not).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, describe, it } from 'node:test';
import { cli } from './support.ts';

const dir = mkdtempSync(join(tmpdir(), 'rg-start-up-'));
const db = join(dir, 'start-up.db');
after(() => rmSync(dir, { recursive: true, force: true }));

const hook = join(dir, 'report-loads.mjs');
writeFileSync(
  hook,
  `import { registerHooks } from 'node:module';
registerHooks({ load(url, context, next) { process.stderr.write('loaded ' + url + '\\n'); return next(url, context); } });
`,
);

/** The modules `refresh-grant ...args` loads after the bin, as paths in the repository (`node:` ones as they are). */
async function loads(args: string[]): Promise<string[]> {
  const env = { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${pathToFileURL(hook).href}` };
  const result = await cli(args, { env });
  assert.equal(result.code, 0, result.stderr);
  const root = pathToFileURL(join(import.meta.dirname, '../../..')).href + '/';
  return result.stderr
    .split('\n')
    .filter((line) => line.startsWith('loaded '))
    .map((line) => line.slice('loaded '.length).replace(root, '').replace(/\.(ts|js)$/, '').replace(/\/(src|dist)\//, '/'))
    .filter((module) => module !== 'packages/cli/bin/refresh-grant');
}

describe('start-up', () => {
  it('--help loads the command table only', async () => {
    assert.deepEqual(await loads(['--help']), ['packages/cli/main', 'packages/cli/commands', 'packages/cli/options']);
  });

  it('clients list loads the SQLite store and nothing of the server\'s protocol', async () => {
    assert.equal((await cli(['clients', 'add', '--db', db, '--id', 'a', '--auth-method', 'none', '--any-scope'])).code, 0);
    const modules = await loads(['clients', 'list', '--db', db]);
    for (const needed of ['packages/cli/clients-command', 'packages/server/sqlite', 'packages/server/stores/sqlite-store']) {
      assert.ok(modules.includes(needed), `${needed} in ${modules.join(', ')}`);
    }
    const allowed = /^packages\/(cli\/(main|commands|options|clients-command|common|open-store)|server\/(sqlite|core\/store|stores\/sqlite-[a-z-]+))$/;
    assert.deepEqual(modules.filter((m) => !allowed.test(m)), [], 'only the store');
    assert.ok(!modules.includes('packages/server/stores/sqlite-checkpointer'), 'no WAL checkpointer: the command runs once');
  });
});
