import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Patch } from 'immer';
import { rebindError } from '../errors.ts';
import { createLogger } from '../log.ts';
import { frame, readFramed, syncFolder } from './journal.ts';
import { capture, readSnapshot, writeSnapshot, type SnapshotData } from './snapshot.ts';
import type { StoreRegistry } from './registry.ts';
import type { StoreLike } from './store.ts';
import { onCommit, type StoreChange } from './transaction.ts';

// Durable stores. Every committed transaction's patches are appended to the
// journal; snapshots of all stores are written atomically every 50,000
// transactions or 5 minutes (whichever comes first, if anything changed) and
// at clean shutdown, after which a fresh journal starts. At start, the newest
// valid snapshot is loaded and the journals after it replayed; a torn or
// corrupt tail is cut and reported, a corrupt snapshot falls back to the one
// before, and data that exists is never silently replaced by an empty world.
//
// fsync: `always` replies only once the transaction is on disk (many
// transactions share one fsync: group commit); `interval` fsyncs every
// 100 ms (a crash loses at most that); `off` leaves it to the OS.

export type FsyncMode = 'always' | 'interval' | 'off';

interface JournalRecord {
  q: number;
  c: Array<[string, Patch[], number?]>;
}


export interface RecoveryReport {
  snapshot: string | null;
  snapshotSeq: number;
  journalRecords: number;
  /** One line per problem found and repaired (cut tails, skipped snapshots). */
  repairs: string[];
  ms: number;
}

const pad = (n: number) => String(n).padStart(12, '0');
const SNAPSHOT = /^snapshot-(\d{12})\.bin$/;
const JOURNAL = /^journal-(\d{12})\.bin$/;

export class Persistence {
  seq = 0;
  private handle: FileHandle | undefined;
  private journalFile = '';
  private pending: Buffer[] = [];
  private pendingSeq = 0;
  private writtenSeq = 0;
  private syncedSeq = 0;
  private writing: Promise<void> | undefined;
  private waiters: Array<{ seq: number; resolve: () => void; reject: (e: Error) => void }> = [];
  private timer: ReturnType<typeof setInterval> | undefined;
  private offCommit: (() => void) | undefined;
  private orphans: SnapshotData['stores'] = new Map();
  private snapshotting: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private sinceSnapshot = 0;
  private lastSnapshotAt = Date.now();
  private readonly log = createLogger('persist');
  private lockFile: string;

  constructor(
    readonly dataDir: string,
    private readonly registry: StoreRegistry,
    readonly mode: FsyncMode = 'interval',
    private readonly options: { snapshotEvery?: number; snapshotEveryMs?: number; intervalMs?: number } = {},
  ) {
    mkdirSync(dataDir, { recursive: true });
    this.lockFile = path.join(dataDir, 'server.pid');
  }

  private files(pattern: RegExp): Array<{ file: string; seq: number }> {
    return readdirSync(this.dataDir)
      .map((name) => ({ name, m: pattern.exec(name) }))
      .filter((x) => x.m)
      .map((x) => ({ file: path.join(this.dataDir, x.name), seq: Number(x.m![1]) }))
      .sort((a, b) => a.seq - b.seq);
  }

  /** Takes the data folder for this process, or says which live process holds it. */
  private lock(): void {
    if (existsSync(this.lockFile)) {
      const pid = Number(readFileSync(this.lockFile, 'utf8'));
      let alive = false;
      try {
        if (pid && pid !== process.pid) alive = process.kill(pid, 0);
      } catch {
        alive = false;
      }
      if (alive) throw rebindError('PERSIST_ERROR', `the data folder ${this.dataDir} is in use by process ${pid}; stop it or pick another --data`);
    }
    writeFileSync(this.lockFile, String(process.pid));
  }

