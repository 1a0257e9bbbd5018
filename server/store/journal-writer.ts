import path from 'node:path';
import { rebindError, type RebindError } from '../errors.ts';
import type { createLogger } from '../log.ts';
import { CrashedError, type Disk, type DiskFile } from './io.ts';
import { hostClearTimeout, hostSetImmediate, hostSetTimeout, monoNow } from '../host-globals.ts';

// Appends framed records to the current journal file, in commit order, and
// knows at every moment which prefix of the file is durable. The rules that
// keep the journal a contiguous prefix of the committed history:
//
// - Writes are positional, at the offset this writer believes is the end; a
//   short write is finished, or else treated as a failure.
// - After any failed write or fsync the file past the durable offset is not
//   trusted (after a failed fsync the kernel may have dropped those pages):
//   before anything else is written the file is reopened, cut back to the
//   durable offset, and every record after it rewritten from memory.
// - A transaction that committed in memory but could not be written stays in
//   memory, in order, and is written when the disk takes writes again (retried
//   with back-off, no restart). Meanwhile every reply that would acknowledge
//   a write gets PERSIST_ERROR, so nothing unwritten is ever called durable.
//
// `always` fsyncs each batch before the replies that wait for it (group
// commit); `interval` fsyncs when asked (every 100 ms), and makes replies
// wait only if the disk falls behind by more than twice that; `off` trusts a
// write.

type Logger = ReturnType<typeof createLogger>;

export type FsyncMode = 'always' | 'interval' | 'off';

interface Entry {
  /** The last transaction this entry's bytes carry (for a journal's header: the one it starts after). */
  seq: number;
  bytes: Buffer;
  /** Set on a journal header: switch to this file before writing it. */
  startsFile?: string;
}

interface Waiter {
  seq: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

export interface Health {
  /** Why the journal cannot be written, while it cannot. */
  failing?: string;
  since?: string;
  /** Committed transactions that are in memory only. */
  waiting: number;
}

export interface WriterOptions {
  log: Logger;
  /** The first retry's delay after a failure (default 50 ms); it doubles up to 2 s. */
  retryMs?: number;
  /** Under `interval`: once the oldest transaction not yet on disk is this old, replies wait for the disk (default 200 ms). */
  lagLimitMs?: number;
  /** Throws if the data folder is no longer this server's; called before any file is opened by its path. */
  checkFolder?: () => void;
}

export class JournalWriter {
  file: string;
  /** Everything not yet durable, in order; the first `written` of them are in the file. */
  private entries: Entry[] = [];
  private written = 0;
  private writtenBytes: number;
  private durableBytes: number;
  private handle: DiskFile | undefined;
  /** The file past durableBytes is unknown: reopen and cut back before writing. */
  private broken: boolean;
  private dirSyncNeeded = false;
  private syncWanted = false;
  private running: Promise<void> | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private attempts = 0;
  private failure: { reason: string; since: string } | undefined;
  private waiters: Waiter[] = [];
  private stopped = false;
  /** About when the oldest transaction not yet durable was committed (never later than that). */
  private lagSince = 0;
  private batchTakenAt = 0;
  /** Under `interval`: the disk is further behind than promised (checked at each tick, so that a commit costs no clock read). */
  private lagging = false;
  durableSeq: number;
  lastSeq: number;

  constructor(
    private readonly disk: Disk,
    readonly dir: string,
    readonly mode: FsyncMode,
    /** The journal to continue (empty: none yet), its valid length (it is cut back to that before the first write), and the last transaction in it. */
    start: { file: string; validBytes: number; seq: number },
    private readonly options: WriterOptions,
  ) {
    this.file = start.file;
    this.writtenBytes = this.durableBytes = start.validBytes;
    // A journal continued after a start is opened (and cut to its valid length) by the first write.
    this.broken = start.file !== '';
    this.durableSeq = this.lastSeq = start.seq;
  }

  append(seq: number, bytes: Buffer): void {
    if (this.entries.length === 0) this.lagSince = monoNow();
    this.entries.push({ seq, bytes });
    this.lastSeq = seq;
    this.kick();
  }

  /** Starts a new journal after transaction `seq` (everything before it goes to the current one). */
  startJournal(file: string, seq: number, header: Buffer): void {
    if (this.entries.length === 0) this.lagSince = monoNow();
    this.entries.push({ seq, bytes: header, startsFile: file });
    this.kick();
  }

  /** Under `interval`: fsync what is written (the 100 ms tick). */
  requestSync(): void {
    this.lagging = this.entries.length > 0 && monoNow() - this.lagSince > (this.options.lagLimitMs ?? 200);
    if (this.mode === 'off' || this.entries.length === 0) return;
    this.syncWanted = true;
    this.kick();
  }

