import * as fs from 'node:fs';
import path from 'node:path';
import { realDisk } from '../store/io.ts';
import type { PatchRecord } from './history.ts';

// The patch history outlives the process: every record is appended as one
// JSON line to <data>/code/history.jsonl and fsynced (patches are rare; each
// must be on disk like the code it describes). When the file passes
// ROTATE_BYTES it becomes history.1.jsonl, replacing the older one, so the
// history on disk stays between one and two files' worth (thousands of
// records) without growing for ever. A line that cannot be read (torn by a
// crash mid-append, or damaged) is skipped when read, with a warning naming
// where. No-op patches (nothing differed) are not written: a thousand of them
// would push every real record out of what a restart reads back.

const ROTATE_BYTES = 4 * 1024 * 1024;

export class HistoryFile {
  readonly file: string;
  readonly rotated: string;

  constructor(
    dir: string,
    private readonly rotateBytes = ROTATE_BYTES,
  ) {
    this.file = path.join(dir, 'history.jsonl');
    this.rotated = path.join(dir, 'history.1.jsonl');
  }

  /** The newest `limit` records, oldest first; `warn` hears of lines that could not be read. */
  load(limit: number, warn: (message: string) => void = () => undefined): PatchRecord[] {
    const records: PatchRecord[] = [];
    const bad: string[] = [];
    for (const file of [this.rotated, this.file]) {
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch {
        continue;
      }
      text.split('\n').forEach((line, i) => {
        if (!line) return;
        try {
          const record = JSON.parse(line) as PatchRecord;
          if (record && typeof record.id === 'number') return void records.push(record);
        } catch {
          // Reported below: the record it would have been is lost, the others are not.
        }
        bad.push(`${path.basename(file)} line ${i + 1}`);
      });
    }
    if (bad.length > 0) {
      const where = bad.length > 5 ? `${bad.slice(0, 5).join(', ')} and ${bad.length - 5} more` : bad.join(', ');
      warn(`the patch history skipped ${bad.length} line(s) it could not read (${where}): a crash mid-append tears one; more, or one in the middle of a file, is damage. The other records are read back`);
    }
    return records.slice(-limit);
  }

  append(record: PatchRecord): void {
    if (record.kind === 'patch' && record.noop) return;
    const size = fs.statSync(this.file, { throwIfNoEntry: false })?.size ?? 0;
    if (size >= this.rotateBytes) {
      fs.renameSync(this.file, this.rotated);
      realDisk.syncDirSync(path.dirname(this.file));
    }
    const fd = fs.openSync(this.file, 'a+', 0o600);
    try {
      // After a torn append the file does not end in a newline: start a fresh line, so only the torn record is lost.
      const torn = size > 0 && size < this.rotateBytes && lastByte(fd, size) !== 0x0a;
      const bytes = Buffer.from((torn ? '\n' : '') + JSON.stringify(record) + '\n', 'utf8');
      for (let at = 0; at < bytes.length; ) {
        const n = fs.writeSync(fd, bytes, at, bytes.length - at);
        if (n === 0) throw new Error(`no space to append to ${this.file}`);
        at += n;
      }
      fs.fdatasyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    if (size === 0) realDisk.syncDirSync(path.dirname(this.file));
  }
}

function lastByte(fd: number, size: number): number {
  const one = Buffer.alloc(1);
  fs.readSync(fd, one, 0, 1, size - 1);
  return one[0]!;
}
