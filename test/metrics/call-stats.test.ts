import fc from 'fast-check';
import { expect, it } from 'vitest';
import { CallStats, LATENCY_BUCKETS_MS, quantileMs, since, totals } from '../../server/metrics/call-stats.ts';

// A reported p99 is an upper estimate of the true one, never far above the
// slowest call: 50 ms calls are not reported as the bucket's 100 (or 250) ms.

it('calls of 50.3 ms report a p99 of 50.3 ms, not the upper bound of their bucket', () => {
  const s = new CallStats('shop.buy', 'shop', 1);
  for (let i = 0; i < 200; i++) s.record(50.3, false);
  expect(quantileMs(totals([s]), 0.99)).toBe(50.3);
  // A window of them (since a mark) keeps the bound too.
  const mark = totals([s]);
  for (let i = 0; i < 100; i++) s.record(50.3, false);
  expect(quantileMs(since(totals([s]), mark), 0.99)).toBe(50.3);
});

it('the reported quantile is at least the true one and at most its bucket bound (property, against the sorted calls)', () => {
  fc.assert(
    fc.property(fc.array(fc.double({ min: 0, max: 20_000, noNaN: true }), { minLength: 1, maxLength: 300 }), fc.constantFrom(0.5, 0.9, 0.99), (times, q) => {
      const s = new CallStats('m.h', 'm', 1);
      for (const ms of times) s.record(ms, false);
      const reported = quantileMs(totals([s]), q);
      const sorted = [...times].sort((a, b) => a - b);
      const truth = sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
      expect(reported).toBeGreaterThanOrEqual(truth);
      const bound = LATENCY_BUCKETS_MS.find((b) => truth <= b) ?? LATENCY_BUCKETS_MS.at(-1)! * 2;
      expect(reported).toBeLessThanOrEqual(bound);
    }),
  );
});
