import { addExtension } from 'msgpackr';

// A short decimal on the sync wire (docs/protocol.md): a fraction with 1 to
// 3 digits after the point whose digits fit 16 bits (123.4, -0.25, 2.125)
// travels as a MessagePack fixext of type 1, 2 or 3 (the number of digits)
// holding the signed integer `value * 10^digits`: 3 or 4 bytes where a
// 32-bit float takes 5 and a 64-bit one 9. The server sends one only when
// this division gives back exactly its number.

export const DECIMAL_TYPES = [1, 2, 3] as const;
export const SCALE = [1, 10, 100, 1000] as const;

/** The number a decimal extension's payload holds. */
export function readDecimal(digits: number, payload: Uint8Array): number {
  let mantissa: number;
  if (payload.length === 1) mantissa = (payload[0]! << 24) >> 24;
  else if (payload.length === 2) mantissa = (((payload[0]! << 8) | payload[1]!) << 16) >> 16;
  else throw new Error(`a decimal of ${payload.length} bytes is not one this client reads (1 or 2)`);
  return mantissa / SCALE[digits]!;
}

let registered = false;

/** Teaches msgpackr (every reader in this process) the decimal extension; idempotent. */
export function readDecimals(): void {
  if (registered) return;
  registered = true;
  for (const type of DECIMAL_TYPES) addExtension({ type, unpack: (payload: Uint8Array) => readDecimal(type, payload) } as unknown as Parameters<typeof addExtension>[0]);
}
