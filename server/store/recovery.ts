import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { isRebindError, rebindError } from '../errors.ts';
import type { StorePatch } from './array-delta.ts';
import { isJournalHeader, JOURNAL, journalName, listFiles, SNAPSHOT, SNAPSHOT_TEMP, type DataFile } from './data-files.ts';
import type { Disk } from './io.ts';
import { framesFrom, recordsAfter, scanFramed } from './journal.ts';
import { REPAIR_TEMP, setAside } from './repair.ts';
import type { StoreRegistry } from './registry.ts';
import { readSnapshot, type SnapshotData } from './snapshot.ts';
import { monoNow } from '../host-globals.ts';

// At start: the newest readable snapshot, then the journals after it, which
// must continue one another without a gap or an overlap. A torn tail (the
// last record of the last journal cut short, or never-written bytes read as
// zeros: what a crash leaves) is cut and reported. Any other damage stops
// the start and says where; with `repair` the damaged file and everything
// after it are set aside and the start goes on from the valid prefix.

type Changes = Array<[string, StorePatch[], number?]>;

/**
 * One transaction. A record that holds a `trim` carries its changes under
 * `t` instead of `c`: a build from before trims takes such a record for
 * damage and refuses to start (DATA_DAMAGED, naming it) rather than replay
 * it wrongly.
 */
export type JournalRecord = { q: number; c: Changes } | { q: number; t: Changes };

export interface RecoveryReport {
  snapshot: string | null;
  snapshotSeq: number;
  journalRecords: number;
  /** One line per thing found and dealt with (cut tails, skipped snapshots, files set aside). */
  repairs: string[];
  /** With --repair: transactions lost, and where the damaged files went. */
  lost?: number;
  setAside?: string;
  ms: number;
}

export interface Recovered {
  seq: number;
  report: RecoveryReport;
  orphans: SnapshotData['stores'];
  /** The journal to go on writing, with its valid length; undefined: start a new one. */
  journal?: { file: string; start: number; validBytes: number };
  /** Snapshots found unreadable (pruning sets them aside rather than counting them). */
  unreadable: string[];
}

interface Damage {
  file: string;
  offset: number;
  problem: string;
  /** Index of the damaged journal, when it is one. */
  journal?: number;
  buffer?: Buffer;
}

const isRecord = (r: unknown): r is JournalRecord => typeof (r as JournalRecord | null)?.q === 'number' && Array.isArray(changesOf(r as JournalRecord));
const changesOf = (r: JournalRecord): Changes | undefined => ('c' in r ? r.c : r.t);

