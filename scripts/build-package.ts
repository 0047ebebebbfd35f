/**
 * Builds the package in the working directory (`npm run build`, run by `prepack`): removes
 * `dist/`, emits JavaScript, declarations and source maps from `src/` with
 * `tsconfig.build.json` (relative `.ts` imports rewritten to `.js`), and copies the
 * repository's LICENSE beside the package.json so that every tarball carries it.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

rmSync('dist', { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
// tsc rewrites `.ts` specifiers in the JavaScript it emits but keeps them in declarations
// (TypeScript 5.7+ resolves them; older compilers reject them): declarations name `.js` too.
for (const file of readdirSync('dist', { recursive: true, encoding: 'utf8' })) {
  if (!file.endsWith('.d.ts')) continue;
  const path = join('dist', file);
  const text = readFileSync(path, 'utf8');
  const rewritten = text.replace(/(from\s+|import\()(['"])(\.\.?\/[^'"]+)\.ts\2/g, '$1$2$3.js$2');
  if (rewritten !== text) writeFileSync(path, rewritten);
}
copyFileSync(new URL('../LICENSE', import.meta.url), 'LICENSE');
