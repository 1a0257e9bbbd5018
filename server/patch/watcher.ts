import { readFileSync } from 'node:fs';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { createLogger } from '../log.ts';
import { hashText, relativeToRoot, type ProjectPaths } from './build.ts';
import type { PatchRecord } from './history.ts';
import { listSourceFiles } from './modules.ts';
import { hostClearTimeout, hostSetTimeout, wallNow } from '../host-globals.ts';

// Saves under logic/ become patches. A burst of writes (an editor's save, a
// git checkout touching twenty files) is coalesced into one patch. chokidar
// can drop a second change of a file that comes within ~50 ms of the first,
// so events only say "look"; what is patched is decided by content hashes,
// and every patch is followed by a rescan, so a newer save is never left
// unapplied.

export interface WatcherOptions {
  /** Quiet time after the last event before patching. */
  debounceMs?: number;
  /** Delay of the rescan that follows every patch. */
  rescanMs?: number;
  onRecord?: (record: PatchRecord) => void;
  onStateChange?: (file: string) => void;
  /** Shows a patch's outcome instead of the default log line (the CLI prints its own). */
  report?: (record: PatchRecord) => void;
}

/**
 * What a save is handed to: the server's own engine, or the CLI's admin
 * connection to a server elsewhere (which rebuilds from its own folder).
 */
export interface Patcher {
  patch(request: { files: string[]; origin: 'watch' }): Promise<PatchRecord>;
}

function contentHash(file: string): string {
  try {
    const text = readFileSync(file, 'utf8');
    // An editor that truncates before writing shows an empty file for a moment.
    return text.length === 0 ? 'empty' : hashText(text);
  } catch {
    return 'missing';
  }
}

export class LogicWatcher {
  private watcher: FSWatcher | undefined;
  private readonly seen = new Map<string, string>();
  private readonly stateSeen = new Map<string, string>();
  private readonly pending = new Set<string>();
  private readonly emptySince = new Map<string, number>();
  private debounce: ReturnType<typeof setTimeout> | undefined;
  private rescanTimer: ReturnType<typeof setTimeout> | undefined;
  private busy = false;
  private closed = false;
  private readonly log = createLogger('watch');
  private readonly debounceMs: number;
  private readonly rescanMs: number;

  constructor(
    private readonly engine: Patcher,
    private readonly paths: ProjectPaths,
    private readonly options: WatcherOptions = {},
  ) {
    this.debounceMs = options.debounceMs ?? 40;
    this.rescanMs = options.rescanMs ?? 150;
  }

  async start(): Promise<void> {
    for (const file of listSourceFiles(this.paths.logicDir)) this.seen.set(file, contentHash(file));
    for (const file of listSourceFiles(this.paths.stateDir)) this.stateSeen.set(file, contentHash(file));
    const watcher = watch([this.paths.logicDir, this.paths.stateDir], { ignoreInitial: true, ignored: (p) => path.basename(p).startsWith('.') });
    this.watcher = watcher;
    const onEvent = (file: string) => this.onEvent(path.resolve(file));
    watcher.on('add', onEvent).on('change', onEvent).on('unlink', onEvent);
    watcher.on('error', (err) => this.log.error(`watcher error: ${String(err)}`));
    await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
    this.log.info(`watching ${relativeToRoot(this.paths.root, this.paths.logicDir)}/ for changes`);
  }

  async close(): Promise<void> {
    this.closed = true;
    hostClearTimeout(this.debounce);
    hostClearTimeout(this.rescanTimer);
    const watcher = this.watcher;
    this.watcher = undefined;
    if (watcher) await watcher.close();
  }

  private onEvent(file: string): void {
    if (this.closed || !file.endsWith('.ts')) return;
    if (file.startsWith(this.paths.stateDir + path.sep)) {
      this.onStateEvent(file);
      return;
    }
    this.pending.add(file);
    hostClearTimeout(this.debounce);
    this.debounce = hostSetTimeout(() => void this.flush(), this.debounceMs);
  }

  private onStateEvent(file: string): void {
    const hash = contentHash(file);
    if (this.stateSeen.get(file) === hash) return;
    this.stateSeen.set(file, hash);
    this.log.warn(`${relativeToRoot(this.paths.root, file)} changed: stores are created once and never reloaded, so this is not applied; restart the server to load it`);
    this.options.onStateChange?.(file);
  }

  /** Files whose content differs from what was last patched. */
  private changedFiles(candidates: Iterable<string>): string[] {
    const changed: string[] = [];
    const now = wallNow();
    for (const file of candidates) {
      const hash = contentHash(file);
      if (this.seen.get(file) === hash) continue;
      if (hash === 'empty') {
        // Most likely half-way through a save: wait for the rest (or, if it stays empty, take it as meant).
        const since = this.emptySince.get(file) ?? now;
        this.emptySince.set(file, since);
        if (now - since < this.rescanMs) {
          this.scheduleRescan();
          continue;
        }
      }
      this.emptySince.delete(file);
      if (hash === 'missing') this.seen.delete(file);
      else this.seen.set(file, hash);
      changed.push(file);
    }
    return changed;
  }

  private async flush(): Promise<void> {
    if (this.busy || this.closed) return;
    const changed = this.changedFiles(this.pending);
    this.pending.clear();
    if (changed.length === 0) return;
    this.busy = true;
    try {
      const record = await this.engine.patch({ files: changed, origin: 'watch' });
      this.report(record);
    } finally {
      this.busy = false;
    }
    if (this.closed) return;
    if (this.pending.size > 0) {
      void this.flush();
      return;
    }
    this.scheduleRescan();
  }

  private scheduleRescan(): void {
    hostClearTimeout(this.rescanTimer);
    this.rescanTimer = hostSetTimeout(() => this.rescan(), this.rescanMs);
  }

  /** Catches saves whose events chokidar dropped. */
  private rescan(): void {
    if (this.closed) return;
    const files = new Set([...listSourceFiles(this.paths.logicDir), ...this.seen.keys()]);
    for (const file of files) this.pending.add(file);
    void this.flush();
  }

  private report(record: PatchRecord): void {
    this.options.onRecord?.(record);
    if (this.options.report) {
      this.options.report(record);
      return;
    }
    if (record.ok) {
      if (record.noop) return;
      const what = record.modules
        .filter((m) => m.change !== 'unchanged')
        .map((m) => (m.change === 'removed' ? `${m.module} removed` : `${m.module} v${m.oldVersion ?? '-'} -> v${m.newVersion} (${m.newHash!.slice(0, 8)})`))
        .join(', ');
      this.log.info(`patched ${what} in ${record.durationMs.toFixed(1)} ms`);
      return;
    }
    const err = record.error!;
    const frame = err.frame ? '\n' + err.frame : '';
    this.log.error(`patch rejected (${err.code}); the last good code keeps serving:\n${err.message}${frame}`);
  }
}
