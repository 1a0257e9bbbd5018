// The one rule for a verification window (a patch's --verify), shared by the
// server's --verify flag, the admin channel's patch action, the engine, the
// CLI and the dashboard, so that none of them accepts a window another
// refuses. Plain code with no imports: the dashboard bundles it as it bundles
// the admin protocol's file.

/** The longest window: a day. A verification holds its patch's history open and the CLI waiting; longer is a typo. */
export const MAX_VERIFY_MS = 86_400_000;

/** The shortest window: a second. Shorter, the window is over after a check or two and judges a handful of calls at best. */
export const MIN_VERIFY_MS = 1000;

export const VERIFY_WINDOW_HELP = 'a duration such as 30s, 1500ms, 2m or 1h, from 1s to 24h';

/** "30s", "500ms", "2m", "1h" or a number of seconds, in milliseconds; undefined if it is none of these. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] === 'ms' ? 1 : m[2] === 'm' ? 60_000 : m[2] === 'h' ? 3_600_000 : 1000;
  return Math.round(n * unit);
}

/** Why `ms` (a window in milliseconds) cannot be a verification window, or undefined if it can. */
export function verifyWindowProblem(ms: unknown): string | undefined {
  if (typeof ms !== 'number' || !Number.isInteger(ms)) return 'must be a whole number of milliseconds';
  if (ms < MIN_VERIFY_MS) return `must be at least 1s (${MIN_VERIFY_MS} ms), got ${ms} ms`;
  if (ms > MAX_VERIFY_MS) return `must be at most 24h (${MAX_VERIFY_MS} ms), got ${formatWindow(ms)}`;
  return undefined;
}

/** A window typed by a person ("30s"), in milliseconds, or why it is refused (naming the bound): "must be ...". */
export function parseVerifyWindow(text: string): { ms: number } | { error: string } {
  const ms = parseDuration(text);
  if (ms === undefined) return { error: `must be ${VERIFY_WINDOW_HELP}, got "${text}"` };
  const problem = verifyWindowProblem(ms);
  return problem ? { error: `${problem.replace(/, got .*$/, '')}, got "${text}"${ms > MAX_VERIFY_MS ? ` (${formatWindow(ms)})` : ''}` } : { ms };
}

/** 90000 -> "90 s", 7200000 -> "2 h": for messages. */
export function formatWindow(ms: number): string {
  if (ms >= 3_600_000) return `${Math.round((ms / 3_600_000) * 10) / 10} h`;
  return `${Math.round(ms / 100) / 10} s`;
}
