import { Packr, roundFloat32 } from 'msgpackr';
import { SCALE } from '../../client/decimal.ts';

// MessagePack for sync frames, every number in its smallest exact form: an
// integer in the fewest bytes, a short decimal (client/decimal.ts) in 3 or 4,
// a fraction as a 32-bit float when the reader gets exactly the same number
// back, else a 64-bit float. "Exactly back"
// means after the reader's rounding of 32-bit floats to their significant
// decimal digits (msgpackr's DECIMAL_FIT decoding, which the client uses):
// 123.4 travels in 5 bytes and arrives as 123.4, never as 123.40000152.
// The check runs the reader's own rounding, so it cannot disagree with it.

const fallback = new Packr({ useRecords: false, variableMapSize: true, mapsAsObjects: true, int64AsType: 'number', moreTypes: false });

export class SyncWriter {
  private buf = Buffer.allocUnsafe(4096);
  private at = 0;

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(next, 0, 0, this.at);
    this.buf = next;
  }

  /** Starts a new message in the same buffer (a tick writes one per member: one buffer, not one each). */
  reset(): void {
    this.at = 0;
  }

  get length(): number {
    return this.at;
  }

  /** Bytes already encoded (a row's values, written once per tick). */
  bytes(source: Buffer, start: number, end: number): void {
    this.room(end - start);
    // A row's few bytes: a loop beats Buffer.copy's call overhead.
    if (end - start <= 32) for (let i = start; i < end; i++) this.buf[this.at++] = source[i]!;
    else {
      source.copy(this.buf, this.at, start, end);
      this.at += end - start;
    }
  }

  /**
   * A row group's rows, ascending: the `count` rows whose bits are set in
   * `bits` (row key ids; cleared as they are read), each as its gap from the one
   * before and its values' bytes already encoded (`source[spans[2 * row],
   * spans[2 * row + 1])`). The rows go to `rows` from `at` on. One call for
   * a group, where a call per row (a gap, then a copy) was the most of a
   * member's frame at a thousand members.
   */
  rowsByBits(bits: Uint32Array, count: number, spans: Int32Array, source: Buffer, rows: Int32Array, at: number): void {
    // Room once for the most this can write: a gap of 9 bytes at most per row (`count` bits are set), and the rows' bytes are among `source`'s.
    this.room(9 * count + source.length);
    const b = this.buf;
    let to = this.at;
    let previous = 0;
    let n = at;
    for (let w = 0; w < bits.length; w++) {
      let word = bits[w]!;
      if (word === 0) continue;
      bits[w] = 0;
      while (word !== 0) {
        const low = word & -word;
        word ^= low;
        const row = (w << 5) + 31 - Math.clz32(low);
        rows[n++] = row;
        const gap = row - previous;
        previous = row;
        // Gaps between ascending rows: 0 or more, 1 byte below 128.
        if (gap < 0x80) b[to++] = gap;
        else {
          this.at = to;
          this.number(gap);
          to = this.at;
        }
        const start = spans[2 * row]!;
        const end = spans[2 * row + 1]!;
        if (end - start <= 32) for (let k = start; k < end; k++) b[to++] = source[k]!;
        else to += source.copy(b, to, start, end);
      }
    }
    this.at = to;
  }

  /** Bytes another writer holds at [start, end) (a member's row groups, written when it was taken). */
  copyOf(other: SyncWriter, start: number, end: number): void {
    this.bytes(other.buf, start, end);
  }

  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.at));
  }

  arrayHeader(length: number): void {
    this.header(length, 0x90, 0xdc);
  }

  /** A container's header: fix form under 16 entries, else the 16- or 32-bit form (`wide`, `wide + 1`). */
  private header(length: number, fix: number, wide: number): void {
    this.room(5);
    if (length < 16) this.buf[this.at++] = fix | length;
    else if (length < 0x10000) {
      this.buf[this.at++] = wide;
      this.buf.writeUInt16BE(length, this.at);
      this.at += 2;
    } else {
      this.buf[this.at++] = wide + 1;
      this.buf.writeUInt32BE(length, this.at);
      this.at += 4;
    }
  }

  number(n: number): void {
    this.room(9);
    const b = this.buf;
    if (Number.isInteger(n) && n >= -0x80000000 && n <= 0xffffffff) {
      if (n >= 0) {
        if (n < 0x80) b[this.at++] = n;
        else if (n < 0x100) (b[this.at++] = 0xcc), (b[this.at++] = n);
        else if (n < 0x10000) (b[this.at++] = 0xcd), b.writeUInt16BE(n, this.at), (this.at += 2);
        else (b[this.at++] = 0xce), b.writeUInt32BE(n, this.at), (this.at += 4);
      } else if (n >= -32) b[this.at++] = 0xe0 | (n + 32);
      else if (n >= -0x80) (b[this.at++] = 0xd0), b.writeInt8(n, this.at), (this.at += 1);
      else if (n >= -0x8000) (b[this.at++] = 0xd1), b.writeInt16BE(n, this.at), (this.at += 2);
      else (b[this.at++] = 0xd2), b.writeInt32BE(n, this.at), (this.at += 4);
      return;
    }
    if (this.decimal(n)) return;
    const single = Math.fround(n);
    if (Number.isFinite(single) && roundFloat32(single) === n) {
      b[this.at++] = 0xca;
      b.writeFloatBE(single, this.at);
      this.at += 4;
      return;
    }
    // Integers past 32 bits, NaN, infinities and fractions that need 64 bits.
    b[this.at++] = 0xcb;
    b.writeDoubleBE(n, this.at);
    this.at += 8;
  }

  /** A short decimal (client/decimal.ts), if `n` is one: 3 or 4 bytes. */
  private decimal(n: number): boolean {
    for (let digits = 1; digits <= 3; digits++) {
      const mantissa = Math.round(n * SCALE[digits]!);
      if (mantissa < -0x8000 || mantissa > 0x7fff) return false;
      if (mantissa / SCALE[digits]! !== n) continue;
      const b = this.buf;
      if (mantissa >= -0x80 && mantissa <= 0x7f) {
        b[this.at++] = 0xd4;
        b[this.at++] = digits;
        b.writeInt8(mantissa, this.at);
        this.at += 1;
      } else {
        b[this.at++] = 0xd5;
        b[this.at++] = digits;
        b.writeInt16BE(mantissa, this.at);
        this.at += 2;
      }
      return true;
    }
    return false;
  }

  string(s: string): void {
    if (s.length < 32 && this.ascii(s)) return;
    const length = Buffer.byteLength(s);
    this.room(length + 5);
    const b = this.buf;
    if (length < 32) b[this.at++] = 0xa0 | length;
    else if (length < 0x100) (b[this.at++] = 0xd9), (b[this.at++] = length);
    else if (length < 0x10000) (b[this.at++] = 0xda), b.writeUInt16BE(length, this.at), (this.at += 2);
    else (b[this.at++] = 0xdb), b.writeUInt32BE(length, this.at), (this.at += 4);
    this.at += b.write(s, this.at, 'utf8');
  }

  /** A short string of ASCII characters written byte by byte (a row's keys, an id): two native calls cost more. False, and nothing written, for any other. */
  private ascii(s: string): boolean {
    this.room(s.length + 1);
    const b = this.buf;
    const at = this.at;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) return false;
      b[at + 1 + i] = c;
    }
    b[at] = 0xa0 | s.length;
    this.at = at + 1 + s.length;
    return true;
  }

  /** Any plain value: arrays and objects recursively, so numbers inside rows are compact too. */
  value(v: unknown): void {
    switch (typeof v) {
      case 'number':
        return this.number(v);
      case 'string':
        return this.string(v);
      case 'boolean':
        this.room(1);
        this.buf[this.at++] = v ? 0xc3 : 0xc2;
        return;
      case 'undefined':
        // As msgpackr writes it (fixext 1 of type 0), so that it reads back as undefined, as in a $state, not as null.
        this.room(3);
        this.buf[this.at++] = 0xd4;
        this.buf[this.at++] = 0;
        this.buf[this.at++] = 0;
        return;
    }
    if (v === null) {
      this.room(1);
      this.buf[this.at++] = 0xc0;
    } else if (Array.isArray(v)) {
      this.arrayHeader(v.length);
      for (const item of v) this.value(item);
    } else if (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null) {
      const keys = Object.keys(v as object);
      this.header(keys.length, 0x80, 0xde);
      for (const key of keys) {
        this.string(key);
        this.value((v as Record<string, unknown>)[key]);
      }
    } else this.raw(fallback.pack(v));
  }

  private raw(bytes: Uint8Array): void {
    this.room(bytes.length);
    this.buf.set(bytes, this.at);
    this.at += bytes.length;
  }
}

/** A whole message, written compactly. */
export function packCompact(message: unknown): Buffer {
  const w = new SyncWriter();
  w.value(message);
  return w.finish();
}
