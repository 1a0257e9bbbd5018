import fc from 'fast-check';
import { expect, it } from 'vitest';
import { isolatedPoints, labelRows } from '../../client/dashboard/chart-layout.ts';

// The charts' own layout: a point a line cannot show gets a dot, and marker
// labels never overlap while rows are left.

it('a version with one point between gaps (rolled back after one sample) is a dot; points with a neighbour are not', () => {
  expect(isolatedPoints([null, null, 3, null, 1, 2, null, 5])).toEqual([2, 7]);
  expect(isolatedPoints([4])).toEqual([0]);
  expect(isolatedPoints([undefined, 0, undefined])).toEqual([1]);
  expect(isolatedPoints([1, 2, 3])).toEqual([]);
});

it('labels in time order get rows so that no two on one row overlap, while rows are left (property)', () => {
  fc.assert(
    fc.property(fc.array(fc.record({ x: fc.integer({ min: 0, max: 1000 }), width: fc.integer({ min: 10, max: 120 }) }), { maxLength: 12 }), (raw) => {
      const labels = [...raw].sort((a, b) => a.x - b.x);
      const rows = labelRows(labels, labels.length || 1, 4);
      for (let i = 0; i < labels.length; i++) {
        for (let j = 0; j < i; j++) {
          if (rows[i] !== rows[j]) continue;
          // Same row: the earlier one ends (with the gap) before the later one starts.
          expect(labels[j]!.x + labels[j]!.width + 4).toBeLessThanOrEqual(labels[i]!.x);
        }
      }
    }),
  );
  // A patch and its auto-rollback 0.1 s later (a few pixels apart) are on two rows.
  expect(labelRows([{ x: 100, width: 80 }, { x: 103, width: 110 }], 6)).toEqual([0, 1]);
});
