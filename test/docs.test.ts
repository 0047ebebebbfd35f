/**
 * Documentation that cannot drift: a README code block marked `<!-- example: PATH -->` is the
 * code of that example file (its leading doc comment left out), and the example itself runs in
 * a test (examples/*.test.ts). Entry points list their exports by name (no `export *`, which
 * makes every helper of a module public by accident) and carry a module comment with an example.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, workspaces } from './support/packages.ts';

const readmes = ['README.md', ...workspaces.map((w) => `${w}/README.md`)];

/** The file's code without its leading `/** ... *\/` comment. */
function codeOf(path: string): string {
  return readFileSync(join(repoRoot, path), 'utf8').replace(/^\/\*\*[\s\S]*?\*\/\n/, '').trim();
}

describe('README examples are the tested example files', () => {
  for (const readme of readmes) {
    it(readme, () => {
      const text = readFileSync(join(repoRoot, readme), 'utf8');
      const blocks = [...text.matchAll(/<!-- example: (\S+) -->\n```ts\n([\s\S]*?)\n```/g)];
      if (readme === 'README.md' || readme === 'packages/server/README.md') assert.ok(blocks.length > 0, `${readme} shows no tested example`);
      for (const [, path, code] of blocks) assert.equal(code.trim(), codeOf(path), `${readme}: the block marked ${path} differs from the file`);
    });
  }
});

describe('entry points', () => {
  for (const workspace of workspaces) {
    const manifest = JSON.parse(readFileSync(join(repoRoot, workspace, 'package.json'), 'utf8'));
    const entries = Object.entries(manifest.exports as Record<string, string | Record<string, string>>).filter(([, target]) => typeof target === 'object');
    for (const [name, target] of entries) {
      const source = (target as Record<string, string>)['refresh-grant-source'];
      it(`${manifest.name}${name.slice(1)} (${source}) lists its exports by name, with a module comment and an example`, () => {
        const text = readFileSync(join(repoRoot, workspace, source), 'utf8');
        assert.doesNotMatch(text, /^\s*export\s+(type\s+)?\*/m);
        assert.match(text, /@packageDocumentation/);
        assert.match(text, new RegExp(`@module ${manifest.name}${name.slice(1)}\\n`));
        assert.match(text, /@example\n \* ```ts\n/);
      });
    }
  }
});