  health(): Health {
    return { ...(this.failure ? { failing: this.failure.reason, since: this.failure.since } : {}), waiting: this.lastSeq - this.durableSeq };
  }

  /** The error a write gets while the journal cannot be written. */
  private failureError(): RebindError {
    return rebindError('PERSIST_ERROR', `the data folder ${this.dir} cannot be written (${this.failure?.reason ?? 'unknown'}); this change is kept in memory and written when the disk takes writes again, but it is not durable yet`);
  }

  /**
   * Undefined when transaction `seq` may be acknowledged now; otherwise a
   * promise that resolves once it is durable (under `always`, or under
   * `interval` while the disk lags) or rejects with PERSIST_ERROR while the
   * journal cannot be written (in every mode).
   */
  durable(seq: number): Promise<void> | undefined {
    if (this.failure) return Promise.reject(this.failureError());
    if (this.stopped && this.durableSeq < seq) return Promise.reject(rebindError('PERSIST_ERROR', `the journal in ${this.dir} is closed`));
    if (this.mode === 'off' || this.durableSeq >= seq) return undefined;
    // `interval` acknowledges at once, unless the disk lags so far behind that a crash would lose more than promised.
    if (this.mode === 'interval') {
      // Judged now as well as at the tick: a busy event loop makes the tick late, and acknowledgements must not
      // run ahead of the disk meanwhile.
      if (!this.lagging && !(this.entries.length > 0 && monoNow() - this.lagSince > (this.options.lagLimitMs ?? 200))) return undefined;
      // Waiting for the disk: ask for the fsync now rather than at the next tick.
      this.syncWanted = true;
      this.kick();
    }
    return new Promise((resolve, reject) => this.waiters.push({ seq, resolve, reject }));
  }

  /** Resolves once nothing is being written (everything written, or the journal is failing). */
  async settled(): Promise<void> {
    while (this.running) await this.running;
  }

  private kick(): void {
    if (!this.running && !this.failure && !this.stopped) this.running = this.pump();
  }

  private async pump(): Promise<void> {
    // One turn of the event loop lets concurrent commits join this batch (group commit).
    await new Promise((resolve) => hostSetImmediate(resolve));
    try {
      for (;;) {
        if (this.stopped) break;
        if (this.broken) await this.reopen();
        if (this.dirSyncNeeded) {
          this.disk.syncDirSync(this.dir);
          this.dirSyncNeeded = false;
        }
        // A new journal starts only once everything before it is durable in the old one.
        if (this.written === 0 && this.entries[0]?.startsFile) await this.switchTo(this.entries[0]);
        let end = this.written;
        while (end < this.entries.length && !this.entries[end]!.startsFile) end++;
        if (end > this.written) {
          const batch = this.entries.slice(this.written, end);
          const bytes = batch.length === 1 ? batch[0]!.bytes : Buffer.concat(batch.map((e) => e.bytes));
          // Until it is durable the batch is kept as the one buffer just written, not as many
          // small ones (less for the garbage collector while `interval` waits for its fsync).
          this.entries.splice(this.written, batch.length, { seq: batch.at(-1)!.seq, bytes });
          this.batchTakenAt = monoNow();
          end = this.written + 1;
          await this.handle!.writeAll(bytes, this.writtenBytes);
          this.writtenBytes += bytes.length;
          this.written = end;
        }
        const switchWaits = this.entries[this.written]?.startsFile !== undefined;
        const sync = this.written > 0 && (this.mode === 'always' || this.syncWanted || switchWaits || this.failure !== undefined);
        if (sync && this.mode !== 'off') {
          this.syncWanted = false;
          await this.handle!.datasync();
        }
        if (this.written > 0 && (sync || this.mode === 'off')) this.markDurable();
        if (this.written === this.entries.length && !(this.syncWanted && this.written > 0)) break;
      }
      if (this.failure && !this.stopped) this.healed();
    } catch (err) {
      this.failed(err);
    } finally {
      this.running = undefined;
    }
    if (!this.failure && this.written < this.entries.length) this.kick();
  }

  private markDurable(): void {
    let bytes = 0;
    for (let i = 0; i < this.written; i++) bytes += this.entries[i]!.bytes.length;
    this.durableSeq = this.entries[this.written - 1]!.seq;
    this.durableBytes += bytes;
    this.entries.splice(0, this.written);
    this.written = 0;
    // What is left was committed after the last batch was taken.
    this.lagSince = this.batchTakenAt;
    if (this.entries.length === 0) this.lagging = false;
    if (this.waiters.length === 0) return;
    const ready = this.waiters.filter((w) => w.seq <= this.durableSeq);
    this.waiters = this.waiters.filter((w) => w.seq > this.durableSeq);
    for (const w of ready) w.resolve();
  }

