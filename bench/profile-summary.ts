/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`, e.g. `npm run bench -- --profile`):
 * the functions with the most self time, and the most inclusive time, in percent of samples.
 *
 * Run: `npx node bench/profile-summary.ts FILE.cpuprofile [N]`.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
}

/** Self and inclusive sample shares by function, highest first. */
export function summarise(profile: Profile): { self: Array<[string, number]>; total: Array<[string, number]> } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const name = (n: ProfileNode) => {
    const file = n.callFrame.url.replace(/^.*\/(node_modules\/[^/]+|packages\/[^/]+\/src)\//, '$1/').replace(/^file:\/\/.*\//, '');
    return `${n.callFrame.functionName || '(anonymous)'} ${file}${file ? ':' + (n.callFrame.lineNumber + 1) : ''}`;
  };
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  for (const id of profile.samples) {
    const node = byId.get(id)!;
    self.set(name(node), (self.get(name(node)) ?? 0) + 1);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const key = name(byId.get(at)!);
      if (seen.has(key)) continue;
      seen.add(key);
      total.set(key, (total.get(key) ?? 0) + 1);
    }
  }
  const n = profile.samples.length;
  const sorted = (m: Map<string, number>) => [...m].map(([k, v]): [string, number] => [k, (100 * v) / n]).sort((a, b) => b[1] - a[1]);
  return { self: sorted(self), total: sorted(total) };
}

if (import.meta.main) {
  const profile = JSON.parse(readFileSync(process.argv[2], 'utf8')) as Profile;
  const top = Number(process.argv[3] ?? 25);
  const { self, total } = summarise(profile);
  console.log(`samples: ${profile.samples.length}\n\nself time:`);
  for (const [k, v] of self.slice(0, top)) console.log(`${v.toFixed(1).padStart(6)} %  ${k}`);
  console.log('\ninclusive time:');
  for (const [k, v] of total.slice(0, top)) console.log(`${v.toFixed(1).padStart(6)} %  ${k}`);
}
