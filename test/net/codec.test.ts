import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { decodeRequest, peekSeq } from '../../server/net/codec.ts';

const packr = new Packr({ useRecords: false });

describe('the wire codec', () => {
  it('peeks the seq of a request without decoding its payload, in both encodings', () => {
    const big = { blob: 'x'.repeat(100_000) };
    for (const seq of [1, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 40]) {
      for (const name of ['a.b', 'n'.repeat(40), 'm'.repeat(300)]) {
        expect(peekSeq(packr.pack([name, seq, big]), true)).toBe(seq);
        expect(peekSeq(Buffer.from(JSON.stringify([name.slice(0, 128), seq, big])), false)).toBe(seq);
      }
    }
    expect(peekSeq(Buffer.from([0xc1, 0x00]), true)).toBe(0);
    expect(peekSeq(packr.pack(['a', -1, null]), true)).toBe(0);
    expect(peekSeq(Buffer.from('{"not":"a request"}'), false)).toBe(0);
    expect(peekSeq(Buffer.from('["a\\"b", 42, {}]'), false)).toBe(42);
    expect(peekSeq(Buffer.alloc(0), true)).toBe(0);
  });

  it('decodes requests and says what is wrong with bad ones', () => {
    expect(decodeRequest(packr.pack(['chat.say', 3, { text: 'hi' }]), true)).toEqual({ name: 'chat.say', seq: 3, payload: { text: 'hi' } });
    expect(() => decodeRequest(Buffer.from('["chat.say",4]'), false)).toThrow(expect.objectContaining({ code: 'BAD_FRAME', message: 'a request has 3 elements [name, seq, payload], this one has 2' }));
    expect(() => decodeRequest(packr.pack(['x', 1.5, null]), true)).toThrow(expect.objectContaining({ code: 'BAD_FRAME', message: 'seq (element 2) must be a whole number >= 0' }));
    expect(() => decodeRequest(packr.pack(['', 1, null]), true)).toThrow(expect.objectContaining({ code: 'BAD_FRAME' }));
    expect(decodeRequest(Buffer.from('["a.b",0]'.replace(']', ',null]')), false)).toEqual({ name: 'a.b', seq: 0, payload: null });
  });
});