export function recoverData(dir: string, registry: StoreRegistry, disk: Disk, repair: boolean): Recovered {
  const started = monoNow();
  const notes: string[] = [];
  for (const name of readdirSync(dir)) {
    if (!SNAPSHOT_TEMP.test(name) && !REPAIR_TEMP.test(name)) continue;
    disk.unlinkSync(path.join(dir, name));
    notes.push(`removed ${name}, left by a write that did not finish`);
  }
  const snapshots = listFiles(dir, SNAPSHOT);
  const journals = listFiles(dir, JOURNAL);
  const unreadable: Array<DataFile & { problem: string; offset: number }> = [];
  let base: (DataFile & { data: SnapshotData }) | undefined;
  for (const snap of [...snapshots].reverse()) {
    const read = readSnapshot(snap.file);
    // A snapshot copied or renamed over another number would silently skip or repeat transactions.
    if (read.data && read.data.header.seq !== snap.seq) Object.assign(read, { data: undefined, problem: `its header says it holds transactions up to ${read.data.header.seq}, its name says ${snap.seq}`, offset: 0 });
    if (read.data) {
      if (read.warning) notes.push(read.warning);
      base = { ...snap, data: read.data };
      break;
    }
    unreadable.push({ ...snap, problem: read.problem!, offset: read.offset ?? 0 });
  }
  const orphans: SnapshotData['stores'] = new Map();
  if (base) {
    for (const [name, entry] of base.data.stores) {
      const store = registry.byName.get(name);
      if (store) store.restore(entry.data, entry.version);
      else {
        orphans.set(name, entry);
        notes.push(`the snapshot has a store "${name}" that no state file declares; its data is kept as it is`);
      }
    }
  }
  let seq = base?.seq ?? 0;
  let replayed = 0;
  let damage: Damage | undefined;
  let journal: Recovered['journal'];
  let first = -1;
  journals.forEach((j, i) => {
    if (j.seq <= seq) first = i;
  });
  if (first === -1 && journals.length > 0 && unreadable.length > 0) {
    const u = unreadable[0]!;
    damage = { file: u.file, offset: u.offset, problem: `${u.problem}; no older snapshot or journal reaches back before transaction ${journals[0]!.seq}` };
  } else if (first === -1 && journals.length > 0) {
    damage = { file: journals[0]!.file, offset: 0, journal: 0, problem: `it continues from transaction ${journals[0]!.seq}, but the data before it ends at transaction ${seq} (${base ? path.basename(base.file) : 'no snapshot and no journal from the beginning'})` };
  }
  for (let i = Math.max(first, 0); first >= 0 && i < journals.length; i++) {
    const j = journals[i]!;
    if (i > first && j.seq !== seq) {
      damage = { file: j.file, offset: 0, journal: i, problem: `it continues from transaction ${j.seq}, but the journal before it ends at transaction ${seq}` };
      break;
    }
    const buffer = readFileSync(j.file);
    // Its header is written and fsynced before anything in it is acknowledged: only a crash right after
    // the file was created leaves it empty (nothing in it was acknowledged), or something emptied it.
    if (buffer.length === 0) notes.push(`${path.basename(j.file)} is empty (0 bytes, not even its header): a crash right after it was created leaves this, and then nothing in it had been acknowledged; if the server ran on after transaction ${seq}, what it wrote there is lost (emptied by something else)`);
    let last = j.seq;
    let bad: { problem: string; offset: number } | undefined;
    let index = 0;
    // Replayed as decoded: a million records are never all held at once.
    const read = scanFramed(buffer, (record, offset) => {
      if (isJournalHeader(record)) {
        if (index++ !== 0 || record.start !== j.seq) {
          bad = { offset, problem: `a journal header that says it continues from transaction ${record.start}` };
          return false;
        }
        // Replaying from this journal's start: the data versions are the ones it started with.
        if (seq === j.seq) {
          for (const [name, version] of record.versions) {
            const store = registry.byName.get(name);
            if (store) store.version = version;
          }
        }
        return true;
      }
      index++;
      if (!isRecord(record)) {
        bad = { offset, problem: 'a record that is not a transaction' };
        return false;
      }
      // Each record continues the one before it, also those skipped: a duplicated or missing record is damage.
      if (record.q !== last + 1) {
        bad = { offset, problem: `transaction ${record.q} where ${last + 1} should follow` };
        return false;
      }
      last = record.q;
      // The first journal may begin before the snapshot: what the snapshot holds already is not replayed.
      if (record.q <= seq) return true;
      replay(registry, record);
      seq = record.q;
      replayed++;
      return true;
    });
    if (bad) {
      damage = { file: j.file, offset: bad.offset, journal: i, buffer, problem: bad.problem };
      journal = { file: j.file, start: j.seq, validBytes: bad.offset };
      break;
    }
    if (read.problem) {
      if (i < journals.length - 1 || !tornTail(buffer, read.validBytes, last)) {
        damage = { file: j.file, offset: read.validBytes, journal: i, buffer, problem: read.problem };
        journal = { file: j.file, start: j.seq, validBytes: read.validBytes };
        break;
      }
      disk.truncateSync(j.file, read.validBytes);
      notes.push(`${path.basename(j.file)}: the tail a crash left (${read.problem}); cut at byte ${read.validBytes} of ${read.totalBytes}`);
    }
    journal = last === seq ? { file: j.file, start: j.seq, validBytes: read.validBytes } : undefined;
  }
  // Each snapshot starts a journal at its number (written right after it, also at a clean stop): none means the
  // server stopped as that snapshot was written (a crash, or a disk that took the snapshot but not the journal)
  // or that journal was removed. Nothing records which, so it is said, not refused.
  if (!damage && base && !journals.some((j) => j.seq >= base.seq)) {
    notes.push(`no journal follows ${path.basename(base.file)} (${path.basename(journalName(dir, base.seq))} is missing): normal if the server stopped as that snapshot was written; if it ran on after it, that journal was removed and the transactions after ${base.seq} it held are lost`);
  }
  const newest = snapshots.at(-1);
  if (!damage && newest && newest.seq > seq) {
    const u = unreadable[0]!;
    damage = { file: u.file, offset: u.offset, problem: `${u.problem}, and no older snapshot with the journals after it reaches transaction ${u.seq}` };
  }
  for (const u of unreadable) if (u.file !== damage?.file) notes.push(`${path.basename(u.file)} is unreadable at byte ${u.offset} (${u.problem}); recovered from the snapshot before it and the journals after that`);
  const report: RecoveryReport = { snapshot: base ? path.basename(base.file) : null, snapshotSeq: base?.seq ?? 0, journalRecords: replayed, repairs: notes, ms: 0 };
  if (damage) {
    // Every journal after the damaged one, and whatever starts beyond the valid prefix: none of it can be replayed.
    const later = journals.filter((j, i) => j.file !== damage.file && ((damage.journal !== undefined && i > damage.journal) || j.seq > seq)).map((j) => j.file);
    const lostSnapshots = snapshots.filter((s) => s.seq > seq && s.file !== damage.file).map((s) => s.file);
    const following = damage.buffer ? transactionsAfter(recordsAfter(damage.buffer, damage.offset), seq) : [];
    for (const file of later) following.push(...transactionsAfter(framesFrom(readFileSync(file), 0), seq));
    const reaches = Math.max(seq, newest?.seq ?? 0, ...following.map((r) => r.q));
    const lost = reaches - seq;
    const where = `${damage.file} is damaged at byte ${damage.offset}: ${damage.problem}`;
    const after = `${following.length} transaction record(s) follow the damage${later.length ? ` (in it and in ${later.length} later journal(s))` : ''}`;
    if (!repair) {
      throw rebindError(
        'DATA_DAMAGED',
        `${where}. ${after}; the data reaches transaction ${reaches}, its valid part ${seq}. Nothing was changed. ` +
          `To start from the ${seq} transaction(s) before the damage (${lost} lost), start with --repair: the damaged file and every file after it move to ${path.join(dir, 'damaged-<time>')}/, nothing is deleted. Or restore the folder from a backup.`,
        { details: { file: damage.file, offset: damage.offset, following: following.length, validUpTo: seq, reaches } },
      );
    }
    const keep = damage.journal !== undefined && damage.buffer ? { file: damage.file, bytes: damage.buffer.subarray(0, damage.offset) } : undefined;
    const files = [...(keep ? [] : [damage.file]), ...later, ...lostSnapshots];
    const aside = setAside(disk, dir, files, keep);
    if (!keep || keep.bytes.length === 0) journal = undefined;
    notes.push(`${where}. --repair moved ${aside.moved.join(', ')} to ${aside.folder}${keep && keep.bytes.length ? ` (the first ${keep.bytes.length} bytes of ${path.basename(keep.file)} stay in place)` : ''}; started from transaction ${seq}; ${lost} transaction(s) lost`);
    report.lost = lost;
    report.setAside = aside.folder;
  }
  report.ms = monoNow() - started;
  return { seq, report, orphans, ...(journal ? { journal } : {}), unreadable: unreadable.map((u) => u.file).filter((file) => existsSync(file)) };
}

