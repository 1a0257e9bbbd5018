import * as fs from 'node:fs';
import { open as openFile, type FileHandle } from 'node:fs/promises';
import { monoNow } from '../host-globals.ts';

// Every open, write, fsync, truncate, rename and unlink of the journal and
// the snapshots goes through a Disk, so that tests can make any one of them
// fail the way a real disk does (ENOSPC, EIO), write only part of the bytes,
// or "crash": stop all I/O from that call on, as if the process had died.
// Without a fault plan a Disk is a thin pass-through to node:fs.

export type IoOp = 'open' | 'write' | 'sync' | 'truncate' | 'rename' | 'unlink' | 'mkdir' | 'syncdir';

export interface IoCall {
  /** 1-based count of calls through this Disk. */
  n: number;
  op: IoOp;
  file: string;
}

export type Fault = { error: 'ENOSPC' | 'EIO' } | { short: number } | { crash: true };
export type FaultPlan = (call: IoCall) => Fault | undefined;

/** Thrown by every call after an injected crash: nothing more reaches the disk. */
export class CrashedError extends Error {
  readonly code = 'ECRASHED';
}

function errno(code: 'ENOSPC' | 'EIO', op: IoOp, file: string): NodeJS.ErrnoException {
  const text = code === 'ENOSPC' ? 'no space left on device' : 'i/o error';
  return Object.assign(new Error(`${code}: ${text}, ${op} '${file}'`), { code, syscall: op, path: file });
}

/** Told of every journal or snapshot write and fsync that succeeded, with its time and bytes (the /metrics endpoint listens). */
export type IoObserver = (op: 'write' | 'sync', ms: number, bytes: number) => void;

export class Disk {
  calls = 0;
  crashed = false;
  plan: FaultPlan | undefined;
  observer: IoObserver | undefined;

  /** Counts the call and applies the fault plan; returns a short-write fault to honour, if any. */
  check(op: IoOp, file: string): { short: number } | undefined {
    if (this.crashed) throw new CrashedError(`crashed: no more I/O (${op} '${file}')`);
    const n = ++this.calls;
    const fault = this.plan?.({ n, op, file });
    if (!fault) return undefined;
    if ('crash' in fault) {
      this.crashed = true;
      throw new CrashedError(`crashed at call ${this.calls} (${op} '${file}')`);
    }
    if ('error' in fault) throw errno(fault.error, op, file);
    return fault;
  }

  async open(file: string, flags: 'r+' | 'w' | 'wx', mode = 0o600): Promise<DiskFile> {
    this.check('open', file);
    return new DiskFile(this, file, await openFile(file, flags, mode));
  }

  truncateSync(file: string, length: number): void {
    this.check('truncate', file);
    fs.truncateSync(file, length);
  }

  renameSync(from: string, to: string): void {
    this.check('rename', from);
    fs.renameSync(from, to);
  }

  /** A second name for a file (evidence kept where a repair moves it, while the original is replaced). */
  linkSync(existing: string, to: string): void {
    this.check('rename', existing);
    fs.linkSync(existing, to);
  }

  unlinkSync(file: string): void {
    this.check('unlink', file);
    fs.unlinkSync(file);
  }

  mkdirSync(dir: string): void {
    this.check('mkdir', dir);
    fs.mkdirSync(dir, { recursive: true });
  }

  /** Makes a folder's entries (new, renamed, removed files) durable. */
  syncDirSync(dir: string): void {
    this.check('syncdir', dir);
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } catch (err) {
      // Some file systems cannot fsync a folder (EINVAL): there is nothing more to make durable there.
      if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Writes a whole file and makes it durable (used by repair for the valid prefix of a journal). */
  writeFileSync(file: string, bytes: Buffer): void {
    this.check('open', file);
    const fd = fs.openSync(file, 'wx', 0o600);
    try {
      for (let at = 0; at < bytes.length; ) {
        const short = this.check('write', file);
        const want = short ? Math.min(short.short, bytes.length - at) : bytes.length - at;
        const n = fs.writeSync(fd, bytes, at, want, at);
        if (n === 0) throw errno('ENOSPC', 'write', file);
        at += n;
      }
      this.check('sync', file);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }
}

export class DiskFile {
  /** The file's size at the last successful fsync: what a failed fsync may lose. */
  private syncedSize = 0;
  private size = 0;

  constructor(
    private readonly disk: Disk,
    readonly file: string,
    private readonly handle: FileHandle,
  ) {
    this.size = this.syncedSize = fs.fstatSync(handle.fd).size;
  }

  /** One write at `position`; returns how many bytes the system took, which may be fewer than asked. */
  async write(bytes: Buffer, position: number): Promise<number> {
    const short = this.disk.check('write', this.file);
    const length = short ? Math.min(short.short, bytes.length) : bytes.length;
    const started = monoNow();
    const { bytesWritten } = await this.handle.write(bytes, 0, length, position);
    this.disk.observer?.('write', monoNow() - started, bytesWritten);
    this.size = Math.max(this.size, position + bytesWritten);
    return bytesWritten;
  }

  /** Writes all of `bytes` at `position`, finishing short writes; throws if the system takes nothing. */
  async writeAll(bytes: Buffer, position: number): Promise<void> {
    for (let at = 0; at < bytes.length; ) {
      const n = await this.write(at === 0 ? bytes : bytes.subarray(at), position + at);
      if (n === 0) throw errno('ENOSPC', 'write', this.file);
      at += n;
    }
  }

  async datasync(): Promise<void> {
    try {
      this.disk.check('sync', this.file);
    } catch (err) {
      // A failed fsync may have dropped the dirty pages (PostgreSQL's fsyncgate):
      // make that visible, so that code which trusts the page cache afterwards fails its tests.
      if (!(err instanceof CrashedError)) this.loseUnsynced();
      throw err;
    }
    const started = monoNow();
    await this.handle.datasync();
    this.disk.observer?.('sync', monoNow() - started, this.size - this.syncedSize);
    this.syncedSize = this.size;
  }

  private loseUnsynced(): void {
    if (this.size > this.syncedSize) fs.writeSync(this.handle.fd, Buffer.alloc(this.size - this.syncedSize), 0, this.size - this.syncedSize, this.syncedSize);
  }

  async truncate(length: number): Promise<void> {
    this.disk.check('truncate', this.file);
    await this.handle.truncate(length);
    this.size = length;
    this.syncedSize = Math.min(this.syncedSize, length);
  }

  /** Closing never fails the caller: the data's fate was decided by the writes and fsyncs before it. */
  async close(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }
}

/** The Disk that production code uses. */
export const realDisk = new Disk();
