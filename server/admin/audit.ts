import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { createLogger } from '../log.ts';
import { folderIdentity } from '../store/lock.ts';

// Every admin action, one JSON line each: when, from where, what, and how it
// ended. Appended synchronously so that a crash cannot lose the line of an
// action that already took effect. A line that cannot be written (a full
// disk) is logged, and never turns an action that was done into an error.
// Like the journal and the snapshots, it is written only while the data
// folder's path still names the folder the server started with: a folder
// moved away and replaced belongs to whoever uses the new one.

export interface AuditEntry {
  action: string;
  origin: string;
  args?: unknown;
  ok: boolean;
  result?: unknown;
}

export class AuditLog {
  readonly file: string;
  private readonly log = createLogger('audit');
  private failing = false;
  private readonly dataDir: string;
  private readonly identity: string;

  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true });
    this.dataDir = dataDir;
    this.identity = folderIdentity(dataDir);
    this.file = path.join(dataDir, 'audit.log');
  }

  write(entry: AuditEntry): void {
    const line = JSON.stringify({ at: new Date().toISOString(), ...entry });
    // The log gets every operator action too, with the same fields (who, from where, what, how it ended).
    this.log.event(entry.ok ? 'info' : 'warn', `${entry.action} by ${entry.origin}${'address' in entry ? ` from ${String(entry.address)}` : ''}: ${outcomeOf(entry)}`, { ...entry });
    try {
      if (folderIdentity(this.dataDir) !== this.identity) throw new Error(`the data folder ${this.dataDir} was moved, removed or replaced while this server ran; it writes nothing there any more`);
      appendFileSync(this.file, line + '\n', { mode: 0o600 });
      if (this.failing) this.log.info(`${this.file} can be written again`);
      this.failing = false;
    } catch (err) {
      this.log.event('error', `could not append to ${this.file} (${(err as Error).message}); the line is kept in this log as auditLine`, { auditLine: line });
      this.failing = true;
    }
  }
}

/** How an action ended, in words: a verification's outcome when the result carries one (a windowed patch, an auto-rollback), else done / refused or failed. */
export function outcomeOf(entry: AuditEntry): string {
  const result = entry.result as { outcome?: unknown; verification?: { outcome?: unknown }; reason?: unknown } | undefined;
  const outcome = result?.verification?.outcome ?? result?.outcome;
  if (typeof outcome !== 'string') return entry.ok ? 'done' : 'refused or failed';
  const reason = typeof result?.reason === 'string' ? ` (${result.reason})` : '';
  if (entry.action === 'auto-rollback') return entry.ok ? `rolled back${reason}` : `the rollback failed${reason}`;
  if (outcome === 'confirmed') return 'confirmed by its verification';
  if (outcome === 'rolled-back') return `rolled back by its verification${reason}`;
  if (outcome === 'unverified') return `live, but UNVERIFIED${reason}`;
  return `verification ${outcome}${reason}`;
}
