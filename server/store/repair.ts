import path from 'node:path';
import type { Disk } from './io.ts';

// `--repair`: damaged files are set aside, never truncated or deleted. They
// go to data/damaged-<time>/, which nothing reads again, so a journal set
// aside can never be replayed into a later history.

/** Left behind by a repair that did not finish: the valid prefix before it replaced the damaged journal. */
export const REPAIR_TEMP = /^journal-\d{12}\.bin\.repair$/;

export interface SetAside {
  folder: string;
  moved: string[];
}

/**
 * Moves `files` into a new damaged-<time>/ folder. If `keepPrefix` is given,
 * its file is moved there too and replaced by its valid prefix, so the
 * history before the damage stays in place. Crash-safe: until the last
 * rename, the damaged file is still where it was and the next start
 * refuses again.
 */
export function setAside(disk: Disk, dir: string, files: string[], keepPrefix?: { file: string; bytes: Buffer }): SetAside {
  const folder = path.join(dir, `damaged-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  disk.mkdirSync(folder);
  const moved: string[] = [];
  for (const file of files) {
    disk.renameSync(file, path.join(folder, path.basename(file)));
    moved.push(path.basename(file));
  }
  if (keepPrefix) {
    const { file, bytes } = keepPrefix;
    const aside = path.join(folder, path.basename(file));
    if (bytes.length === 0) disk.renameSync(file, aside);
    else {
      const temp = `${file}.repair`;
      disk.writeFileSync(temp, bytes);
      disk.linkSync(file, aside);
      disk.renameSync(temp, file);
    }
    moved.push(path.basename(file));
  }
  disk.syncDirSync(folder);
  disk.syncDirSync(dir);
  return { folder, moved };
}
