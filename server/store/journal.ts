import { readFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { Packr, RESERVE_START_SPACE } from 'msgpackr';
import { unpackOwnKeys } from '../../client/wire-keys.ts';

// The on-disk framing shared by snapshots and the journal: each record is
//   [u32 length][u32 crc32 of the payload][payload: MessagePack]
// so a torn write or flipped bits are detected, and the valid prefix of a
// file can always be recovered.

const OPTIONS = { useRecords: false, variableMapSize: true, int64AsType: 'number', moreTypes: false } as const;
export const packr = new Packr({ ...OPTIONS, mapsAsObjects: true });
// A "__proto__" key stays an own key (msgpackr would rename it): the one
// decoder the wire uses too.
const PROTO = Buffer.from('__proto__');
const HEADER = 8;

export function frame(value: unknown): Buffer {
  // The payload is encoded behind HEADER bytes msgpackr leaves free, and the
  // header written into them: no second buffer and no copy (a journal record
  // is framed for every committed transaction).
  const out = packr.pack(value, RESERVE_START_SPACE | HEADER);
  const payload = out.subarray(HEADER);
  out.writeUInt32LE(payload.length, 0);
  out.writeUInt32LE(crc32(payload), 4);
  return out;
}

export function decode(payload: Buffer, mayHaveProto = true): unknown {
  return mayHaveProto ? unpackOwnKeys(packr, payload) : packr.unpack(payload);
}

export interface ReadResult {
  records: unknown[];
  /** Byte offset just past the last valid record. */
  validBytes: number;
  totalBytes: number;
  /** Why reading stopped early, if it did. */
  problem?: string;
}

/** The length of a valid frame starting at `offset`, or 0 if none starts there. */
function validFrameAt(buffer: Buffer, offset: number): number {
  if (buffer.length - offset < HEADER) return 0;
  const length = buffer.readUInt32LE(offset);
  if (length === 0 || offset + HEADER + length > buffer.length) return 0;
  return crc32(buffer.subarray(offset + HEADER, offset + HEADER + length)) === buffer.readUInt32LE(offset + 4) ? HEADER + length : 0;
}

/**
 * Decodes the records of a framed file one at a time, in order, handing each
 * with its byte offset to `onRecord` (which may return false to stop there:
 * that record then does not count as valid). Stops at the first record that
 * is torn, fails its checksum or cannot be decoded, and says why.
 */
export function scanFramed(buffer: Buffer, onRecord: (record: unknown, offset: number) => boolean | void): Omit<ReadResult, 'records'> {
  let offset = 0;
  let problem: string | undefined;
  // One search of the whole file spares a search per record in the usual case.
  const mayHaveProto = buffer.indexOf(PROTO) !== -1;
  while (offset < buffer.length) {
    if (buffer.length - offset < HEADER) {
      problem = 'a torn record header at the end';
      break;
    }
    const length = buffer.readUInt32LE(offset);
    const sum = buffer.readUInt32LE(offset + 4);
    if (offset + HEADER + length > buffer.length) {
      problem = 'a record longer than the rest of the file (torn, or a damaged length)';
      break;
    }
    const payload = buffer.subarray(offset + HEADER, offset + HEADER + length);
    if (crc32(payload) !== sum) {
      problem = 'a record whose checksum does not match (corrupt bytes)';
      break;
    }
    let record: unknown;
    try {
      record = decode(payload, mayHaveProto);
    } catch {
      problem = 'a record that is not valid MessagePack';
      break;
    }
    if (onRecord(record, offset) === false) break;
    offset += HEADER + length;
  }
  return { validBytes: offset, totalBytes: buffer.length, ...(problem ? { problem } : {}) };
}

export function readFramed(buffer: Buffer): ReadResult {
  const records: unknown[] = [];
  return { records, ...scanFramed(buffer, (record) => void records.push(record)) };
}

export function readFramedFile(file: string): ReadResult {
  return readFramed(readFileSync(file));
}

/**
 * The valid records found after damage at `from`. A record whose declared
 * length runs past the end of the file is what a crash leaves (a torn tail):
 * nothing can follow it, and its payload (which may hold anything a player
 * wrote, valid frames included) is never searched. Otherwise the search
 * starts at the damaged record's declared end, trying every position there,
 * so a damaged length field does not hide what follows.
 */
export function recordsAfter(buffer: Buffer, from: number): unknown[] {
  if (buffer.length - from < HEADER) return [];
  const end = from + HEADER + buffer.readUInt32LE(from);
  if (end > buffer.length) return [];
  return framesFrom(buffer, Math.max(end, from + 1));
}

/** Every valid, decodable frame from `start` on, trying each position (for counting what damage hides). */
export function framesFrom(buffer: Buffer, start: number): unknown[] {
  const found: unknown[] = [];
  for (let at = start; at + HEADER < buffer.length; ) {
    const length = validFrameAt(buffer, at);
    if (length === 0) {
      at++;
      continue;
    }
    try {
      found.push(decode(buffer.subarray(at + HEADER, at + length)));
    } catch {
      // a checksum match on garbage: count it as damage, not as a record
    }
    at += length;
  }
  return found;
}
