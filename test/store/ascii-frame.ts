import { crc32 } from 'node:zlib';

/**
 * A valid journal frame (length 1, its crc, one MessagePack byte) made only of bytes below 0x80, so that it
 * survives inside a player's text: rows full of these test that a torn tail is told from damage by more than
 * "a frame parses here".
 */
export function asciiFrame(): string {
  for (let b = 0; b < 128; b++) {
    const payload = Buffer.from([b]);
    const header = Buffer.alloc(8);
    header.writeUInt32LE(1, 0);
    header.writeUInt32LE(crc32(payload), 4);
    if ([...header].every((x) => x < 0x80)) return Buffer.concat([header, payload]).toString('latin1');
  }
  throw new Error('no ascii frame');
}
