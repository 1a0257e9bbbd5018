// One row per figure, printed as an aligned table with its baseline and goal.

export interface Row {
  section: string;
  what: string;
  rebind: string;
  baseline: string;
  goal: string;
  /** Whether the goal is met; undefined where there is no goal. */
  met?: boolean;
}

export function printTable(rows: Row[]): string {
  const head = ['benchmark', 'rebind', 'baseline (same run)', 'goal', 'met'];
  const cells = rows.map((r) => [`${r.section}: ${r.what}`, r.rebind, r.baseline, r.goal, r.met === undefined ? '' : r.met ? 'yes' : 'NO']);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((v, i) => v.padEnd(widths[i]!)).join(' | ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('-|-'), ...cells.map(line)].join('\n');
}

export function ms(value: number): string {
  return `${value.toFixed(2)} ms`;
}

export function us(value: number): string {
  return `${value.toFixed(2)} µs`;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

export function p99(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.99))] ?? 0;
}

export function heapAfterGc(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run the benchmarks with node --expose-gc (npm run bench does)');
  for (let i = 0; i < 4; i++) gc();
  return process.memoryUsage().heapUsed;
}
