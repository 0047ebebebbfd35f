/**
 * Builds the package in the working directory (`npm run build`, run by `prepack`): removes
 * `dist/`, emits JavaScript, declarations and source maps from `src/` with
 * `tsconfig.build.json` (relative `.ts` imports rewritten to `.js`), and copies the
 * repository's LICENSE beside the package.json so that every tarball carries it.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';

rmSync('dist', { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
copyFileSync(new URL('../LICENSE', import.meta.url), 'LICENSE');
