import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import type { FleetPatchResult } from '../../server/fleet/patch-coordinator.ts';
import { startLocalFleet, type LocalFleet } from '../local-fleet/fleet.ts';
import { startServerProcess, type ServerProcess } from '../local-fleet/node-process.ts';
import { median, ms, type Row } from './table.ts';

// A fleet patch, from the admin request to the answer that every node has
// swapped: three node processes on one redis-server on this machine. Beside
// it, in the same run, the same patch of one server without a fleet. Needs
// redis-server (REBIND_REDIS_SERVER, default /usr/bin/redis-server).

const TOKEN = 'rebind_bench_fleet_token';
const module = (n: number) => `export function init() {}\nexport function v() { return ${n}; }\n`;

function request<T>(url: string, action: string, args: Record<string, unknown>): Promise<T> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${TOKEN}` } });
    ws.once('open', () => ws.send(JSON.stringify([action, 9, args])));
    ws.on('message', (data) => {
      const [seq, failed, result] = JSON.parse(String(data)) as [unknown, number, unknown];
      if (seq !== 9) return; // the patch push that comes first
      ws.close();
      if (failed) reject(new Error(JSON.stringify(result)));
      else resolve(result as T);
    });
    ws.once('error', reject);
  });
}

let content = 1;

/** Patches `m` `runs` times through `admin`, with new content each time; the time of each request to answer. */
async function patches(root: string, admin: string, runs: number, check: (r: FleetPatchResult) => void): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    writeFileSync(path.join(root, 'logic', 'm.ts'), module(++content));
    const started = performance.now();
    const r = await request<FleetPatchResult>(admin, 'patch', { modules: ['m'] });
    times.push(performance.now() - started);
    if (!r.ok) throw new Error(`a bench patch failed: ${JSON.stringify(r.error)}`);
    check(r);
  }
  return times;
}

export async function benchFleet(runs: number): Promise<Row[]> {
  const root = mkdtempSync(path.join(tmpdir(), 'rebind-bench-fleet-'));
  mkdirSync(path.join(root, 'logic'));
  mkdirSync(path.join(root, 'state'));
  writeFileSync(path.join(root, 'logic', 'm.ts'), module(1));
  const env = { REBIND_ADMIN_TOKEN: TOKEN };
  let nodes: LocalFleet | undefined;
  let single: ServerProcess | undefined;
  try {
    nodes = await startLocalFleet({ nodes: 3, root, env, waitRegistered: true });
    single = await startServerProcess(['--root', root, '--data', path.join(root, 'data-single')], { REBIND_LOG: 'info', NO_COLOR: '1', ...env });
    const admins = nodes.nodes.map((n) => n.adminUrl);
    // Every node must see the two others before a patch may count on them.
    for (;;) {
      const s = await request<{ fleet?: { nodes: unknown[] } }>(admins[0]!, 'status', {});
      if ((s.fleet?.nodes.length ?? 0) >= 3) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    await patches(root, admins[0]!, 2, () => undefined); // warm-up: esbuild contexts, first evaluations
    await patches(root, single.adminUrl, 2, () => undefined);
    const fleet: number[] = [];
    const one: number[] = [];
    const prepare: number[] = [];
    const commit: number[] = [];
    const build: number[] = [];
    const apply: number[] = [];
    // Interleaved, so a busy machine slows both alike.
    for (let i = 0; i < runs; i++) {
      fleet.push(
        ...(await patches(root, admins[i % 3]!, 1, (r) => {
          if (r.fleet.nodes.length !== 3 || r.fleet.nodes.some((n) => n.outcome?.ok !== true)) throw new Error(`a bench fleet patch did not land on every node: ${JSON.stringify(r.fleet.nodes)}`);
          prepare.push(r.fleet.timings.prepareMs);
          commit.push(r.fleet.timings.commitMs);
          build.push(r.fleet.timings.buildMs);
          apply.push(Math.max(...r.fleet.nodes.map((n) => n.outcome!.applyMs)));
        })),
      );
      one.push(...(await patches(root, single.adminUrl, 1, () => undefined)));
    }
    return [
      {
        section: 'fleet',
        what: `patch, admin request to live on all 3 nodes (median of ${runs}; build ${ms(median(build))}, prepare ${ms(median(prepare))}, commit ${ms(median(commit))} of which the slowest node's swap ${ms(median(apply))})`,
        rebind: ms(median(fleet)),
        baseline: `one server, no fleet: ${ms(median(one))}`,
        goal: '< 50 ms',
        met: median(fleet) < 50,
      },
    ];
  } finally {
    await single?.kill();
    await nodes?.stop();
    rmSync(root, { recursive: true, force: true });
  }
}
