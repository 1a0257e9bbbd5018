import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Host } from '../../server/host.ts';
import { heapAfterGc, median, ms, p99, type Row } from './table.ts';

// The patch engine's figures: patch latency, heap over many patches beside
// import('?v=N'), and the cost of a call through the binding table.

/** A 200-line module: 40 small functions of 5 lines each. */
function module200(version: number, ts = true): string {
  const lines: string[] = [ts ? `import { counter } from '../state/counter';` : `let counter = { n: 0 };`];
  for (let i = 0; i < 39; i++) {
    lines.push(`export function f${i}(ctx${ts ? ': unknown' : ''}, p${ts ? ': number' : ''}) {`, `  const a = p * ${i} + ${version};`, `  const b = a % 7;`, `  return a + b;`, `}`);
  }
  lines.push(`export function h(ctx${ts ? ': unknown' : ''}, p${ts ? ': number' : ''}) { return p + ${version}; }`);
  return lines.join('\n') + '\n';
}

const GRID_STATE = `import { defineTable } from '../server/api';
const rows: Record<string, { x: number }> = {};
for (let i = 0; i < 10000; i++) rows['r' + i] = { x: 0 };
export const grid = defineTable<{ x: number }>('grid', { rows });
`;

const GRID_LOGIC = `import type { Ctx } from '../server/api';
import { grid } from '../state/grid';
export function one(ctx: Ctx, id: string) { grid.update(id, (d) => { d.x += 1; }); }
export function touchAll(ctx: Ctx) { for (const id of [...grid.ids()]) grid.update(id, (d) => { d.x += 1; }); }
export function touchEach(ctx: Ctx) { for (const id of [...grid.ids()]) ctx.call('grid.one', id); }
`;

const CALLS_LOGIC = `import { fail, type Ctx } from '../server/api';
export function ok() { return 1; }
export function bad() { fail('NOPE', 'no'); }
export function loop(ctx: Ctx, p: { name: string; n: number }) { let caught = 0; for (let i = 0; i < p.n; i++) { try { ctx.call(p.name as never); } catch { caught++; } } return caught; }
`;

