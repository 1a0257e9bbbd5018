import { Packr } from 'msgpackr';
import { unpackOwnKeys } from '../../client/wire-keys.ts';
import { rebindError } from '../errors.ts';
import { binaryFrame } from './ws-frame.ts';

// The wire protocol: a binary frame is MessagePack, a text frame is JSON,
// with the same shapes.
//   request  [name, seq, payload]   seq 0: no reply wanted
//   reply    [seq, 0, result] or [seq, 1, {code, message}]
//   push     [event, 0, payload]    (first element a string)

const packr = new Packr({ useRecords: false, variableMapSize: true, mapsAsObjects: true, int64AsType: 'number', moreTypes: false });

export type Encoding = 'msgpack' | 'json';

export interface Request {
  name: string;
  seq: number;
  payload: unknown;
}

const MAX_NAME = 128;

export function encode(message: unknown, encoding: Encoding): Buffer | string {
  return encoding === 'msgpack' ? packr.pack(message) : JSON.stringify(message);
}

/** Pushes handed to connections (one per recipient), and their bytes: `sync` is $state, $delta and $patch, `other` the rest. Read by /metrics. */
export const pushCounters = { syncMessages: 0, syncBytes: 0, otherMessages: 0, otherBytes: 0 };

/** Encodes once for both kinds of client, lazily (most rooms use one kind). */
export class EncodedOnce {
  private binary: Buffer | undefined;
  private frame: { frame: Buffer; bytes: number } | undefined;
  private text: string | undefined;
  private textBytes = 0;
  private readonly sync: boolean;
  /** Builds the message for a JSON reader, when the binary form was written directly (a sync delta's frame). */
  private build: (() => unknown) | undefined;
  /** A message whose MessagePack bytes are already written; `build` makes it for JSON readers, only if one asks. */
  static prebuilt(event: string, binary: Buffer, build: () => unknown): EncodedOnce {
    const once = new EncodedOnce([event], () => binary);
    once.build = build;
    return once;
  }
  constructor(
    private readonly message: unknown,
    /** The binary form, if not msgpackr's: sync deltas use sync-writer.ts's smallest exact numbers. */
    private readonly pack: (message: unknown) => Buffer = (m) => packr.pack(m),
  ) {
    const event = Array.isArray(message) ? message[0] : undefined;
    this.sync = event === '$patch' || event === '$state' || event === '$delta';
  }
  /** Called once per recipient, so counting here counts what is sent (encoding stays once per message). */
  for(encoding: Encoding): Buffer | string {
    if (encoding === 'msgpack') {
      const out = (this.binary ??= this.pack(this.message));
      this.count(out.length);
      return out;
    }
    if (this.text === undefined) this.textBytes = Buffer.byteLength((this.text = JSON.stringify(this.build ? this.build() : this.message)));
    this.count(this.textBytes);
    return this.text;
  }

  /** The binary form as one WebSocket frame (ws-frame.ts), framed once however many sockets it is written to; `bytes` is the payload's length. Counted like `for`. */
  framed(): { frame: Buffer; bytes: number } {
    const framed = (this.frame ??= this.frameOnce());
    this.count(framed.bytes);
    return framed;
  }

  private frameOnce(): { frame: Buffer; bytes: number } {
    const binary = (this.binary ??= this.pack(this.message));
    return { frame: binaryFrame(binary), bytes: binary.length };
  }

  private count(bytes: number): void {
    if (this.sync) {
      pushCounters.syncMessages++;
      pushCounters.syncBytes += bytes;
    } else {
      pushCounters.otherMessages++;
      pushCounters.otherBytes += bytes;
    }
  }
}

function decodeRaw(data: Buffer, isBinary: boolean): unknown {
  try {
    // A `__proto__` key arrives as an own key (one decoder for both ends of the wire).
    return isBinary ? unpackOwnKeys(packr, data) : JSON.parse(data.toString('utf8'));
  } catch (err) {
    throw rebindError('BAD_FRAME', `${isBinary ? 'binary frame is not valid MessagePack' : 'text frame is not valid JSON'}: ${(err as Error).message}`);
  }
}

