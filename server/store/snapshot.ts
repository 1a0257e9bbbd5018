import path from 'node:path';
import type { Disk } from './io.ts';
import { setOwn } from '../../client/replica.ts';
import { frame, readFramedFile } from './journal.ts';
import type { StoreLike } from './store.ts';
import { hostSetImmediate } from '../host-globals.ts';

// A snapshot file is a sequence of framed records: a header naming every
// store, then each store's data, a table's rows in chunks. The data is
// captured synchronously (store values are immutable, so capturing is
// copying references) and then encoded and written a chunk at a time, giving
// the event loop back between chunks: a 100 MB world does not stall the game
// while it is saved. Format 3 ends with an end record counting the stores,
// rows and records written: a file cut at a record boundary (its records all
// valid) is refused, not loaded as if complete. Format 2 snapshots (written
// before the end record existed) are still read, with a warning: for them a
// cut at a record boundary after the last store's first chunk cannot be seen.

export const SNAPSHOT_FORMAT = 3;

export interface SnapshotHeader {
  format: 2 | 3;
  seq: number;
  at: string;
  stores: Array<{ name: string; kind: string; version: number }>;
}

type Chunk = { s: string; value: unknown } | { s: string; rows: Array<[string, unknown]> };

/** The last record of a format-3 snapshot: how many stores, rows and data records (chunks) it holds. */
interface SnapshotEnd {
  end: true;
  stores: number;
  rows: number;
  chunks: number;
}

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
  const header: SnapshotHeader = { format: SNAPSHOT_FORMAT, seq, at: new Date().toISOString(), stores: [] };
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
    const end: SnapshotEnd = { end: true, stores: captured.header.stores.length, rows: 0, chunks: 0 };
    for (const chunk of captured.chunks()) {
      end.chunks++;
      if ('rows' in chunk) end.rows += chunk.rows.length;
      const framed = frame(chunk);
      batch.push(framed);
      batchBytes += framed.length;
      if (batchBytes >= 1 << 20) {
        await flush();
        await new Promise((resolve) => hostSetImmediate(resolve));
      }
    }
    const last = frame(end);
    batch.push(last);
    batchBytes += last.length;
    await flush();
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

/** Reads a snapshot back; `problem` says why it cannot be used, `warning` what it could not check. */
export function readSnapshot(file: string): { data?: SnapshotData; problem?: string; offset?: number; warning?: string } {
  const read = readFramedFile(file);
  if (read.problem) return { problem: read.problem, offset: read.validBytes };
  const header = read.records[0] as SnapshotHeader | undefined;
  if (!header || (header.format !== 2 && header.format !== SNAPSHOT_FORMAT) || !Array.isArray(header.stores)) return { problem: 'not a rebind snapshot (unknown format)', offset: 0 };
  const stores: SnapshotData['stores'] = new Map();
  for (const meta of header.stores) stores.set(meta.name, { kind: meta.kind, version: meta.version, data: meta.kind === 'table' ? {} : null });
  let chunks = read.records.slice(1) as Array<Chunk | SnapshotEnd>;
  let end: SnapshotEnd | undefined;
  const cut = `it ends at byte ${read.totalBytes} without its end record (cut short, or not completely written)`;
  if (header.format === SNAPSHOT_FORMAT) {
    const last = chunks.at(-1) as Partial<SnapshotEnd> | undefined;
    if (last?.end !== true) return { problem: cut, offset: read.totalBytes };
    end = last as SnapshotEnd;
    chunks = chunks.slice(0, -1);
  }
  const seen = new Set<string>();
  let rows = 0;
  for (const chunk of chunks) {
    if ((chunk as Partial<SnapshotEnd>).end === true) return { problem: 'an end record before the end of the file', offset: 0 };
    const c = chunk as Chunk;
    const entry = stores.get(c.s);
    if (!entry) return { problem: `data for a store "${c.s}" that the header does not name`, offset: 0 };
    seen.add(c.s);
    if ('rows' in c) {
      rows += c.rows.length;
      for (const [id, row] of c.rows) setOwn(entry.data as Record<string, unknown>, id, row);
    } else entry.data = c.value;
  }
  // Every store named in the header is written with at least one record, even an empty table.
  const missing = [...stores.keys()].filter((name) => !seen.has(name));
  if (missing.length > 0) return { problem: `no data for the store(s) ${missing.map((m) => `"${m}"`).join(', ')} that its header names (${end ? 'damaged' : 'cut short'})`, offset: read.totalBytes };
  if (end && (end.stores !== header.stores.length || end.rows !== rows || end.chunks !== chunks.length)) {
    return { problem: `its end record counts ${end.stores} store(s), ${end.rows} row(s) in ${end.chunks} record(s), but it holds ${header.stores.length}, ${rows} in ${chunks.length}`, offset: read.totalBytes };
  }
  const warning = end ? undefined : `${path.basename(file)} was written by an older version (snapshot format 2, no end record): a cut at a record boundary cannot be detected in it; the next snapshot is written in format ${SNAPSHOT_FORMAT}`;
  return { data: { header, stores }, ...(warning ? { warning } : {}) };
}