export async function benchEngine(patches: number): Promise<Row[]> {
  const root = mkdtempSync(path.join(tmpdir(), 'rebind-bench-engine-'));
  // The import('?v=N') baseline loads plain .mjs files from here.
  writeFileSync(path.join(root, 'package.json'), '{"type":"module"}');
  mkdirSync(path.join(root, 'state'));
  mkdirSync(path.join(root, 'logic'));
  writeFileSync(path.join(root, 'state/counter.ts'), `import { defineStore } from '../server/api';\nexport const counter = defineStore('counter', { n: 0 });\n`);
  writeFileSync(path.join(root, 'logic/bench.ts'), module200(0));
  writeFileSync(path.join(root, 'state/grid.ts'), GRID_STATE);
  writeFileSync(path.join(root, 'logic/grid.ts'), GRID_LOGIC);
  writeFileSync(path.join(root, 'logic/calls.ts'), CALLS_LOGIC);
  const host = await Host.open({ root });
  const rows: Row[] = [];
  try {
    // Patch latency: from the request to the new code answering.
    const times: number[] = [];
    for (let v = 1; v <= 220; v++) {
      writeFileSync(path.join(root, 'logic/bench.ts'), module200(v));
      const t0 = performance.now();
      const record = await host.patch(['bench']);
      if (!record.ok || host.call('bench.h', 0) !== v) throw new Error(`patch ${v} did not land: ${record.error?.message}`);
      if (v > 20) times.push(performance.now() - t0);
    }
    const med = median(times);
    rows.push({ section: 'patch', what: 'latency, one 200-line module (median)', rebind: ms(med), baseline: '-', goal: '< 10 ms', met: med < 10 });
    rows.push({ section: 'patch', what: 'latency, one 200-line module (p99)', rebind: ms(p99(times)), baseline: '-', goal: '' });

    // Heap over many patches, beside import(url + '?v=N') of the same code.
    let at100 = 0;
    for (let v = 1; v <= patches; v++) {
      writeFileSync(path.join(root, 'logic/bench.ts'), module200(1000 + v));
      const record = await host.patch(['bench']);
      if (!record.ok) throw new Error(record.error!.message);
      host.call('bench.h', 1);
      if (v === 100) at100 = heapAfterGc();
    }
    const ours = (heapAfterGc() - at100) / 2 ** 20;
    const file = path.join(root, 'esm.mjs');
    let esm100 = 0;
    for (let v = 1; v <= patches; v++) {
      writeFileSync(file, module200(1000 + v, false));
      const mod = (await import(`${pathToFileURL(file).href}?v=${v}`)) as { h(ctx: unknown, p: number): number };
      mod.h(null, 1);
      if (v === 100) esm100 = heapAfterGc();
    }
    const theirs = (heapAfterGc() - esm100) / 2 ** 20;
    rows.push({
      section: 'patch',
      what: `heap growth, patches 100 -> ${patches}`,
      rebind: `${ours.toFixed(2)} MB`,
      baseline: `${theirs.toFixed(2)} MB (import ?v=N)`,
      goal: '< 5 MB',
      met: ours < 5,
    });

    // A call through the binding table beside a direct call of the same function.
    const binding = host.bindings.resolve('bench.h')!;
    const fn = binding.fn;
    const ctx = host.dispatcher.context(null, 'bench');
    const N = 5_000_000;
    const time = (label: string, body: () => number) => {
      body();
      const t0 = performance.now();
      const sum = body();
      const ns = ((performance.now() - t0) * 1e6) / N;
      if (!Number.isFinite(sum)) throw new Error(label);
      return ns;
    };
    const direct = time('direct', () => {
      let s = 0;
      for (let i = 0; i < N; i++) s += fn(ctx, i) as number;
      return s;
    });
    const bound = time('bound', () => {
      let s = 0;
      for (let i = 0; i < N; i++) s += host.bindings.resolve('bench.h')!.fn(ctx, i) as number;
      return s;
    });
    rows.push({ section: 'call', what: 'through the binding table (lookup by name)', rebind: `${bound.toFixed(1)} ns`, baseline: `${direct.toFixed(1)} ns (direct call)`, goal: '< 100 ns added', met: bound - direct < 100 });
    const M = 500_000;
    const t0 = performance.now();
    let s = 0;
    for (let i = 0; i < M; i++) s += host.dispatcher.invoke('bench.h', i, null, 'internal') as number;
    const full = ((performance.now() - t0) * 1e6) / M;
    if (!Number.isFinite(s)) throw new Error('invoke');
    rows.push({ section: 'call', what: 'full dispatch (lookup, ctx, transaction)', rebind: `${full.toFixed(1)} ns`, baseline: `${direct.toFixed(1)} ns (direct call)`, goal: '' });

    // One transaction touching every row of a 10,000-row table, with one
    // ctx.call (a savepoint) per row beside the same writes made directly.
    const once = (name: string) => {
      const t = performance.now();
      host.call(name);
      return performance.now() - t;
    };
    const best = (name: string) => Math.min(once(name), once(name), once(name), once(name), once(name));
    const flat = best('grid.touchAll');
    const nested = best('grid.touchEach');
    rows.push({ section: 'call', what: 'touch 10,000 rows, one ctx.call per row', rebind: ms(nested), baseline: `${ms(flat)} (same writes, no ctx.call)`, goal: '< 3x baseline', met: nested < flat * 3 });

    // A ctx.call that fails with fail() and is caught, beside one that succeeds: the
    // error's stack is neither formatted nor mapped unless status or a log needs it.
    const perCall = (name: string) => {
      const n = 20_000;
      const t = performance.now();
      host.call('calls.loop', { name, n });
      return ((performance.now() - t) * 1000) / n;
    };
    perCall('calls.ok');
    perCall('calls.bad');
    const okUs = Math.min(perCall('calls.ok'), perCall('calls.ok'), perCall('calls.ok'));
    const badUs = Math.min(perCall('calls.bad'), perCall('calls.bad'), perCall('calls.bad'));
    rows.push({ section: 'call', what: 'a caught failing ctx.call (fail())', rebind: `${badUs.toFixed(1)} us`, baseline: `${okUs.toFixed(1)} us (a succeeding ctx.call)`, goal: '' });
  } finally {
    await host.stop();
    rmSync(root, { recursive: true, force: true });
  }
  return rows;
}
