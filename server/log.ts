import { inspect, styleText } from 'node:util';
import type { Logger } from './api.ts';

// A small levelled logger: one line per event, a scope in front, colour only
// on a terminal. REBIND_LOG=debug|info|warn|error|silent picks the level.

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 } as const;
type Level = keyof typeof LEVELS;

function threshold(): number {
  const wanted = (process.env.REBIND_LOG ?? 'info') as Level;
  return LEVELS[wanted] ?? LEVELS.info;
}

const COLOURS: Record<Exclude<Level, 'silent'>, Parameters<typeof styleText>[0]> = {
  debug: 'gray',
  info: 'cyan',
  warn: 'yellow',
  error: 'red',
};

function write(level: Exclude<Level, 'silent'>, scope: string, message: string, rest: unknown[]): void {
  if (LEVELS[level] < threshold()) return;
  const stream = level === 'error' || level === 'warn' ? process.stderr : process.stdout;
  const tag = `[${scope}]`;
  const head = stream.isTTY ? `${styleText(COLOURS[level], level.padEnd(5))} ${styleText('bold', tag)}` : `${level.padEnd(5)} ${tag}`;
  // inspect, not JSON.stringify: logic may log anything, cycles and bigints included.
  const tail = rest.map((r) => (r instanceof Error ? `\n${r.stack ?? r.message}` : typeof r === 'string' ? r : inspect(r, { depth: 4, breakLength: Infinity }))).join(' ');
  stream.write(`${head} ${message}${tail ? ' ' + tail : ''}\n`);
}

export function createLogger(scope: string): Logger {
  return {
    debug: (m, ...r) => write('debug', scope, m, r),
    info: (m, ...r) => write('info', scope, m, r),
    warn: (m, ...r) => write('warn', scope, m, r),
    error: (m, ...r) => write('error', scope, m, r),
  };
}
