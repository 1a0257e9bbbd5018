import { closeSync, fsyncSync, openSync, readFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { Packr } from 'msgpackr';

// The on-disk framing shared by snapshots and the journal: each record is
//   [u32 length][u32 crc32 of the payload][payload: MessagePack]
// so a torn write or flipped bits are detected, and the valid prefix of a
// file can always be recovered.

export const packr = new Packr({ useRecords: false, variableMapSize: true, mapsAsObjects: true, int64AsType: 'number', moreTypes: false });
const HEADER = 8;

export function frame(value: unknown): Buffer {
  const payload = packr.pack(value);
  const out = Buffer.allocUnsafe(HEADER + payload.length);
  out.writeUInt32LE(payload.length, 0);
  out.writeUInt32LE(crc32(payload), 4);
  payload.copy(out, HEADER);
  return out;
}

export interface ReadResult {
  records: unknown[];
  /** Byte offset just past the last valid record. */
  validBytes: number;
  totalBytes: number;
  /** Records after the valid prefix whose headers could still be followed (at least 1 when bytes were dropped). */
  droppedRecords: number;
  /** Why reading stopped early, if it did. */
  problem?: string;
}

export function readFramed(buffer: Buffer): ReadResult {
  const records: unknown[] = [];
  let offset = 0;
  let problem: string | undefined;
  while (offset < buffer.length) {
    if (buffer.length - offset < HEADER) {
      problem = 'a torn record header at the end';
      break;
    }
    const length = buffer.readUInt32LE(offset);
    const sum = buffer.readUInt32LE(offset + 4);
    if (offset + HEADER + length > buffer.length) {
      problem = 'a torn record at the end (shorter than its length says)';
      break;
    }
    const payload = buffer.subarray(offset + HEADER, offset + HEADER + length);
    if (crc32(payload) !== sum) {
      problem = 'a record whose checksum does not match (corrupt bytes)';
      break;
    }
    try {
      records.push(packr.unpack(payload));
    } catch {
      problem = 'a record that is not valid MessagePack';
      break;
    }
    offset += HEADER + length;
  }
  let dropped = 0;
  if (offset < buffer.length) {
    dropped = 1;
    let at = offset + HEADER + (buffer.length - offset >= HEADER ? buffer.readUInt32LE(offset) : 0);
    while (at + HEADER <= buffer.length) {
      const length = buffer.readUInt32LE(at);
      if (at + HEADER + length > buffer.length) {
        dropped++;
        break;
      }
      dropped++;
      at += HEADER + length;
    }
  }
  return { records, validBytes: offset, totalBytes: buffer.length, droppedRecords: dropped, ...(problem ? { problem } : {}) };
}

export function readFramedFile(file: string): ReadResult {
  return readFramed(readFileSync(file));
}

export function syncFolder(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
