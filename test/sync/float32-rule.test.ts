import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readFrame } from '../../client/room-replicas.ts';
import { packCompact } from '../../server/net/sync-writer.ts';

// docs/protocol.md states how a reader rounds a sync frame's 32-bit floats,
// so that a client in another language can be written from the doc alone.
// This is that rule, written from the doc's words (not from msgpackr), checked
// against the client's decoder over many floats and against what the server sends.

const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');

/** The doc's rule, step by step, from the 4 big-endian bytes of a 32-bit float. */
function docRule(bytes: Uint8Array): number {
  const f = new DataView(bytes.buffer, bytes.byteOffset, 4).getFloat32(0);
  const e = ((bytes[0]! & 0x7f) << 1) | (bytes[1]! >> 7);
  const k = Math.floor(45.15 - e * 0.30103);
  const m = Number(`1e${k}`);
  // An integer: no -0 (which would make -0 of 0 / m).
  const n = Math.trunc(m * f + (f > 0 ? 0.5 : -0.5)) + 0;
  return n / m;
}

function float32Bytes(f: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setFloat32(0, f);
  return bytes;
}

const clientReads = (bytes: Uint8Array): unknown => readFrame(new Uint8Array([0xca, ...bytes]));

describe("docs/protocol.md's rule for 32-bit floats", () => {
  it('is in the doc with the constants and example this test uses', () => {
    expect(doc).toContain('k = floor(45.15 - e * 0.30103)');
    expect(doc).toContain('n = m * f + (f > 0 ? 0.5 : -0.5)');
    expect(doc).toContain('12345.678 (`ca 46 40 e6 b6`, `e = 140`, `m = 1000`)');
    expect(docRule(new Uint8Array([0x46, 0x40, 0xe6, 0xb6]))).toBe(12345.678);
  });

  it('gives what the client decodes, for every kind of finite 32-bit float', () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true, noDefaultInfinity: true }), (f) => {
        const bytes = float32Bytes(f);
        expect(clientReads(bytes)).toBe(docRule(bytes));
      }),
      { numRuns: 20_000 },
    );
  });

  it('gives back exactly every number the server sends as a 32-bit float', () => {
    // Decimals of every size and precision, where 32-bit floats are chosen most.
    const decimal = fc.tuple(fc.integer({ min: -99_999_999, max: 99_999_999 }), fc.integer({ min: 0, max: 12 })).map(([digits, point]) => digits / 10 ** point);
    let floats = 0;
    fc.assert(
      fc.property(fc.oneof(decimal, fc.double({ noNaN: true, noDefaultInfinity: true })), (x) => {
        const bytes = packCompact(x);
        if (bytes[0] !== 0xca) return;
        floats++;
        expect(docRule(bytes.subarray(1, 5))).toBe(x);
        expect(clientReads(bytes.subarray(1, 5))).toBe(x);
      }),
      { numRuns: 20_000 },
    );
    expect(floats).toBeGreaterThan(1000);
  });
});
