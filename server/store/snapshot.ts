import path from 'node:path';
import type { Disk } from './io.ts';
import { frame, readFramedFile, setOwn } from './journal.ts';
import type { StoreLike } from './store.ts';
import { hostSetImmediate } from '../host-globals.ts';

// A snapshot file is a sequence of framed records: a header naming every
// store, then each store's data, a table's rows in chunks. The data is
// captured synchronously (store values are immutable, so capturing is
// copying references) and then encoded and written a chunk at a time, giving
// the event loop back between chunks: a 100 MB world does not stall the game
// while it is saved.

export interface SnapshotHeader {
  format: 2;
  seq: number;
  at: string;
  stores: Array<{ name: string; kind: string; version: number }>;
}

type Chunk = { s: string; value: unknown } | { s: string; rows: Array<[string, unknown]> };

export interface Captured {
  header: SnapshotHeader;
  chunks: () => Generator<Chunk>;
}

export interface SnapshotData {
  header: SnapshotHeader;
  stores: Map<string, { kind: string; version: number; data: unknown }>;
}

const ROWS_PER_CHUNK = 2000;

/** Takes a consistent picture of the stores, cheaply, right now. */
export function capture(seq: number, stores: Iterable<StoreLike>, extra: SnapshotData['stores']): Captured {
  const header: SnapshotHeader = { format: 2, seq, at: new Date().toISOString(), stores: [] };
  const parts: Array<{ name: string; value?: unknown; rows?: Array<[string, unknown]> }> = [];
  for (const store of stores) {
    header.stores.push({ name: store.name, kind: store.kind, version: store.version });
    if (store.kind === 'table') parts.push({ name: store.name, rows: (store as unknown as { committedEntries(): Array<[string, unknown]> }).committedEntries() });
    else parts.push({ name: store.name, value: store.snapshot() });
  }
  for (const [name, entry] of extra) {
    header.stores.push({ name, kind: entry.kind, version: entry.version });
    parts.push(entry.kind === 'table' ? { name, rows: Object.entries(entry.data as Record<string, unknown>) } : { name, value: entry.data });
  }
  return {
    header,
    *chunks() {
      for (const part of parts) {
        if (!part.rows) {
          yield { s: part.name, value: part.value };
          continue;
        }
        if (part.rows.length === 0) yield { s: part.name, rows: [] };
        for (let i = 0; i < part.rows.length; i += ROWS_PER_CHUNK) yield { s: part.name, rows: part.rows.slice(i, i + ROWS_PER_CHUNK) };
      }
    },
  };
}

/** Writes atomically (temporary file, fsync, rename, fsync of the folder), yielding between chunks. */
export async function writeSnapshot(disk: Disk, file: string, captured: Captured): Promise<number> {
  const tmp = `${file}.tmp-${process.pid}`;
  const handle = await disk.open(tmp, 'w');
  let bytes = 0;
  try {
    let batch: Buffer[] = [frame(captured.header)];
    let batchBytes = batch[0]!.length;
    const flush = async () => {
      await handle.writeAll(Buffer.concat(batch), bytes);
      bytes += batchBytes;
      batch = [];
      batchBytes = 0;
    };
    for (const chunk of captured.chunks()) {
      const framed = frame(chunk);
      batch.push(framed);
      batchBytes += framed.length;
      if (batchBytes >= 1 << 20) {
        await flush();
        await new Promise((resolve) => hostSetImmediate(resolve));
      }
    }
    if (batch.length) await flush();
    await handle.datasync();
    await handle.close();
    disk.renameSync(tmp, file);
    disk.syncDirSync(path.dirname(file));
  } catch (err) {
    await handle.close();
    try {
      disk.unlinkSync(tmp);
    } catch {
      // removed at the next start
    }
    throw err;
  }
  return bytes;
}

/** Reads a snapshot back; `problem` says why it cannot be used. */
export function readSnapshot(file: string): { data?: SnapshotData; problem?: string; offset?: number } {
  const read = readFramedFile(file);
  if (read.problem) return { problem: read.problem, offset: read.validBytes };
  const header = read.records[0] as SnapshotHeader | undefined;
  if (!header || header.format !== 2 || !Array.isArray(header.stores)) return { problem: 'not a rebind snapshot (unknown format)', offset: 0 };
  const stores: SnapshotData['stores'] = new Map();
  for (const meta of header.stores) stores.set(meta.name, { kind: meta.kind, version: meta.version, data: meta.kind === 'table' ? {} : null });
  for (const chunk of read.records.slice(1) as Chunk[]) {
    const entry = stores.get(chunk.s);
    if (!entry) return { problem: `data for a store "${chunk.s}" that the header does not name`, offset: 0 };
    if ('rows' in chunk) for (const [id, row] of chunk.rows) setOwn(entry.data as Record<string, unknown>, id, row);
    else entry.data = chunk.value;
  }
  return { data: { header, stores } };
}
