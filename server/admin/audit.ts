import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { createLogger } from '../log.ts';

// Every admin action, one JSON line each: when, from where, what, and how it
// ended. Appended synchronously so that a crash cannot lose the line of an
// action that already took effect. A line that cannot be written (a full
// disk) is logged, and never turns an action that was done into an error.

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

  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true });
    this.file = path.join(dataDir, 'audit.log');
  }

  write(entry: AuditEntry): void {
    const line = JSON.stringify({ at: new Date().toISOString(), ...entry });
    // The log gets every operator action too, with the same fields (who, from where, what, how it ended).
    this.log.event(entry.ok ? 'info' : 'warn', `${entry.action} by ${entry.origin}${'address' in entry ? ` from ${String(entry.address)}` : ''}: ${entry.ok ? 'done' : 'refused or failed'}`, { ...entry });
    try {
      appendFileSync(this.file, line + '\n', { mode: 0o600 });
      if (this.failing) this.log.info(`${this.file} can be written again`);
      this.failing = false;
    } catch (err) {
      this.log.event('error', `could not append to ${this.file} (${(err as Error).message}); the line is kept in this log as auditLine`, { auditLine: line });
      this.failing = true;
    }
  }
}
