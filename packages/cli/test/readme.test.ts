/**
 * The README as a user meets it: the quick start's shell blocks, pasted line by line into one
 * bash session against a real `serve`, all succeed and every refresh answers with tokens; the
 * configuration table is the CLI's own option table; the operations doc lists every metric.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createMetrics } from '@refresh-grant/server/metrics';
import { withServeTable } from '../../../scripts/cli-reference.ts';
import { bin, serve } from './support.ts';
import { freePort } from '../../server/test/support/free-port.ts';

const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'rg-readme-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The commands of the ```sh blocks of a README section, continuation lines joined. */
function shellLines(section: string): string[] {
  const from = readme.indexOf(`\n## ${section}\n`);
  assert.ok(from >= 0, `README has a section ${section}`);
  const to = readme.indexOf('\n## ', from + 1);
  const text = readme.slice(from, to === -1 ? undefined : to);
  const lines: string[] = [];
  for (const [, block] of text.matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const line of block.replace(/\\\n\s*/g, '').split('\n')) if (line.trim() && !line.trim().startsWith('#')) lines.push(line);
  }
  return lines;
}

describe('README', () => {
  it('the quick start runs line by line against a real serve', async () => {
    const lines = shellLines('Quick start');
    assert.ok(lines.length >= 8, 'the quick start has its commands');
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    const env = { REFRESH_GRANT_DB: join(dir, 'quick.db'), REFRESH_GRANT_ISSUER: issuer };
    const server = await serve(['--port', String(port), '--no-demo', '--quiet'], { env, cwd: dir });
    try {
      // One bash session, as in a terminal: variables carry from line to line. `npx refresh-grant`
      // is the bin of this checkout; the README's address is this server's.
      const marker = '__readme_line_done__';
      const script = [
        'set -o pipefail',
        `npx() { if [ "$1" = refresh-grant ]; then shift; "${process.execPath}" "${bin}" "$@"; else command npx "$@"; fi; }`,
        ...lines.flatMap((line) => [line.replaceAll('http://127.0.0.1:8080', issuer), `echo "${marker} $?"`]),
      ].join('\n');
      const bash = spawn('bash', ['-c', script], { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      bash.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
      bash.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      await new Promise((resolve) => bash.once('close', resolve));
      const outputs = stdout.split(new RegExp(`${marker} (\\d+)\\n`));
      for (let i = 0; i < lines.length; i++) {
        const [output, status] = [outputs[2 * i], outputs[2 * i + 1]];
        assert.equal(status, '0', `line ${i + 1} failed: ${lines[i]}\n${output}\n${stderr}`);
        if (/^curl /.test(lines[i])) {
          const body = JSON.parse(output);
          assert.ok(body.access_token && body.refresh_token && body.token_type, `${lines[i]}: ${output}`);
        }
        if (/ refresh /.test(lines[i])) assert.match(output, /^refresh_token: +rg_rt_\S+ \(rotated/m, lines[i]);
      }
    } finally {
      await server.stop('SIGKILL');
    }
  });

  it('the configuration table is the one the CLI\'s option table generates (npm run docs:cli)', () => {
    assert.equal(readme, withServeTable(readme), 'README.md is behind the option table: run npm run docs:cli');
  });

  it('docs/operations.md lists every metric', async () => {
    const doc = readFileSync(new URL('../../../docs/operations.md', import.meta.url), 'utf8');
    const metrics = createMetrics({ processMetrics: false, load: () => ({ inFlight: 0, shed: 0, connections: 0 }) });
    const names = (await metrics.registry.getMetricsAsJSON()).map((m) => m.name);
    assert.ok(names.length >= 15);
    for (const name of names) assert.ok(doc.includes(`\`${name}\``), `${name} is not in docs/operations.md`);
  });
});
