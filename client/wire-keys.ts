import { FLOAT32_OPTIONS, Unpackr } from 'msgpackr';

// msgpackr decodes a map key `__proto__` as `__proto_` (its guard against
// prototype pollution), so a player named `__proto__` would arrive renamed.
// Frames that contain those bytes anywhere are decoded into Maps instead and
// rebuilt with own properties; every other frame takes the fast path.

const maps = new Unpackr({ useRecords: false, variableMapSize: true, mapsAsObjects: false, int64AsType: 'number' });
// Sync frames carry fractions as 32-bit floats that the reader rounds to their significant digits (see server/net/sync-writer.ts).
const roundingMaps = new Unpackr({ useRecords: false, variableMapSize: true, mapsAsObjects: false, int64AsType: 'number', useFloat32: FLOAT32_OPTIONS.DECIMAL_FIT });
const NEEDLE = [...'__proto__'].map((c) => c.charCodeAt(0));

// Node's Buffer searches natively (the server decodes every journal record on
// recovery through here); browsers have no Buffer and take the loop.
const NodeBuffer = (globalThis as { Buffer?: { isBuffer(b: unknown): boolean; from(s: string): Uint8Array } }).Buffer;
const NEEDLE_BUFFER = NodeBuffer?.from('__proto__');

/** Below this many bytes (a player's request) a plain loop beats a search call, which costs more than the scan. */
const SHORT = 256;

function mentionsProto(bytes: Uint8Array): boolean {
  const first = NEEDLE[0]!;
  const last = bytes.length - NEEDLE.length;
  if (bytes.length < SHORT) {
    for (let i = 0; i <= last; i++) if (bytes[i] === first && matchesAt(bytes, i)) return true;
    return false;
  }
  if (NEEDLE_BUFFER && NodeBuffer!.isBuffer(bytes)) return bytes.indexOf(NEEDLE_BUFFER as unknown as number) !== -1;
  for (let i = bytes.indexOf(first); i !== -1 && i <= last; i = bytes.indexOf(first, i + 1)) if (matchesAt(bytes, i)) return true;
  return false;
}

function matchesAt(bytes: Uint8Array, at: number): boolean {
  for (let j = 1; j < NEEDLE.length; j++) if (bytes[at + j] !== NEEDLE[j]) return false;
  return true;
}

function withOwnKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withOwnKeys);
  if (!(value instanceof Map)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of value) Object.defineProperty(out, String(key), { value: withOwnKeys(v), writable: true, enumerable: true, configurable: true });
  return out;
}

/**
 * Decodes a binary frame with `fast` (maps as objects), keeping any `__proto__` key as an own key.
 * `rounding`: `fast` rounds 32-bit floats to their significant digits (a client reading sync frames).
 */
export function unpackOwnKeys(fast: { unpack(bytes: Uint8Array): unknown }, bytes: Uint8Array, rounding = false): unknown {
  return mentionsProto(bytes) ? withOwnKeys((rounding ? roundingMaps : maps).unpack(bytes)) : fast.unpack(bytes);
}