  /** Loads the newest valid snapshot and replays the journals after it. Call before any logic runs. */
  recover(): RecoveryReport {
    const started = performance.now();
    this.lock();
    const repairs: string[] = [];
    const snapshots = this.files(SNAPSHOT).reverse();
    let base: { file: string; seq: number; content: SnapshotData } | undefined;
    for (const snap of snapshots) {
      const read = readSnapshot(snap.file);
      if (!read.data) {
        repairs.push(`${path.basename(snap.file)} is unreadable (${read.problem}); falling back to the one before`);
        continue;
      }
      base = { ...snap, content: read.data };
      break;
    }
    const journals = this.files(JOURNAL);
    if (!base && snapshots.length > 0 && !journals.some((j) => j.seq === 0)) {
      throw rebindError('PERSIST_ERROR', `no readable snapshot in ${this.dataDir} and no journal from the beginning: refusing to start with an empty world (${repairs.join('; ')})`);
    }
    if (base) {
      for (const [name, entry] of base.content.stores) {
        const store = this.registry.byName.get(name);
        if (store) store.restore(entry.data, entry.version);
        else {
          this.orphans.set(name, entry);
          repairs.push(`the snapshot has a store "${name}" that no state file declares; its data is kept as it is`);
        }
      }
      this.seq = base.seq;
    }
    let replayed = 0;
    for (const journal of journals) {
      const read = readFramed(readFileSync(journal.file));
      for (const record of read.records as JournalRecord[]) {
        if (record.q <= this.seq) continue;
        if (record.q !== this.seq + 1) {
          repairs.push(`${path.basename(journal.file)} jumps from transaction ${this.seq} to ${record.q}; stopped replaying there`);
          break;
        }
        this.replay(record);
        this.seq = record.q;
        replayed++;
      }
      if (read.problem) {
        truncateSync(journal.file, read.validBytes);
        repairs.push(`${path.basename(journal.file)}: ${read.problem}; cut at byte ${read.validBytes} of ${read.totalBytes}, dropping ${read.droppedRecords} record(s)`);
      }
    }
    for (const line of repairs) this.log.warn(line);
    this.openJournal();
    this.offCommit = onCommit((changes) => this.onCommit(changes));
    this.timer = setInterval(() => void this.tick(), this.options.intervalMs ?? 100);
    this.timer.unref();
    return { snapshot: base ? path.basename(base.file) : null, snapshotSeq: base?.seq ?? 0, journalRecords: replayed, repairs, ms: performance.now() - started };
  }

  private replay(record: JournalRecord): void {
    for (const [name, patches, version] of record.c) {
      const store = this.registry.byName.get(name);
      if (!store) throw rebindError('PERSIST_ERROR', `the journal changes a store "${name}" that no state file declares (transaction ${record.q})`);
      if (patches.length > 0) store.replay(patches);
      if (version !== undefined) store.version = version;
    }
  }

  private openJournal(): void {
    this.journalFile = path.join(this.dataDir, `journal-${pad(this.seq)}.bin`);
    closeSync(openSync(this.journalFile, 'a', 0o600));
    syncFolder(this.dataDir);
    this.writtenSeq = this.syncedSeq = this.pendingSeq = this.seq;
  }

  private onCommit(changes: StoreChange[]): void {
    const mine = changes.filter((c) => this.registry.owns(c.store));
    if (mine.length === 0) return;
    const record: JournalRecord = { q: ++this.seq, c: mine.map((c) => (c.version === undefined ? [c.store.name, c.patches] : [c.store.name, c.patches, c.version])) };
    this.pending.push(frame(record));
    this.pendingSeq = this.seq;
    this.sinceSnapshot++;
    if (!this.writing) this.writing = this.drain();
  }

  /** Writes what is pending, one batch at a time; under `always` each batch is fsynced (group commit). */
  private async drain(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    try {
      while (this.pending.length > 0) {
        const batch = Buffer.concat(this.pending);
        const upTo = this.pendingSeq;
        this.pending = [];
        this.handle ??= await open(this.journalFile, 'a');
        await this.handle.write(batch);
        this.writtenSeq = upTo;
        if (this.mode === 'always') {
          await this.handle.datasync();
          this.synced(upTo);
        }
      }
    } catch (err) {
      const e = rebindError('PERSIST_ERROR', `writing the journal failed: ${(err as Error).message}`);
      this.log.error(e.message);
      for (const w of this.waiters.splice(0)) w.reject(e);
    } finally {
      this.writing = undefined;
    }
    if (!this.stopped && this.sinceSnapshot >= (this.options.snapshotEvery ?? 50_000)) {
      this.sinceSnapshot = 0;
      void this.snapshot().catch((err: unknown) => this.log.error(`snapshot failed: ${(err as Error).message}`));
    }
  }