  private async reopen(): Promise<void> {
    const old = this.handle;
    this.handle = undefined;
    await old?.close();
    this.written = 0;
    if (this.file === '') {
      // No journal yet: the first entry starts one.
      this.broken = false;
      return;
    }
    this.options.checkFolder?.();
    const handle = await this.disk.open(this.file, 'r+');
    this.handle = handle;
    await handle.truncate(this.durableBytes);
    this.writtenBytes = this.durableBytes;
    this.written = 0;
    this.broken = false;
  }

  private async switchTo(entry: Entry): Promise<void> {
    const file = entry.startsFile!;
    this.options.checkFolder?.();
    const handle = await this.disk.open(file, 'w');
    await this.handle?.close();
    this.handle = handle;
    this.file = file;
    this.durableBytes = this.writtenBytes = 0;
    delete entry.startsFile;
    // The new name must be durable before anything in it is acknowledged.
    this.dirSyncNeeded = true;
    this.disk.syncDirSync(this.dir);
    this.dirSyncNeeded = false;
  }

  private failed(err: unknown): void {
    this.broken = true;
    this.written = 0;
    this.writtenBytes = this.durableBytes;
    if (err instanceof CrashedError) {
      // A test's simulated crash: this process is "dead", nothing more happens.
      this.stopped = true;
      for (const w of this.waiters.splice(0)) w.reject(err);
      return;
    }
    const reason = describe(err);
    if (!this.failure) {
      this.failure = { reason, since: new Date().toISOString() };
      this.options.log.error(`cannot write the journal ${path.basename(this.file)} in ${this.dir}: ${reason}. Writes get PERSIST_ERROR until it can be written again; ${this.lastSeq - this.durableSeq} committed transaction(s) wait in memory and will be written in order (retrying by itself)`);
    } else this.failure.reason = reason;
    const error = this.failureError();
    for (const w of this.waiters.splice(0)) w.reject(error);
    const delay = Math.min(2000, (this.options.retryMs ?? 50) * 2 ** Math.min(this.attempts++, 6));
    this.retryTimer = hostSetTimeout(() => {
      this.retryTimer = undefined;
      if (!this.stopped && !this.running) this.running = this.pump();
    }, delay);
    this.retryTimer.unref();
  }

  private healed(): void {
    this.options.log.info(`the journal in ${this.dir} can be written again (after ${this.failure!.reason} since ${this.failure!.since}); everything committed is on disk up to transaction ${this.durableSeq}`);
    this.failure = undefined;
    this.attempts = 0;
  }

  /** Writes and fsyncs what it can, once more, then stops. Returns how many committed transactions did not reach the disk. */
  async close(): Promise<number> {
    hostClearTimeout(this.retryTimer);
    await this.settled();
    if (!this.stopped && (this.entries.length > 0 || this.broken)) {
      this.failure = undefined;
      this.syncWanted = true;
      this.running = this.pump();
      await this.settled();
    }
    this.stopped = true;
    hostClearTimeout(this.retryTimer);
    if (this.failure && this.broken && this.handle) await this.cutBack();
    await this.handle?.close();
    this.handle = undefined;
    return this.lastSeq - this.durableSeq;
  }

  /**
   * After a failed write, on the way out: what the file holds past the durable
   * offset (a record cut short by a full disk) is cut off, so the journal left
   * behind is valid to its end. A new journal whose header never became
   * durable holds nothing, and is removed. Best effort: recovery cuts a torn
   * tail anyway.
   */
  private async cutBack(): Promise<void> {
    try {
      if (this.durableBytes === 0) {
        await this.handle!.close();
        this.handle = undefined;
        this.options.checkFolder?.();
        this.disk.unlinkSync(this.file);
        this.disk.syncDirSync(this.dir);
        return;
      }
      await this.handle!.truncate(this.durableBytes);
      await this.handle!.datasync();
    } catch (err) {
      this.options.log.warn(`could not cut the journal ${path.basename(this.file)} back to its last durable byte ${this.durableBytes}: ${describe(err)}; the next start cuts it`);
    }
  }

  /** Stops at once, writing nothing more: what a crash leaves behind (tests). */
  async abandon(): Promise<void> {
    this.stopped = true;
    hostClearTimeout(this.retryTimer);
    await this.settled();
    await this.handle?.close();
    this.handle = undefined;
  }
}

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ENOSPC') return 'ENOSPC: the disk is full';
  if (e.code === 'EIO') return 'EIO: an I/O error';
  if (e.code === 'DATA_LOCKED') return e.message;
  return e.code ? `${e.code}: ${e.message}` : String(e.message ?? err);
}
