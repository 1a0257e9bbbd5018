import fc from 'fast-check';
import { expect, it } from 'vitest';
import { LATENCY_BUCKETS_MS, type CallTotals } from '../../server/metrics/call-stats.ts';
import { DEFAULT_BUDGET, hooksOverBudget, overBudget } from '../../server/patch/verify.ts';

// The verification budget against a model written from the documented rule
// (docs/operating.md): errors judged on every call, latency only on the calls
// after the warm-up, hooks with the same error rule as handlers.

/** Totals of `calls` calls, `errors` of them failed, all in the latency bucket `bucket`. */
function totalsOf(calls: number, errors: number, bucket: number): CallTotals {
  const buckets = new Float64Array(LATENCY_BUCKETS_MS.length + 1);
  buckets[bucket] = calls;
  return { calls, errors, buckets };
}

const bound = (bucket: number) => LATENCY_BUCKETS_MS[bucket] ?? LATENCY_BUCKETS_MS.at(-1)! * 2;

const side = fc.record({ calls: fc.nat({ max: 2000 }), errorShare: fc.double({ min: 0, max: 1, noNaN: true }), bucket: fc.nat({ max: LATENCY_BUCKETS_MS.length }) }).map(({ calls, errorShare, bucket }) => ({ calls, errors: Math.floor(calls * errorShare), bucket }));

it('errors: over budget exactly when there are 10 errors and the rate is more than 5 points above the previous one', () => {
  fc.assert(
    fc.property(side, side, (n, p) => {
      const now = totalsOf(n.calls, n.errors, n.bucket);
      const previous = totalsOf(p.calls, p.errors, p.bucket);
      const rate = n.calls ? n.errors / n.calls : 0;
      const before = p.calls ? p.errors / p.calls : 0;
      const errorsOver = n.errors >= 10 && rate > before + 0.05;
      // No warm calls: latency is not judged, so only the error rule can decide.
      const reason = overBudget(now, previous, DEFAULT_BUDGET, undefined);
      expect(reason !== undefined).toBe(errorsOver);
      if (reason) expect(reason).toMatch(/^error rate /);
      // The hooks' rule is the same one, on runs.
      const hooks = hooksOverBudget(now, previous, DEFAULT_BUDGET);
      expect(hooks !== undefined).toBe(errorsOver);
      if (hooks) expect(hooks).toMatch(/^lifecycle hook errors: /);
    }),
  );
});

it('latency: over budget when no error rule fires, both sides have 100 calls, and the warm p99 is over 3 x max(previous p99, 10 ms)', () => {
  fc.assert(
    fc.property(side, side, (w, p) => {
      const warm = totalsOf(w.calls, 0, w.bucket);
      const previous = totalsOf(p.calls, 0, p.bucket);
      const expected = w.calls >= 100 && p.calls >= 100 && w.calls > 0 && bound(w.bucket) > 3 * Math.max(p.calls ? bound(p.bucket) : 0, 10);
      const reason = overBudget(totalsOf(w.calls, 0, w.bucket), previous, DEFAULT_BUDGET, warm);
      expect(reason !== undefined).toBe(expected);
      if (reason) expect(reason).toMatch(/^p99 latency \d+(\.\d+)? ms, over 3 x the previous version's \d+(\.\d+)? ms$/);
    }),
  );
});

it('slow calls before the warm-up ended do not count: the same calls judged as warm ones would roll back', () => {
  const slowEarly = totalsOf(200, 0, 9); // 200 calls in the 50 ms bucket
  const previous = totalsOf(1000, 0, 2);
  expect(overBudget(slowEarly, previous, DEFAULT_BUDGET, totalsOf(0, 0, 0))).toBeUndefined();
  expect(overBudget(slowEarly, previous, DEFAULT_BUDGET, slowEarly)).toMatch(/^p99 latency 50 ms/);
});
