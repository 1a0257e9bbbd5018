import fc from 'fast-check';
import { expect, it } from 'vitest';
import { Packr, Unpackr } from 'msgpackr';
import { unpackOwnKeys } from '../../client/wire-keys.ts';

// A key "__proto__" survives decoding as an own key wherever it sits in a
// frame, short (a request, searched by a loop) or long (a sync frame or a
// journal record, searched natively, or by indexOf where there is no Buffer).

const packr = new Packr({ useRecords: false, variableMapSize: true });
const fast = new Unpackr({ useRecords: false, variableMapSize: true, mapsAsObjects: true });
const key = fc.constantFrom('__proto__', '__proto_', '_', 'a', '__', 'proto');
const leaf = fc.oneof(fc.integer(), fc.string({ maxLength: 4 }), fc.string({ minLength: 200, maxLength: 400 }));
const value = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('node'), { maxLength: 3 }), fc.dictionary(key, tie('node'), { maxKeys: 3 })),
})).node;

/** An object with these own keys, "__proto__" included, as JSON.parse makes it. */
const owned = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

it('keeps "__proto__" as an own key in frames of every length, from a Buffer or a plain Uint8Array (fast-check)', () => {
  fc.assert(
    fc.property(value, (v) => {
      const message = owned(v);
      const bytes = packr.pack(message);
      for (const input of [bytes, new Uint8Array(bytes)]) {
        const decoded = unpackOwnKeys(fast, input);
        expect(JSON.stringify(decoded)).toBe(JSON.stringify(message));
      }
    }),
    { numRuns: 500 },
  );
});

it('finds the key at the very end of a short frame and in a long one', () => {
  for (const padding of ['', 'x'.repeat(300)]) {
    const message = JSON.parse(`{"pad":"${padding}","__proto__":1}`);
    const bytes = packr.pack(message);
    expect(Object.keys(unpackOwnKeys(fast, bytes) as object)).toEqual(['pad', '__proto__']);
  }
});
