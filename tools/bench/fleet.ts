import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import type { FleetPatchResult } from '../../server/fleet/patch-coordinator.ts';
import { median, ms, type Row } from './table.ts';

// A fleet patch, from the admin request to the answer that every node has
// swapped: three node processes on one redis-server on this machine. Beside
// it, in the same run, the same patch of one server without a fleet. Needs
// redis-server (REBIND_REDIS_SERVER, default /usr/bin/redis-server).

const MAIN = fileURLToPath(new URL('../../server/main.ts', import.meta.url));
const REDIS = process.env.REBIND_REDIS_SERVER ?? '/usr/bin/redis-server';
const TOKEN = 'rebind_bench_fleet_token';
const module = (n: number) => `export function init() {}\nexport function v() { return ${n}; }\n`;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

interface Proc {
  child: ChildProcess;
  admin: string;
  stop(): Promise<void>;
}

function start(args: string[]): Promise<Proc> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, '--port', '0', '--host', '127.0.0.1', '--admin-port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, REBIND_LOG: 'info', NO_COLOR: '1', REBIND_ADMIN_TOKEN: TOKEN } });
  let out = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`a bench node did not start in 30 s:\n${out}`)), 30_000);
    const check = (d: Buffer) => {
      out += d;
      const admin = /admin listening on (ws:\/\/[\d.]+:\d+)/.exec(out)?.[1];
      // A fleet node is ready once it has registered (the warm-up patches wait for its code).
      const ready = !args.includes('--fleet') || /node \S+ registered/.test(out);
      if (admin && ready) {
        clearTimeout(timer);
        child.stdout!.off('data', check);
        child.stderr!.off('data', check);
        child.stdout!.resume();
        child.stderr!.resume();
        resolve({ child, admin, stop: async () => (child.kill('SIGKILL'), exited) });
      }
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    void exited.then(() => reject(new Error(`a bench node exited:\n${out}`)));
  });
}

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
  const port = await freePort();
  const redis = spawn(REDIS, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', root], { stdio: 'ignore' });
  const procs: Proc[] = [];
  try {
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < 3; i++) procs.push(await start(['--root', root, '--data', path.join(root, `data-${i}`), '--fleet', `redis://127.0.0.1:${port}`]));
    const single = await start(['--root', root, '--data', path.join(root, 'data-single')]);
    procs.push(single);
    // Every node must see the two others before a patch may count on them.
    for (;;) {
      const s = await request<{ fleet?: { nodes: unknown[] } }>(procs[0]!.admin, 'status', {});
      if ((s.fleet?.nodes.length ?? 0) >= 3) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    await patches(root, procs[0]!.admin, 2, () => undefined); // warm-up: esbuild contexts, first evaluations
    await patches(root, single.admin, 2, () => undefined);
    const fleet: number[] = [];
    const one: number[] = [];
    const prepare: number[] = [];
    const commit: number[] = [];
    const build: number[] = [];
    const apply: number[] = [];
    // Interleaved, so a busy machine slows both alike.
    for (let i = 0; i < runs; i++) {
      fleet.push(
        ...(await patches(root, procs[i % 3]!.admin, 1, (r) => {
          if (r.fleet.nodes.length !== 3 || r.fleet.nodes.some((n) => n.outcome?.ok !== true)) throw new Error(`a bench fleet patch did not land on every node: ${JSON.stringify(r.fleet.nodes)}`);
          prepare.push(r.fleet.timings.prepareMs);
          commit.push(r.fleet.timings.commitMs);
          build.push(r.fleet.timings.buildMs);
          apply.push(Math.max(...r.fleet.nodes.map((n) => n.outcome!.applyMs)));
        })),
      );
      one.push(...(await patches(root, single.admin, 1, () => undefined)));
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
    await Promise.all(procs.map((p) => p.stop()));
    redis.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
}
