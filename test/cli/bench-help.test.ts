import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

// `npm run bench -- --help` printed nothing of the sort: it ran every benchmark (minutes on a shared machine).

const ENGINE = fileURLToPath(new URL('../../', import.meta.url));
const bench = (...args: string[]) => spawnSync('npm', ['run', '--silent', 'bench', '--', ...args], { cwd: ENGINE, encoding: 'utf8', timeout: 60_000 });

it('npm run bench -- --help prints the usage and the sections, and runs nothing', () => {
  const run = bench('--help');
  expect(run.status, run.stderr).toBe(0);
  expect(run.stdout).toContain('usage: npm run bench [-- SECTION]');
  // Every section run.ts runs is one --help names and a SECTION argument reaches (a section added without it could not be run alone).
  const runs = [...readFileSync(`${ENGINE}tools/bench/run.ts`, 'utf8').matchAll(/only === '([a-z][a-z-]*)'/g)].map((m) => m[1]!);
  expect(runs.length).toBeGreaterThan(8);
  const listed = run.stdout.match(/Sections: (.*)/)![1]!.split(', ');
  expect([...new Set(runs)].sort()).toEqual([...listed].sort());
  expect(run.stdout).not.toContain('rebind benchmarks');
  expect(run.stderr).not.toContain('bench: ');
}, 60_000);

it('an unknown section is a usage error (exit 2), not a run of everything', () => {
  const run = bench('nope');
  expect(run.status).toBe(2);
  expect(run.stderr).toContain('npm run bench: unknown section "nope"');
  expect(run.stderr).not.toContain('bench: network');
}, 60_000);
