import { existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { isRebindError, rebindError } from '../errors.ts';
import { createLogger } from '../log.ts';
import { JOURNAL, journalName, listFiles, SNAPSHOT, snapshotName, type JournalHeader } from './data-files.ts';
import { realDisk, type Disk } from './io.ts';
import { frame } from './journal.ts';
import { JournalWriter, type FsyncMode, type Health } from './journal-writer.ts';
import { DataLock } from './lock.ts';
import { recoverData, type RecoveryReport } from './recovery.ts';
import { setAside } from './repair.ts';
import type { StoreRegistry } from './registry.ts';
import { capture, writeSnapshot, type SnapshotData } from './snapshot.ts';
import type { StoreLike } from './store.ts';
import { onCommit, type StoreChange } from './transaction.ts';
import { hostClearInterval, hostSetInterval, monoNow, wallNow } from '../host-globals.ts';

// Durable stores. Every committed transaction's patches are appended to the
// journal (journal-writer.ts says how a failing disk is handled); snapshots
// of all stores are written atomically every 50,000 transactions or 5
// minutes (whichever comes first, if anything changed) and at clean
// shutdown, after which a fresh journal starts. At start the data folder is
// locked (lock.ts) and recovered (recovery.ts).
//
// fsync: `always` replies only once the transaction is on disk (many
// transactions share one fsync: group commit); `interval` fsyncs every
// 100 ms (a crash loses at most that); `off` leaves it to the OS.

export type { FsyncMode, RecoveryReport };

export interface PersistenceOptions {
  snapshotEvery?: number;
  snapshotEveryMs?: number;
  intervalMs?: number;
  /** Set damaged files aside and start from the valid prefix, instead of refusing to start. */
  repair?: boolean;
  /** The I/O layer (tests inject faults through it). */
  disk?: Disk;
  /** First retry after a failed write, in ms (default 50, doubling up to 2 s). */
  retryMs?: number;
}

export class Persistence {
  seq = 0;
  readonly disk: Disk;
  private writer: JournalWriter | undefined;
  private lock: DataLock | undefined;
  /** Where the journal being written continues from. */
  private journalStart = 0;
  private timer: ReturnType<typeof setInterval> | undefined;
  private offCommit: (() => void) | undefined;
  private orphans: SnapshotData['stores'] = new Map();
  private unreadable = new Set<string>();
  private snapshotting: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private sinceSnapshot = 0;
  private lastSnapshotAt = wallNow();
  private readonly log = createLogger('persist');
  /** After close: false if the final snapshot failed (the journal was kept instead). */
  closedCleanly: boolean | undefined;

  constructor(
    readonly dataDir: string,
    private readonly registry: StoreRegistry,
    readonly mode: FsyncMode = 'interval',
    private readonly options: PersistenceOptions = {},
  ) {
    this.disk = options.disk ?? realDisk;
  }

  /** Locks the data folder, loads the newest valid snapshot and replays the journals after it. Call before any logic runs. */
  async recover(): Promise<RecoveryReport> {
    mkdirSync(this.dataDir, { recursive: true });
    this.lock = await DataLock.acquire(this.dataDir);
    let recovered: ReturnType<typeof recoverData>;
    try {
      recovered = recoverData(this.dataDir, this.registry, this.disk, this.options.repair === true);
    } catch (err) {
      await this.lock.release();
      throw err;
    }
    for (const line of recovered.report.repairs) this.log.warn(line);
    this.seq = recovered.seq;
    this.orphans = recovered.orphans;
    this.unreadable = new Set(recovered.unreadable);
    const journal = recovered.journal;
    this.writer = new JournalWriter(this.disk, this.dataDir, this.mode, { file: journal?.file ?? '', validBytes: journal?.validBytes ?? 0, seq: this.seq }, {
      log: this.log,
      lagLimitMs: 2 * (this.options.intervalMs ?? 100),
      checkFolder: () => this.lock!.check(),
      ...(this.options.retryMs !== undefined ? { retryMs: this.options.retryMs } : {}),
    });
    // Go on in the last journal if it ends where the data does; an empty one is started afresh, with its header.
    if (journal && journal.validBytes > 0) this.journalStart = journal.start;
    else this.startJournal();
    this.offCommit = onCommit((changes) => this.onCommit(changes));
    this.timer = hostSetInterval(() => this.tick(), this.options.intervalMs ?? 100);
    this.timer.unref();
    return recovered.report;
  }

  /** Every later record goes to a new journal, whose header says where it starts and the data versions there. */
  private startJournal(): void {
    const header: JournalHeader = { journal: 1, start: this.seq, versions: [...this.registry.byName.values()].map((s) => [s.name, s.version]) };
    this.writer!.startJournal(journalName(this.dataDir, this.seq), this.seq, frame(header));
    this.journalStart = this.seq;
  }

  private onCommit(changes: StoreChange[]): void {
    const mine = changes.filter((c) => this.registry.owns(c.store));
    if (mine.length === 0) return;
    // Encode before counting: a record that could not be encoded must not leave a gap in the numbering.
    const record = mine.map((c) => (c.version === undefined ? [c.store.name, c.patches] : [c.store.name, c.patches, c.version]));
    // Under `t` when it holds a trim, which builds from before trims must refuse rather than misread (recovery.ts).
    const trims = mine.some((c) => c.patches.some((p) => p.op === 'trim'));
    const bytes = frame(trims ? { q: this.seq + 1, t: record } : { q: this.seq + 1, c: record });
    this.writer!.append(++this.seq, bytes);
    if (++this.sinceSnapshot >= (this.options.snapshotEvery ?? 50_000)) this.autoSnapshot('after that many transactions');
  }

  private autoSnapshot(why: string): void {
    if (this.writer!.health().failing) return; // writes are failing: a snapshot would too, and the journal has everything
    this.sinceSnapshot = 0;
    this.snapshot().catch((err: unknown) => this.log.error(`snapshot (${why}) failed: ${(err as Error).message}`));
  }

  private tick(): void {
    if (this.stopped) return;
    if (this.mode === 'interval') this.writer!.requestSync();
    if (this.sinceSnapshot > 0 && wallNow() - this.lastSnapshotAt >= (this.options.snapshotEveryMs ?? 5 * 60_000)) {
      this.lastSnapshotAt = wallNow();
      this.autoSnapshot('periodic');
    }
  }

  /** The mark a request takes before it runs; see durableSince. */
  writeMark(): number {
    return this.seq;
  }

  /**
   * For a reply: undefined if it may go now (nothing was committed since
   * `mark`, or the mode does not wait); else resolves once those commits are
   * durable, or rejects with PERSIST_ERROR while the journal cannot be written.
   */
  durableSince(mark: number): Promise<void> | undefined {
    return mark === this.seq ? undefined : this.durable(this.seq);
  }

  /** Undefined if transaction `seq` (default: the last one) may be acknowledged now, else a promise (see durableSince). */
  durable(seq = this.seq): Promise<void> | undefined {
    return this.writer?.durable(seq);
  }

  health(): Health {
    return this.writer?.health() ?? { waiting: 0 };
  }

  /** Writes a snapshot of every store and starts a fresh journal; one at a time. */
  snapshot(): Promise<{ file: string; seq: number; bytes: number; ms: number }> {
    // A disk's refusal (ENOSPC, EPERM, EIO) is the data folder's problem, said as one: PERSIST_ERROR naming the folder.
    const run = this.snapshotting
      .then(() => this.writeSnapshotNow())
      .catch((err: unknown) => {
        if (isRebindError(err)) throw err;
        const e = err as NodeJS.ErrnoException;
        const text = String(e.message ?? err);
        throw rebindError('PERSIST_ERROR', `the snapshot could not be written to the data folder ${this.dataDir} (${e.code && !text.startsWith(e.code) ? `${e.code}: ` : ''}${text})`, { cause: err });
      });
    this.snapshotting = run.catch(() => undefined);
    return run;
  }

  private async writeSnapshotNow(): Promise<{ file: string; seq: number; bytes: number; ms: number }> {
    const started = monoNow();
    const failing = this.writer!.health().failing;
    // At close a snapshot is worth trying even so: it may save what the journal could not take.
    if (failing && !this.stopped) throw rebindError('PERSIST_ERROR', `no snapshot while the data folder ${this.dataDir} cannot be written (${failing})`);
    // Capture and switch journals with no await in between: every later commit
    // belongs to the new journal, after this snapshot.
    const seq = this.seq;
    const captured = capture(seq, this.registry.byName.values(), this.orphans);
    if (seq !== this.journalStart) this.startJournal();
    this.sinceSnapshot = 0;
    this.lastSnapshotAt = wallNow();
    const file = snapshotName(this.dataDir, seq);
    this.lock!.check();
    const bytes = await writeSnapshot(this.disk, file, captured);
    this.unreadable.delete(file);
    try {
      this.lock!.check();
      this.prune(seq);
    } catch (err) {
      this.log.warn(`could not remove old snapshots and journals: ${(err as Error).message}`);
    }
    return { file: path.basename(file), seq, bytes, ms: Math.round(monoNow() - started) };
  }

  /**
   * Keeps the newest two readable snapshots and the journals that lead on
   * from the older of them; snapshots known to be unreadable are set aside.
   */
  private prune(newest: number): void {
    const unreadable = listFiles(this.dataDir, SNAPSHOT).filter((s) => this.unreadable.has(s.file));
    if (unreadable.length > 0) {
      const aside = setAside(this.disk, this.dataDir, unreadable.map((s) => s.file));
      this.log.warn(`moved the unreadable ${aside.moved.join(', ')} to ${aside.folder}`);
      this.unreadable.clear();
    }
    const snapshots = listFiles(this.dataDir, SNAPSHOT).filter((s) => s.seq <= newest);
    const keep = snapshots.slice(-2);
    for (const s of snapshots) if (!keep.includes(s)) this.disk.unlinkSync(s.file);
    // The journal the older kept snapshot continues in, and all after it, stay.
    const oldest = keep[0]?.seq ?? 0;
    const journals = listFiles(this.dataDir, JOURNAL);
    const from = journals.filter((j) => j.seq <= oldest).at(-1)?.seq ?? 0;
    for (const j of journals) if (j.seq < from && j.file !== this.writer!.file) this.disk.unlinkSync(j.file);
  }

  /** Takes a final snapshot, writes what it can, and lets go of the folder. Never throws: a failure is logged. */
  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    hostClearInterval(this.timer);
    this.offCommit?.();
    let snapshotOk = true;
    try {
      await this.snapshot();
    } catch (err) {
      snapshotOk = false;
      this.log.error(`the final snapshot could not be written (${(err as Error).message}); the journal in ${this.dataDir} is kept and is replayed at the next start`);
    }
    const unwritten = (await this.writer?.close()) ?? 0;
    if (!snapshotOk && unwritten > 0) this.log.error(`${unwritten} transaction(s) committed in memory could not be written to ${this.dataDir}: they are lost`);
    this.closedCleanly = snapshotOk;
    await this.lock?.release();
  }

  /** Stops writing without a final snapshot and without flushing: what a crash leaves behind (tests). */
  async abandon(): Promise<void> {
    this.stopped = true;
    hostClearInterval(this.timer);
    this.offCommit?.();
    await this.snapshotting;
    await this.writer?.abandon();
    await this.lock?.release();
  }

  /** Resolves once nothing is being written: everything committed so far is in the journal file, or the journal is failing. */
  async flushed(): Promise<void> {
    await this.writer?.settled();
  }

  stats(): { seq: number; syncedSeq: number; journal: string; journalBytes: number; mode: FsyncMode } & Health {
    const file = this.writer?.file ?? '';
    const journalBytes = file && existsSync(file) ? statSync(file).size : 0;
    return { seq: this.seq, syncedSeq: this.writer?.durableSeq ?? this.seq, journal: path.basename(file), journalBytes, mode: this.mode, ...this.health() };
  }
}

export type { StoreLike };
