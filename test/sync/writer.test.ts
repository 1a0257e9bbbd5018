import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { expect, it } from 'vitest';
import { readFrame } from '../../client/room-replicas.ts';
import { packCompact, SyncWriter } from '../../server/net/sync-writer.ts';

// Sync frames write every number in its smallest exact form; the client's
// reader must get back exactly the number the server had.

const plain = new Packr({ useRecords: false, variableMapSize: true, mapsAsObjects: true });

function size(n: number): number {
  const w = new SyncWriter();
  w.number(n);
  return w.finish().length;
}

it('reads back every double exactly (-0 aside, which travels as 0 as JSON does)', () => {
  fc.assert(
    fc.property(fc.oneof(fc.double(), fc.integer(), fc.integer({ min: -100000, max: 100000 }).map((v) => v / 10), fc.integer({ min: -40000, max: 40000 }).map((v) => v / 1000), fc.float().map(Number)), (n) => {
      const back = readFrame(packCompact([n])) as number[];
      if (Object.is(n, -0)) expect(back[0]).toBe(0);
      else expect(back[0]).toBe(n); // toBe is Object.is: NaN equals NaN, nothing else is loose
    }),
    { numRuns: 20000 },
  );
});

it('never writes a number bigger than msgpackr does, and writes positions in 3 or 4 bytes', () => {
  fc.assert(
    fc.property(fc.double({ noNaN: true }), (n) => {
      expect(size(n)).toBeLessThanOrEqual(plain.pack(n).length);
    }),
  );
  expect([size(7), size(300), size(123.4), size(1.5), size(-0.25), size(799.9), size(0.1 + 0.2), size(1e300)]).toEqual([1, 3, 4, 3, 3, 4, 9, 9]);
  // A float32 that is exact only with the reader's decimal rounding: 5 bytes.
  expect(size(1234.567)).toBe(5);
});

it('writes nested values, strings and keys as msgpack the client reads back whole', () => {
  const value = { a: [1, 2.5, 'x', null, true, false], 'é': { deep: [123.4, -7, 2 ** 40] }, s: 'ü'.repeat(40), big: 'y'.repeat(70000), list: Array.from({ length: 20 }, (_, i) => i) };
  expect(readFrame(packCompact(value))).toEqual(value);
});

it("writes a row group's rows from their bits as a gap and a copy per row would, for any rows and value lengths", () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.record({ row: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 100_000 })), values: fc.array(fc.oneof(fc.integer(), fc.double({ noNaN: true }), fc.string({ maxLength: 40 })), { maxLength: 4 }) }), { selector: (r) => r.row, maxLength: 300 }),
      (spec) => {
        // The rows' values encoded once, as a tick's pieces are; their spans by row, and a bit per row.
        const source = new SyncWriter();
        const spans = new Int32Array(2 * 100_001);
        const bits = new Uint32Array((100_000 >>> 5) + 1);
        for (const { row, values } of spec) {
          const start = source.length;
          for (const v of values) source.value(v);
          spans[2 * row] = start;
          spans[2 * row + 1] = source.length;
          bits[row >>> 5]! |= 1 << (row & 31);
        }
        const bytes = source.finish();
        const ascending = spec.map((r) => r.row).sort((a, b) => a - b);
        const oneByOne = new SyncWriter();
        const fromBits = new SyncWriter();
        for (const w of [oneByOne, fromBits]) w.string('before');
        let previous = 0;
        for (const row of ascending) {
          oneByOne.number(row - previous);
          oneByOne.bytes(bytes, spans[2 * row]!, spans[2 * row + 1]!);
          previous = row;
        }
        const rows = new Int32Array(ascending.length + 2).fill(-1);
        fromBits.rowsByBits(bits, ascending.length, spans, bytes, rows, 2);
        for (const w of [oneByOne, fromBits]) w.string('after');
        expect(fromBits.finish()).toEqual(oneByOne.finish());
        expect([...rows]).toEqual([-1, -1, ...ascending]);
        // The bits are read and cleared: the next member's start from nothing.
        expect(bits.every((word) => word === 0)).toBe(true);
      },
    ),
    { numRuns: 300 },
  );
});