/**
 * What a crash leaves at the end of the last journal: a record cut short
 * (its header, or fewer bytes than its length says) or bytes that were never
 * written (zeros), with no valid record after it. A complete record that
 * fails its checksum is damage, not a torn write.
 */
function tornTail(buffer: Buffer, at: number, lastGood: number): boolean {
  const cutShort = buffer.length - at < 8 || at + 8 + buffer.readUInt32LE(at) > buffer.length;
  const neverWritten = buffer.subarray(at).every((b) => b === 0);
  return (cutShort || neverWritten) && transactionsAfter(recordsAfter(buffer, at), lastGood).length === 0;
}

/** The records among `found` that could be transactions after `after`: what the refusal counts, and what stops a tail being cut. */
function transactionsAfter(found: unknown[], after: number): JournalRecord[] {
  return found.filter((r): r is JournalRecord => isRecord(r) && r.q > after);
}

function replay(registry: StoreRegistry, record: JournalRecord): void {
  for (const [name, patches, version] of changesOf(record)!) {
    const store = registry.byName.get(name);
    if (!store) throw rebindError('PERSIST_ERROR', `the journal changes a store "${name}" that no state file declares (transaction ${record.q})`);
    try {
      if (patches.length > 0) store.replay(patches);
    } catch (err) {
      if (isRebindError(err)) throw err;
      throw rebindError('PERSIST_ERROR', `transaction ${record.q} cannot be replayed on the store "${name}": ${(err as Error).message}`, { cause: err });
    }
    if (version !== undefined) store.version = version;
  }
}
