#!/usr/bin/env node
// The `refresh-grant` command. Plain JavaScript that any Node parses, so that on a Node too old
// for the server (node:sqlite) the user reads one line instead of a stack trace.
import module from 'node:module';

const [major, minor] = process.versions.node.split('.').map(Number);
// node:sqlite works without a flag from 22.13 on the 22 line and from 23.4 on.
if (major < 22 || (major === 22 && minor < 13) || (major === 23 && minor < 4)) {
  process.stderr.write(`refresh-grant needs Node.js 22.13+ or 23.4+ (for node:sqlite); this is Node.js ${process.versions.node}.\n`);
  process.exit(1);
}
// Node's on-disk compile cache (Node 22.1+): later starts skip compiling what they already
// compiled, which about halves the start-up time of a short command.
module.enableCompileCache?.();
// `#main` is the built CLI (dist/main.js); inside the repository, npm scripts set the
// `refresh-grant-source` condition (.npmrc) and it is the TypeScript source.
import('#main').then((cli) => cli.run());
