import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Host } from '../../server/host.ts';
import { setMetricsEnabled } from '../../server/metrics/call-stats.ts';
import { load, serve } from './net.ts';
import type { Row } from './table.ts';
import type { LoadReport } from '../loadtest.ts';

/** Nanoseconds per dispatch of a trivial handler with counting on and off, alternated in one process (medians of 5). */
async function dispatchCost(): Promise<{ on: number; off: number }> {
  const root = mkdtempSync(path.join(tmpdir(), 'rebind-bench-metrics-'));
  mkdirSync(path.join(root, 'state'));
  mkdirSync(path.join(root, 'logic'));
  writeFileSync(path.join(root, 'logic/m.ts'), 'export function hit(ctx: unknown, n: number) { return n + 1; }\n');
  const host = await Host.open({ root });
  const runs: Record<'on' | 'off', number[]> = { on: [], off: [] };
  const calls = 200_000;
  for (let round = 0; round < 5; round++) {
    for (const mode of round % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const)) {
      setMetricsEnabled(mode === 'on');
      const started = performance.now();
      for (let i = 0; i < calls; i++) host.call('m.hit', i);
      runs[mode].push(((performance.now() - started) * 1e6) / calls);
    }
  }
  setMetricsEnabled(true);
  await host.stop();
  rmSync(root, { recursive: true, force: true });
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[2]!;
  return { on: median(runs.on), off: median(runs.off) };
}

// What counting every call per handler and version costs on the message
// path: the same server, closed loop, with REBIND_METRICS=0 and with the
// default, alternated over three rounds each in this run (the order swapped
// each round), medians compared.

export async function benchMetrics(seconds: number): Promise<Row[]> {
  const on: LoadReport[] = [];
  const off: LoadReport[] = [];
  for (let round = 0; round < 3; round++) {
    const pair = [
      [off, { REBIND_METRICS: '0' }],
      [on, {}],
    ] as const;
    // Which goes first changes every round: the second server of a pair runs on a machine still busy with the first's exit.
    for (const [reports, env] of round % 2 === 0 ? pair : [...pair].reverse()) {
      const server = await serve(['--mode', 'rebind'], env);
      reports.push(await load(server.url, 50, 0, seconds / 2));
      await server.stop();
    }
  }
  const median = (reports: LoadReport[]) => reports.map((r) => r.messagesPerSecond).sort((a, b) => a - b)[1]!;
  const withMetrics = median(on);
  const without = median(off);
  const cost = 1 - withMetrics / without;
  const perCall = await dispatchCost();
  const extraNs = Math.max(0, perCall.on - perCall.off);
  // The same cost as a share of one message's time on the whole path (closed loop, without metrics).
  const share = extraNs / (1e9 / without);
  return [
    {
      section: 'metrics',
      what: 'dispatch of a trivial handler, counting on vs off (one process, median of 5)',
      rebind: `${perCall.on.toFixed(0)} ns/call (+${extraNs.toFixed(0)} ns = ${(share * 100).toFixed(2)}% of a message at ${without}/s)`,
      baseline: `${perCall.off.toFixed(0)} ns/call (off)`,
      goal: '< 5% of a message',
      met: share < 0.05,
    },
    {
      section: 'metrics',
      what: 'messages/s, 50 players, closed loop, with per-handler metrics (median of 3)',
      rebind: `${withMetrics}/s (${(cost * 100).toFixed(1)}% cost)`,
      baseline: `${without}/s (REBIND_METRICS=0)`,
      goal: '< 5% cost',
      met: cost < 0.05,
    },
  ];
}
