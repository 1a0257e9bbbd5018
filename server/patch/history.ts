import { isRebindError, type SourceLocation } from '../errors.ts';
import type { VerifyReport } from './verify.ts';
import { monoNow } from '../host-globals.ts';

// Every patch and rollback is recorded: who asked, what changed (versions and
// content hashes), how long it took, and the error if it was rejected.

/** verify: an auto-rollback or confirm that a patch's verification decided (whoever asked for the patch). */
export type Origin = 'start' | 'watch' | 'cli' | 'api' | 'dashboard' | 'verify';

export interface ModuleChange {
  module: string;
  change: 'added' | 'updated' | 'removed' | 'unchanged';
  oldVersion: number | null;
  newVersion: number | null;
  oldHash: string | null;
  newHash: string | null;
}

export interface PatchError {
  code: string;
  message: string;
  location?: SourceLocation;
  /** A few lines of source around the location, with a caret. */
  frame?: string;
  stack?: string;
  /** The module the error came from, when one can be named. */
  module?: string;
}

/**
 * `restore`: the start of a server that came back on the live code saved in its data folder.
 * `auto-rollback`: a patch under verification went over budget and was rolled back (see verify.ts).
 * `confirm`: a patch under verification stayed within budget for its window (nothing changes).
 * `unverified`: its window saw too few calls to judge (a patch stays live, a canary is withdrawn).
 * `superseded`: another patch or a rollback replaced the version before its window ended.
 */
/** verify-abandoned, canary-abandoned: written at a start for a verification or canary a stop cut short (verify.patch names the patch). */
export type RecordKind = 'patch' | 'rollback' | 'restore' | 'auto-rollback' | 'confirm' | 'unverified' | 'superseded' | 'verify-abandoned' | 'canary-abandoned';

/** The kinds of record a verification writes when it ends (the audit log gets a line for each). */
export const VERIFY_OUTCOMES: ReadonlySet<RecordKind> = new Set<RecordKind>(['auto-rollback', 'confirm', 'unverified', 'superseded']);

export interface PatchRecord {
  id: number;
  at: string;
  kind: RecordKind;
  origin: Origin;
  by?: string;
  ok: boolean;
  /** True when nothing differed from the live code. */
  noop: boolean;
  modules: ModuleChange[];
  migrations: string[];
  durationMs: number;
  error?: PatchError;
  /** Of a patch: the window it is verified over. Of an auto-rollback or a confirm: the verification's outcome, reason and figures. */
  verify?: VerifyReport | { windowMs: number } | { windowMs: number; patch: number; abandoned: true };
  /** Of a canary patch: the share of players its versions serve until the verification decides. */
  canary?: number;
  /** Files on disk that this patch left out (a module name the server cannot use), each with why: not patched in. */
  leftOut?: LeftOut[];
}

export interface LeftOut {
  module: string;
  code: string;
  message: string;
}

export interface RecordMeta {
  origin: Origin;
  by?: string | undefined;
  kind: RecordKind;
  /** monoNow() when the request arrived. */
  started: number;
  verify?: PatchRecord['verify'];
  canary?: number;
  leftOut?: LeftOut[];
}

const KEEP = 1000;

export class History {
  private readonly records: PatchRecord[] = [];

  constructor(private readonly frameOf: (location: SourceLocation) => string | undefined = () => undefined) {}

  private nextId = 1;
  private listeners = new Set<(record: PatchRecord) => void>();

  /** Puts back the records of earlier runs (read from the data folder); new ids continue after them. */
  restore(records: readonly PatchRecord[]): void {
    this.records.unshift(...records.slice(-KEEP));
    if (this.records.length > KEEP) this.records.splice(0, this.records.length - KEEP);
    for (const r of this.records) this.nextId = Math.max(this.nextId, r.id + 1);
  }

  onRecord(listener: (record: PatchRecord) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  list(limit = KEEP): PatchRecord[] {
    return this.records.slice(-limit);
  }

  last(): PatchRecord | undefined {
    return this.records.at(-1);
  }

  /** Modules that the newest successful, non-empty patch changed. */
  lastChangedModules(): string[] {
    for (let i = this.records.length - 1; i >= 0; i--) {
      const r = this.records[i]!;
      if (!r.ok || r.noop) continue;
      return r.modules.filter((m) => m.change === 'updated').map((m) => m.module);
    }
    return [];
  }

  ok(meta: RecordMeta, modules: ModuleChange[], migrations: string[]): PatchRecord {
    return this.add(meta, { ok: true, noop: false, modules, migrations });
  }

  noop(meta: RecordMeta, modules: ModuleChange[]): PatchRecord {
    return this.add(meta, { ok: true, noop: true, modules, migrations: [] });
  }

  /** `frameOf`: where to read the source for the code frame, when not from this process's disk (a shipped patch). */
  fail(meta: RecordMeta, modules: ModuleChange[], err: unknown, frameOf = this.frameOf): PatchRecord {
    const error: PatchError = isRebindError(err)
      ? {
          code: err.code,
          message: err.message,
          ...(err.location ? { location: err.location } : {}),
          ...(typeof err.details?.stack === 'string' ? { stack: err.details.stack } : {}),
          ...(typeof err.details?.module === 'string' ? { module: err.details.module } : {}),
        }
      : { code: 'PATCH_ERROR', message: err instanceof Error ? err.message : String(err) };
    const frame = error.location ? frameOf(error.location) : undefined;
    if (frame) error.frame = frame;
    return this.add(meta, { ok: false, noop: false, modules, migrations: [], error });
  }

  private add(meta: RecordMeta, outcome: Pick<PatchRecord, 'ok' | 'noop' | 'modules' | 'migrations' | 'error'>): PatchRecord {
    const record: PatchRecord = {
      id: this.nextId++,
      at: new Date().toISOString(),
      kind: meta.kind,
      origin: meta.origin,
      ...(meta.by ? { by: meta.by } : {}),
      ...outcome,
      ...(meta.verify ? { verify: meta.verify } : {}),
      ...(meta.canary !== undefined ? { canary: meta.canary } : {}),
      ...(meta.leftOut?.length ? { leftOut: meta.leftOut } : {}),
      durationMs: Math.round((monoNow() - meta.started) * 1000) / 1000,
    };
    if (!record.error) delete record.error;
    this.records.push(record);
    if (this.records.length > KEEP) {
      // No-op patches go first: a script patching in a loop must not push the real records out.
      const noop = this.records.findIndex((r) => r.kind === 'patch' && r.noop);
      this.records.splice(noop >= 0 && noop < this.records.length - 1 ? noop : 0, 1);
    }
    for (const listener of this.listeners) listener(record);
    return record;
  }
}
