import { expect, it } from 'vitest';
import { CallStatsBook } from '../../server/metrics/call-stats.ts';
import { Series } from '../../server/metrics/series.ts';
import type { ModuleVersion } from '../../server/patch/bindings.ts';

// The first sample after start took the lifetime totals (every call since
// the server started) as one second's rate: a spike at the left of every
// chart. It now only takes the baseline; points report what happened since.

it('the first sample is a baseline, not the lifetime totals as a rate', () => {
  const book = new CallStatsBook();
  const shop = book.for('shop.buy', { module: 'shop', version: 1 } as ModuleVersion);
  for (let i = 0; i < 10_000; i++) shop.record(0.1, i % 10 === 0);
  const series = new Series(book, () => ({ tickMs: 1, players: 0 }), 0);
  series.sample();
  for (const point of series.list()) for (const v of point.versions) expect(v.calls).toBeLessThan(10_000);
  expect(series.list().flatMap((p) => p.versions)).toEqual([]);
  // Nothing since: no line for shop v1. Then 3 calls: a point that counts them, not the 10,000 before.
  series.sample();
  expect(series.list().at(-1)!.versions).toEqual([]);
  for (let i = 0; i < 3; i++) shop.record(0.1, false);
  series.sample();
  const point = series.list().at(-1)!;
  expect(point.versions).toHaveLength(1);
  expect(point.versions[0]!.key).toBe('shop v1');
  expect(point.versions[0]!.errors).toBe(0);
});
