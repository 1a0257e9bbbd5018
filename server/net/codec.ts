import { Packr } from 'msgpackr';
import { rebindError } from '../errors.ts';

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

/** Encodes once for both kinds of client, lazily (most rooms use one kind). */
export class EncodedOnce {
  private binary: Buffer | undefined;
  private text: string | undefined;
  constructor(private readonly message: unknown) {}
  for(encoding: Encoding): Buffer | string {
    if (encoding === 'msgpack') return (this.binary ??= packr.pack(this.message));
    return (this.text ??= JSON.stringify(this.message));
  }
}

function decodeRaw(data: Buffer, isBinary: boolean): unknown {
  try {
    return isBinary ? packr.unpack(data) : JSON.parse(data.toString('utf8'));
  } catch (err) {
    throw rebindError('BAD_FRAME', `${isBinary ? 'binary frame is not valid MessagePack' : 'text frame is not valid JSON'}: ${(err as Error).message}`);
  }
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

export function replyError(seq: number, code: string, message: string): unknown[] {
  return [seq, 1, { code, message }];
}

export function push(event: string, payload: unknown): unknown[] {
  return [event, 0, payload === undefined ? null : payload];
}
