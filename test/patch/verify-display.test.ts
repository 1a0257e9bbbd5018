import { expect, it } from 'vitest';
import type { PatchRecord } from '../../server/patch/history.ts';
import { formatHistory, formatPatch } from '../../tools/cli/format.ts';

// The CLI shows the records a verification leaves as what they are: an
// abandoned verification or canary is not a plain "noop" line, a verified
// patch says it is verified, and a pushed outcome (rebind watch --verify)
// says which patch it decided.

const base = { at: '2026-11-29T22:00:00.000Z', origin: 'start' as const, ok: true, noop: true, migrations: [], durationMs: 0.1 };
const change = { module: 'shop', change: 'updated' as const, oldVersion: 1, newVersion: 2, oldHash: 'aaaaaaaa', newHash: 'bbbbbbbb' };

it('verify-abandoned and canary-abandoned records are shown as loud, not as noop lines', () => {
  const records: PatchRecord[] = [
    { ...base, id: 7, kind: 'verify-abandoned', modules: [change], verify: { windowMs: 30_000, patch: 5, abandoned: true } },
    { ...base, id: 8, kind: 'canary-abandoned', modules: [{ ...change, newVersion: 3 }], verify: { windowMs: 60_000, patch: 6, abandoned: true } },
  ];
  const lines = formatHistory(records).split('\n');
  expect(lines[0]).toMatch(/^#7 .* verify-abandoned +start +CUT .*VERIFICATION ABANDONED: patch #5 \(shop v2\) was being verified when the server stopped; it stays live UNVERIFIED \(watch it, or rebind rollback shop\)$/);
  expect(lines[1]).toMatch(/^#8 .* canary-abandoned +start +CUT .*CANARY ABANDONED: the canary of patch #6 \(shop v3\) was cut short by a stop/);
  expect(lines.join('\n')).not.toMatch(/noop/);
  expect(formatPatch(records[0]!)).toMatch(/^VERIFICATION ABANDONED: patch #5/);
});

it('a patch under verification says so in the history; a pushed outcome names the patch it decided', () => {
  const patch: PatchRecord = { ...base, id: 3, kind: 'patch', origin: 'cli', noop: false, modules: [change], verify: { windowMs: 30_000 }, canary: 0.1 };
  expect(formatHistory([patch])).toMatch(/shop v1->v2 \(verify 30 s, canary 10%\)$/);
  const figures = { calls: 40, errors: 20, errorRate: 0.5, p99Ms: 1 };
  const report = { patch: 3, outcome: 'rolled-back' as const, reason: 'error rate 50.0% (20 of 40 calls), previous version 0.0%', windowMs: 30_000, elapsedMs: 600, modules: [{ module: 'shop', newVersion: 2, oldVersion: 1 }], new: figures, previous: { ...figures, errors: 0, errorRate: 0 }, hooks: { new: { runs: 12, errors: 0, errorRate: 0 }, previous: { runs: 900, errors: 0, errorRate: 0 } } };
  const auto: PatchRecord = { ...base, id: 4, kind: 'auto-rollback', origin: 'verify', by: 'verify', noop: false, modules: [{ ...change, oldVersion: 2, newVersion: 3 }], verify: report };
  const text = formatPatch(auto);
  expect(text).toMatch(/^auto-rollback of patch #3: ROLLED BACK after 0\.6 s of its 30 s window: error rate 50\.0%/);
  expect(text).toMatch(/hooks new: +12 runs, 0 errors \(0\.0%\)/);
  expect(text).toMatch(/auto-rollback #4 applied in 0\.1 ms\n +shop +v2 -> v3/);
});
