import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Packr } from 'msgpackr';
import WebSocket from 'ws';
import { runLoad, type LoadReport } from '../loadtest.ts';
import { SERVER_NODE_FLAGS } from '../server-flags.ts';
import { ms, type Row } from './table.ts';

// The whole path under load, each server in a child process of its own:
// throughput beside a bare ws echo server, latency with patches landing
// every 200 ms, and 1,000 players of the demo at 20 Hz with state sync.

const SERVE = fileURLToPath(new URL('./serve.ts', import.meta.url));

interface Child {
  proc: ChildProcess;
  url: string;
  stop(): Promise<void>;
}

/** Starts serve.ts with `args`, or `script` (a plain .mjs server that prints READY <port> too). */
export async function serve(args: string[], env: Record<string, string> = {}, script?: string): Promise<Child> {
  const proc = spawn(process.execPath, [...(script ? [script] : [...SERVER_NODE_FLAGS, '--import', 'tsx', SERVE]), ...args], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, REBIND_LOG: 'error', ...env } });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = /READY (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    proc.on('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
  });
  return {
    proc,
    url: `ws://127.0.0.1:${port}`,
    stop: () =>
      new Promise((resolve) => {
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
        setTimeout(() => proc.kill('SIGKILL'), 3000).unref();
      }),
  };
}

/** CPU seconds (user + system) a process has used, from /proc. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

export async function load(url: string, players: number, rate: number, seconds: number, handler = 'bench.hit'): Promise<LoadReport> {
  return runLoad({ url, players, rate, window: 8, durationMs: (seconds + 1) * 1000, warmupMs: 1000, handler, payload: { x: 1, y: 2 }, encoding: 'msgpack' });
}

export async function benchNet(seconds: number): Promise<Row[]> {
  const rows: Row[] = [];
  // Alternate the two servers, three rounds each, and compare medians: on a
  // 2-core machine shared by the load generator, one run alone varies a lot.
  const rounds: Array<{ echo: LoadReport; full: LoadReport }> = [];
  for (let round = 0; round < 3; round++) {
    const echo = await serve(['--mode', 'echo']);
    const echoReport = await load(echo.url, 50, 0, seconds / 2);
    await echo.stop();
    const rebind = await serve(['--mode', 'rebind']);
    const fullReport = await load(rebind.url, 50, 0, seconds / 2);
    await rebind.stop();
    rounds.push({ echo: echoReport, full: fullReport });
  }
  const byRate = (a: LoadReport, b: LoadReport) => a.messagesPerSecond - b.messagesPerSecond;
  const echoReport = rounds.map((r) => r.echo).sort(byRate)[1]!;
  const full = rounds.map((r) => r.full).sort(byRate)[1]!;
  const share = full.messagesPerSecond / echoReport.messagesPerSecond;
  rows.push({
    section: 'net',
    what: 'messages/s, 50 players, closed loop (median of 3)',
    rebind: `${full.messagesPerSecond}/s (${Math.round(share * 100)}%)`,
    baseline: `${echoReport.messagesPerSecond}/s (bare ws echo)`,
    goal: '>= 60% of echo',
    met: share >= 0.6,
  });
  rows.push({ section: 'net', what: 'latency p50 / p99, closed loop', rebind: `${ms(full.p50Ms)} / ${ms(full.p99Ms)}`, baseline: `${ms(echoReport.p50Ms)} / ${ms(echoReport.p99Ms)}`, goal: '' });

  // Latency at a fixed load (10,000 requests/s: a few hundred players' inputs),
  // each on a fresh server: without, then with a patch every 200 ms.
  const rate = 200;
  const fresh = await serve(['--mode', 'rebind']);
  const steady = await load(fresh.url, 50, rate, seconds);
  await fresh.stop();
  const patched = await serve(['--mode', 'rebind', '--patch-every', '200']);
  const during = await load(patched.url, 50, rate, seconds);
  await patched.stop();
  const patchedMax = await serve(['--mode', 'rebind', '--patch-every', '200']);
  const flatOut = await load(patchedMax.url, 50, 0, seconds / 2);
  await patchedMax.stop();
  rows.push({
    section: 'net',
    what: 'messages/s, closed loop, a patch every 200 ms',
    rebind: `${flatOut.messagesPerSecond}/s, p99 ${ms(flatOut.p99Ms)}, ${flatOut.errors} errors`,
    baseline: `${full.messagesPerSecond}/s, p99 ${ms(full.p99Ms)} (no patches)`,
    goal: '',
  });
  rows.push({
    section: 'net',
    what: `p99 at ${rate * 50}/s with a patch every 200 ms`,
    rebind: ms(during.p99Ms),
    baseline: `${ms(steady.p99Ms)} (no patches)`,
    goal: '<= 2x baseline',
    met: during.p99Ms <= 2 * Math.max(steady.p99Ms, 1),
  });
  rows.push({
    section: 'net',
    what: 'errors / disconnects while patching',
    rebind: `${during.errors} / ${during.disconnects} (of ${during.replies + during.errors})`,
    baseline: `${steady.errors} / ${steady.disconnects}`,
    goal: '0 / 0',
    met: during.errors === 0 && during.disconnects === 0,
  });
  rows.push(...(await benchSync(1000, seconds)));
  return rows;
}

/** 1,000 players in the demo arena, each changing direction every second; the server syncs at 20 Hz. */
async function benchSync(players: number, seconds: number): Promise<Row[]> {
  const demo = await serve(['--mode', 'demo']);
  const packr = new Packr({ useRecords: false, variableMapSize: true, mapsAsObjects: true });
  const sockets: WebSocket[] = [];
  let bytes = 0;
  for (let i = 0; i < players; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, players - i) }, (_, j) => {
        const ws = new WebSocket(demo.url, { perMessageDeflate: false });
        sockets.push(ws);
        ws.on('message', (data: Buffer) => {
          bytes += data.length;
        });
        return new Promise<void>((resolve, reject) => {
          ws.once('open', () => {
            ws.send(packr.pack(['$auth', 1, { name: `sync${i + j}` }]));
            resolve();
          });
          ws.once('error', reject);
        });
      }),
    );
  }
  await new Promise((r) => setTimeout(r, 1000));
  const pid = demo.proc.pid!;
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  bytes = 0;
  const mover = setInterval(() => {
    for (const ws of sockets) {
      if (Math.random() < 0.05) ws.send(packr.pack(['arena.move', 0, { dx: Math.round(Math.random() * 2 - 1), dy: Math.round(Math.random() * 2 - 1) }]));
    }
  }, 50);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  clearInterval(mover);
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = ((cpuSeconds(pid) - cpu0) / elapsed) * 100;
  const rss = rssMb(pid);
  const open = sockets.filter((s) => s.readyState === WebSocket.OPEN).length;
  for (const ws of sockets) ws.terminate();
  await demo.stop();
  return [
    { section: 'sync', what: `${players} players at 20 Hz: server CPU`, rebind: `${cpu.toFixed(0)}% of one core`, baseline: '-', goal: '' },
    { section: 'sync', what: `${players} players at 20 Hz: server RSS`, rebind: `${rss.toFixed(0)} MB`, baseline: '-', goal: '' },
    { section: 'sync', what: `${players} players: sync traffic, connections open`, rebind: `${(bytes / elapsed / 2 ** 20).toFixed(1)} MB/s, ${open}/${players} open`, baseline: '-', goal: `${players} open`, met: open === players },
  ];
}
