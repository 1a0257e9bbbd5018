import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';

// Every admin action, one JSON line each: when, from where, what, and how it
// ended. Appended synchronously so that a crash cannot lose the line of an
// action that already took effect.

export interface AuditEntry {
  action: string;
  origin: string;
  args?: unknown;
  ok: boolean;
  result?: unknown;
}

export class AuditLog {
  readonly file: string;

  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true });
    this.file = path.join(dataDir, 'audit.log');
  }

  write(entry: AuditEntry): void {
    appendFileSync(this.file, JSON.stringify({ at: new Date().toISOString(), ...entry }) + '\n', { mode: 0o600 });
  }
}
