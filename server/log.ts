import { styleText } from 'node:util';
import pino from 'pino';
import { cut, describeValue, isThrownError, LOG_LIMITS, loggableError, plainData, type LoggedError } from './thrown.ts';
import type { Logger } from './api.ts';

// The one logger factory, on pino: JSON lines (one object per event, with
// `scope` and any fields) when the output is not a terminal, so that a log
// shipper can read them; on a terminal the same events as readable lines,
// coloured unless NO_COLOR is set. REBIND_LOG=debug|info|warn|error|silent
// picks the level. Every level goes to stdout: one stream, so a shipper reading
// it sees warnings and errors in order with the rest (the busy watchdog's
// lines too, busy.ts), and nothing of the log is left on stderr.

type Level = 'debug' | 'info' | 'warn' | 'error';
const LEVELS = new Set(['debug', 'info', 'warn', 'error', 'silent']);

/** Structured fields of one event (handler, player, location...). */
export type LogFields = Record<string, unknown>;

export interface HostLogger extends Logger {
  /** One event with fields that JSON output keeps as fields (and a terminal shows as key=value). */
  event(level: Level, message: string, fields: LogFields): void;
}

const COLOURS: Record<Level, Parameters<typeof styleText>[0]> = { debug: 'gray', info: 'cyan', warn: 'yellow', error: 'red' };
const LABELS: Record<number, Level> = { 20: 'debug', 30: 'info', 40: 'warn', 50: 'error' };
const NOT_SHOWN = new Set(['level', 'time', 'scope', 'msg', 'err', 'pid', 'hostname']);

/** On a terminal, a JSON line from pino becomes "level [scope] message key=value", with the stack below. */
function readable(line: string, colour: boolean): string {
  let event: Record<string, unknown>;
  try {
    event = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const level = LABELS[event.level as number] ?? 'info';
  const paint = (style: Parameters<typeof styleText>[0], text: string) => (colour ? styleText(style, text) : text);
  const fields = Object.entries(event)
    .filter(([k]) => !NOT_SHOWN.has(k))
    .map(([k, v]) => `${paint('gray', k + '=')}${typeof v === 'string' ? v : JSON.stringify(v)}`);
  const err = event.err as { stack?: string; message?: string } | undefined;
  const stack = err ? `\n${err.stack ?? err.message}` : '';
  return `${paint(COLOURS[level], level.padEnd(5))} ${paint('bold', `[${String(event.scope ?? '')}]`)} ${String(event.msg ?? '')}${fields.length ? ' ' + fields.join(' ') : ''}${stack}\n`;
}

/** The log's one stream: the server's stdout; a tool whose stdout is its answer (the CLI) moves it to stderr. */
let stream: NodeJS.WriteStream = process.stdout;

/** Sends the log to stderr (call before the first line): the CLI's stdout is its answer, --json included. */
export function logToStderr(): void {
  stream = process.stderr;
}

/** Whether REBIND_LOG lets lines of `level` through. */
export function logEnabled(level: Level): boolean {
  return rootLogger().isLevelEnabled(level);
}

/** The file descriptor of the log's stream (the busy watchdog's thread writes there itself). */
export function logFd(): number {
  return stream === process.stderr ? 2 : 1;
}

/** Whether the log is JSON lines (stdout is not a terminal) or readable lines. */
export function logIsJson(): boolean {
  return !stream.isTTY;
}

function destination(stream: NodeJS.WriteStream): { write(line: string): void } {
  if (!stream.isTTY) return { write: (line) => void stream.write(line) };
  const colour = !process.env.NO_COLOR;
  return { write: (line) => void stream.write(readable(line, colour)) };
}

let root: pino.Logger | undefined;

/** Built at the first event, so that REBIND_LOG set by a tool before it logs is honoured. */
function rootLogger(): pino.Logger {
  if (root) return root;
  const given = process.env.REBIND_LOG ?? 'info';
  // DEBUG is debug; a level that is none of them is said once, not silently taken as info.
  const wanted = given.trim().toLowerCase();
  const known = LEVELS.has(wanted);
  // `err` is plain data thrown.ts built: pino's own serializer would read it again (and tag it with a symbol).
  root = pino({ level: known ? wanted : 'info', serializers: { err: (err: unknown) => err }, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, destination(stream));
  if (!known) root.warn({ scope: 'log' }, `REBIND_LOG=${JSON.stringify(given)} is not a level (${[...LEVELS].join(', ')}); logging at info`);
  return root;
}

function write(level: Level, scope: string, message: string, rest: unknown[], fields?: LogFields): void {
  // A log call never throws, whatever it is given: it runs inside the uncaughtException handler too.
  try {
    const logger = rootLogger();
    if (!logger.isLevelEnabled(level)) return;
    // pino is given only what thrown.ts built: its serializers never see a value of logic's.
    let err: LoggedError | undefined;
    let text = cut(String(message), LOG_LIMITS.message);
    for (const r of rest) {
      if (!err && isThrownError(r)) err = loggableError(r);
      else text += ' ' + describeValue(r);
    }
    const event: LogFields = { scope };
    for (const [key, value] of Object.entries(fields ?? {})) event[key] = plainData(value);
    if (err) event.err = err;
    logger[level](event, cut(text, LOG_LIMITS.stack));
  } catch {
    // Nothing left to tell it with.
  }
}

export function createLogger(scope: string): HostLogger {
  return {
    debug: (m, ...r) => write('debug', scope, m, r),
    info: (m, ...r) => write('info', scope, m, r),
    warn: (m, ...r) => write('warn', scope, m, r),
    error: (m, ...r) => write('error', scope, m, r),
    event: (level, m, fields) => write(level, scope, m, [], fields),
  };
}
