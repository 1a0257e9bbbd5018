import { types } from 'node:util';
// One error type for the whole host, with stable codes that clients, the CLI
// and tests can match on. Messages are for people; codes are for programs.

export type ErrorCode =
  // patches
  | 'PATCH_COMPILE_ERROR'
  | 'PATCH_EVAL_ERROR'
  | 'PATCH_BAD_EXPORT'
  | 'PATCH_INIT_ERROR'
  | 'PATCH_MIGRATION_ERROR'
  | 'PATCH_STATE_IMPORT'
  | 'PATCH_ENGINE_IMPORT'
  | 'PATCH_TIME_LIMIT'
  | 'NO_ROLLBACK'
  | 'UNKNOWN_MODULE'
  | 'BAD_MODULE_NAME'
  // calls
  | 'UNKNOWN_HANDLER'
  | 'NOT_PUBLIC'
  | 'HANDLER_ERROR'
  | 'BAD_HANDLER_NAME'
  | 'NEEDS_PLAYER'
  | 'BAD_PAYLOAD'
  | 'NOT_JOINED'
  | 'RESUME_FAILED'
  // stores
  | 'NOT_PLAIN_DATA'
  | 'DUPLICATE_STORE'
  | 'UNKNOWN_STORE'
  | 'UNKNOWN_ROW'
  | 'BAD_ROW_ID'
  | 'UNKNOWN_PATH'
  | 'STATE_LOAD_ERROR'
  | 'STORE_OUTSIDE_STATE'
  // what game logic may not do to the host
  | 'LOGIC_FORBIDDEN'
  // wire
  | 'BAD_FRAME'
  | 'PAYLOAD_TOO_LARGE'
  | 'RATE_LIMITED'
  | 'AUTH_FAILED'
  | 'SHUTTING_DOWN'
  | 'REPLY_TOO_LARGE'
  | 'PORT_IN_USE'
  // admin
  | 'BAD_TOKEN'
  | 'BAD_REQUEST'
  | 'UNKNOWN_ACTION'
  // persistence
  | 'PERSIST_ERROR'
  | 'DATA_DAMAGED'
  | 'DATA_LOCKED'
  | 'LIVE_CODE_DAMAGED'
  | 'CANARY_REFUSED'
  // fleet (several nodes on one Redis)
  | 'FLEET_UNAVAILABLE'
  | 'FLEET_TIMEOUT'
  | 'ROOM_ELSEWHERE'
  | 'PLAYER_ELSEWHERE'
  | 'ROOM_LOST'
  | 'NODE_GONE'
  | 'FLEET_ABORTED'
  | 'FLEET_BUSY'
  // a code chosen by game logic through fail()
  | (string & {});

export interface SourceLocation {
  /** Path relative to the project root, e.g. `logic/chat.ts`. */
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
  lineText?: string;
}

export class RebindError extends Error {
  readonly code: ErrorCode;
  readonly location?: SourceLocation;
  /** Extra plain data that helps an operator (module names, paths...). */
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: { location?: SourceLocation; details?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RebindError';
    this.code = code;
    if (options.location) this.location = options.location;
    if (options.details) this.details = options.details;
  }

  /** The shape that crosses the wire and the admin channel. */
  toJSON(): { code: string; message: string; location?: SourceLocation; details?: Record<string, unknown> } {
    const out: { code: string; message: string; location?: SourceLocation; details?: Record<string, unknown> } = { code: this.code, message: this.message };
    if (this.location) out.location = this.location;
    if (this.details) out.details = this.details;
    return out;
  }
}

export function rebindError(code: ErrorCode, message: string, options?: ConstructorParameters<typeof RebindError>[2]): RebindError {
  return new RebindError(code, message, options);
}

/** Whether `value` is one of the server's coded errors; never throws, whatever logic threw (a Proxy's getPrototypeOf trap, a revoked Proxy). */
export function isRebindError(value: unknown): value is RebindError {
  if (typeof value !== 'object' || value === null || types.isProxy(value)) return false;
  try {
    return value instanceof RebindError;
  } catch {
    return false;
  }
}

/** `file:line:col` for a location, the way editors and terminals link it. */
export function formatLocation(loc: SourceLocation): string {
  return `${loc.file}:${loc.line}:${loc.column}`;
}

/** A few lines of source around a location, with a caret under the column. */
export function codeFrame(loc: SourceLocation, source: string | undefined, context = 2): string {
  if (!source) return loc.lineText ? `  ${loc.lineText}\n  ${' '.repeat(Math.max(0, loc.column - 1))}^` : '';
  const lines = source.split('\n');
  const from = Math.max(1, loc.line - context);
  const to = Math.min(lines.length, loc.line + context);
  const width = String(to).length;
  const out: string[] = [];
  for (let n = from; n <= to; n++) {
    const mark = n === loc.line ? '>' : ' ';
    out.push(`${mark} ${String(n).padStart(width)} | ${lines[n - 1] ?? ''}`);
    if (n === loc.line) out.push(`  ${' '.repeat(width)} | ${' '.repeat(Math.max(0, loc.column - 1))}^`);
  }
  return out.join('\n');
}
