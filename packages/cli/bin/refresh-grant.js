#!/usr/bin/env node
// The `refresh-grant` command. Plain JavaScript that any Node parses, so that on a Node too old
// for the server (node:sqlite) the user reads one line instead of a stack trace.

const [major, minor] = process.versions.node.split('.').map(Number);
// node:sqlite works without a flag from 22.13 on the 22 line and from 23.4 on.
if (major < 22 || (major === 22 && minor < 13) || (major === 23 && minor < 4)) {
  process.stderr.write(`refresh-grant needs Node.js 22.13+ or 23.4+ (for node:sqlite); this is Node.js ${process.versions.node}.\n`);
  process.exit(1);
}
// `serve` runs for long: under load V8 lets its young generation grow to its largest size (64 MB
// per semi-space on a machine with several GiB) and keeps it, about 100 MB of RSS for no gain the
// benchmark can measure (`npm run bench -- --parts overload`). So `serve` re-executes itself once,
// same process id and stdio, with the young generation capped at 16 MB per semi-space, unless a
// size was chosen (NODE_OPTIONS or a node flag). Where `process.execve` is missing (Windows,
// Node < 22.15), `serve` runs with V8's defaults.
const semiSpace = '--max-semi-space-size';
const chosen = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((arg) => arg.startsWith(semiSpace));
if (process.argv[2] === 'serve' && !chosen && typeof process.execve === 'function') {
  try {
    process.execve(process.execPath, [process.execPath, `${semiSpace}=16`, ...process.execArgv, ...process.argv.slice(1)]);
  } catch {
    // Not replaced (no permission to execute, say): go on with V8's defaults.
  }
}
// Node's on-disk compile cache (Node 22.1+): later starts skip compiling what they already
// compiled, which about halves the start-up time of a short command. (node:module from
// process.getBuiltinModule, which every Node past the check above has: an `import` would build
// the module's ES namespace too, for nothing.)
process.getBuiltinModule('node:module').enableCompileCache?.();
// `#main` is the built CLI (dist/main.js); inside the repository, npm scripts set the
// `refresh-grant-source` condition (.npmrc) and it is the TypeScript source.
import('#main').then((cli) => cli.run());