const JSON_SEQ = /^\s*\[\s*"(?:[^"\\]|\\.){0,128}"\s*,\s*(\d{1,15})\s*,/;

/**
 * The seq of a request without decoding its payload (0 if it cannot be
 * read), so that a refused frame (too large, over the rate) still gets a
 * reply its caller can match, at almost no cost.
 */
export function peekSeq(data: Buffer, isBinary: boolean): number {
  if (!isBinary) return Number(JSON_SEQ.exec(data.subarray(0, 200).toString('utf8'))?.[1] ?? 0);
  if (data[0] !== 0x93) return 0;
  let at = 1;
  const tag = data[at];
  if (tag === undefined) return 0;
  let length: number;
  if (tag >= 0xa0 && tag <= 0xbf) [length, at] = [tag & 0x1f, at + 1];
  else if (tag === 0xd9 && data.length > at + 1) [length, at] = [data[at + 1]!, at + 2];
  else if (tag === 0xda && data.length > at + 2) [length, at] = [data.readUInt16BE(at + 1), at + 3];
  else return 0;
  at += length;
  const n = data[at];
  if (n === undefined) return 0;
  if (n <= 0x7f) return n;
  if (n === 0xcc && data.length > at + 1) return data[at + 1]!;
  if (n === 0xcd && data.length > at + 2) return data.readUInt16BE(at + 1);
  if (n === 0xce && data.length > at + 4) return data.readUInt32BE(at + 1);
  if (n === 0xcf && data.length > at + 8) return Number(data.readBigUInt64BE(at + 1));
  if (n === 0xcb && data.length > at + 8) {
    const value = data.readDoubleBE(at + 1);
    return Number.isSafeInteger(value) && value > 0 ? value : 0;
  }
  return 0;
}

/** Decodes and checks a request frame; throws BAD_FRAME (with the seq, when one could be read). */
export function decodeRequest(data: Buffer, isBinary: boolean): Request {
  const message = decodeRaw(data, isBinary);
  if (!Array.isArray(message)) throw rebindError('BAD_FRAME', 'a request must be an array [name, seq, payload]');
  const [name, seq, payload] = message as [unknown, unknown, unknown];
  const seqOk = typeof seq === 'number' && Number.isSafeInteger(seq) && seq >= 0;
  const details = seqOk ? { seq } : undefined;
  if (message.length !== 3) throw rebindError('BAD_FRAME', `a request has 3 elements [name, seq, payload], this one has ${message.length}`, details ? { details } : {});
  if (!seqOk) throw rebindError('BAD_FRAME', 'seq (element 2) must be a whole number >= 0');
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_NAME) {
    throw rebindError('BAD_FRAME', `name (element 1) must be a handler name of 1 to ${MAX_NAME} characters`, { details: { seq } });
  }
  return { name, seq, payload: payload === undefined ? null : payload };
}

export function replyOk(seq: number, result: unknown): unknown[] {
  return [seq, 0, result === undefined ? null : result];
}

/** `redirect`: in a fleet, the node to go to (ROOM_ELSEWHERE, PLAYER_ELSEWHERE; see fleet-hooks.ts). */
export function replyError(seq: number, code: string, message: string, redirect?: object): unknown[] {
  // Logic chooses codes and messages (fail(code, message)): an unpaired surrogate in one would reach MessagePack
  // clients (UTF-8) as U+FFFD and JSON clients as itself. Both get U+FFFD.
  const text = { code: wellFormed(code), message: wellFormed(message) };
  return [seq, 1, redirect ? { ...text, redirect } : text];
}

function wellFormed(text: string): string {
  // (String.prototype.toWellFormed is Node 20's; the TypeScript lib in use predates it.)
  return (text as string & { toWellFormed(): string }).toWellFormed();
}

export function push(event: string, payload: unknown): unknown[] {
  return [event, 0, payload === undefined ? null : payload];
}
