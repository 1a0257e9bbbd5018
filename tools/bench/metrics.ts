import { load, serve } from './net.ts';
import type { Row } from './table.ts';
import type { LoadReport } from '../loadtest.ts';

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
  return [
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
