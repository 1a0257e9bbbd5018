import { readdirSync } from 'node:fs';
import path from 'node:path';

// The names of what lives in a data folder. A snapshot is named after the
// last transaction it contains; a journal after the transaction it continues
// from (its first record is the one after). Files set aside by a repair live
// in damaged-<time>/ folders, which are never read again.

export const pad = (n: number) => String(n).padStart(12, '0');
export const SNAPSHOT = /^snapshot-(\d{12})\.bin$/;
export const JOURNAL = /^journal-(\d{12})\.bin$/;
/** Left behind by a snapshot write that did not finish. */
export const SNAPSHOT_TEMP = /^snapshot-\d{12}\.bin\.tmp-\d+$/;

export interface DataFile {
  file: string;
  seq: number;
}

/** Files matching `pattern`, in order of their number. */
export function listFiles(dir: string, pattern: RegExp): DataFile[] {
  return readdirSync(dir)
    .map((name) => ({ name, m: pattern.exec(name) }))
    .filter((x) => x.m)
    .map((x) => ({ file: path.join(dir, x.name), seq: Number(x.m![1]) }))
    .sort((a, b) => a.seq - b.seq);
}

export const journalName = (dir: string, start: number) => path.join(dir, `journal-${pad(start)}.bin`);
export const snapshotName = (dir: string, seq: number) => path.join(dir, `snapshot-${pad(seq)}.bin`);

/** The first record of every journal: where it starts and the stores' data versions at that point. */
export interface JournalHeader {
  journal: 1;
  start: number;
  versions: Array<[string, number]>;
}

export function isJournalHeader(value: unknown): value is JournalHeader {
  return (value as JournalHeader | null)?.journal === 1 && typeof (value as JournalHeader).start === 'number';
}