  private synced(upTo: number): void {
    this.syncedSeq = upTo;
    if (this.waiters.length === 0) return;
    const ready = this.waiters.filter((w) => w.seq <= upTo);
    this.waiters = this.waiters.filter((w) => w.seq > upTo);
    for (const w of ready) w.resolve();
  }

  /** Under `always`: resolves once every transaction committed so far is on disk. Otherwise undefined. */
  durable(): Promise<void> | undefined {
    if (this.mode !== 'always' || this.syncedSeq >= this.seq) return undefined;
    const seq = this.seq;
    return new Promise((resolve, reject) => this.waiters.push({ seq, resolve, reject }));
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const every = this.options.snapshotEveryMs ?? 5 * 60_000;
    if (this.sinceSnapshot > 0 && !this.writing && Date.now() - this.lastSnapshotAt >= every) {
      await this.snapshot().catch((err: unknown) => this.log.error(`periodic snapshot failed: ${(err as Error).message}`));
      return;
    }
    if (this.mode !== 'interval' || this.writtenSeq <= this.syncedSeq || !this.handle) return;
    const upTo = this.writtenSeq;
    await this.handle.datasync();
    this.synced(upTo);
  }

  /** Writes a snapshot of every store and starts a fresh journal; one at a time. */
  snapshot(): Promise<{ file: string; seq: number; bytes: number; ms: number }> {
    const run = this.snapshotting.then(() => this.writeSnapshotNow());
    this.snapshotting = run.catch(() => undefined);
    return run;
  }

  private async writeSnapshotNow(): Promise<{ file: string; seq: number; bytes: number; ms: number }> {
    const started = performance.now();
    while (this.writing) await this.writing;
    // Capture and switch journals with no await in between: every later commit
    // belongs to the new journal, after this snapshot.
    const oldHandle = this.handle;
    this.handle = undefined;
    const seq = this.seq;
    const captured = capture(seq, this.registry.byName.values(), this.orphans);
    this.openJournal();
    this.sinceSnapshot = 0;
    this.lastSnapshotAt = Date.now();
    await oldHandle?.close();
    const file = path.join(this.dataDir, `snapshot-${pad(seq)}.bin`);
    const bytes = await writeSnapshot(file, captured);
    this.prune(seq);
    return { file: path.basename(file), seq, bytes, ms: Math.round(performance.now() - started) };
  }

  /** Keeps the newest two snapshots and the journals that lead on from the older of them. */
  private prune(newest: number): void {
    const snapshots = this.files(SNAPSHOT);
    const keep = snapshots.filter((s) => s.seq <= newest).slice(-2);
    const oldestKept = keep[0]?.seq ?? 0;
    for (const s of snapshots) if (!keep.includes(s)) unlinkSync(s.file);
    for (const j of this.files(JOURNAL)) if (j.seq < oldestKept) unlinkSync(j.file);
  }

  /** Flushes, takes a final snapshot, and lets go of the folder. */
  async close(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.offCommit?.();
    while (this.writing) await this.writing;
    await this.snapshot();
    await this.handle?.close();
    this.handle = undefined;
    if (existsSync(this.lockFile) && Number(readFileSync(this.lockFile, 'utf8')) === process.pid) unlinkSync(this.lockFile);
  }

  /** Stops writing without a final snapshot and without flushing: what a crash leaves behind (tests). */
  async abandon(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.offCommit?.();
    while (this.writing) await this.writing;
    await this.snapshotting;
    this.pending = [];
    await this.handle?.close();
    this.handle = undefined;
    if (existsSync(this.lockFile)) unlinkSync(this.lockFile);
  }

  /** Resolves once everything committed so far is written to the journal file (not necessarily synced). */
  async flushed(): Promise<void> {
    while (this.writing) await this.writing;
  }

  stats(): { seq: number; syncedSeq: number; journal: string; journalBytes: number; mode: FsyncMode } {
    let journalBytes = 0;
    try {
      journalBytes = statSync(this.journalFile).size;
    } catch {
      journalBytes = 0;
    }
    return { seq: this.seq, syncedSeq: this.syncedSeq, journal: path.basename(this.journalFile), journalBytes, mode: this.mode };
  }
}

export type { StoreLike };
