import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { cpuSeconds, rssMb, serve } from './net.ts';
import { encodeCost } from './arena-encode.ts';
import type { Row } from './table.ts';

// The arena workload of issue 14: players with x, y, dx, dy, score, name;
// each steers every 100 ms; the server ticks at 20 Hz and syncs the room.
// Server and players in separate processes. Each point runs with today's
// compact delta and, in the same run, with the immer-patch encoding before it
// (`sync: 'patches'`) and with a Colyseus room doing the same (colyseus/),
// everyone seeing everyone; then the demo's radius view.

const CLIENTS = fileURLToPath(new URL('./arena-clients.ts', import.meta.url));
// The same workload in a Colyseus room (devDependencies), measured beside rebind in the same run.
const COLYSEUS_ROOM = fileURLToPath(new URL('./colyseus/arena-room.mjs', import.meta.url));
const COLYSEUS_CLIENTS = fileURLToPath(new URL('./colyseus/arena-clients.mjs', import.meta.url));

export interface Point {
  bytesPerClientPerTick: number;
  bytesPerMovedPlayer: number;
  updatesPerClientPerSecond: number;
  movedSeenPerTick: number;
  joinSeconds: number;
  open: number;
  cpu: number;
  rss: number;
}

async function point(players: number, sync: 'delta' | 'patches' | 'colyseus', radius: number, seconds: number): Promise<Point> {
  const colyseus = sync === 'colyseus';
  const server = colyseus ? await serve([], {}, COLYSEUS_ROOM) : await serve(['--mode', 'demo', '--sync', sync, '--radius', String(radius)]);
  const pid = server.proc.pid!;
  const clients = colyseus ? [COLYSEUS_CLIENTS] : ['--import', 'tsx', CLIENTS];
  const child = spawn(process.execPath, [...clients, '--url', server.url, '--players', String(players), '--seconds', String(seconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let cpu0 = 0;
  let cpu = 0;
  let t0 = 0;
  let out = '';
  const result = await new Promise<Record<string, number>>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      if (out.includes('START\n') && t0 === 0) {
        t0 = performance.now();
        cpu0 = cpuSeconds(pid);
      }
      if (out.includes('END\n') && cpu === 0) cpu = (cpuSeconds(pid) - cpu0) / ((performance.now() - t0) / 1000);
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line && out.endsWith('\n')) resolve(JSON.parse(line));
    });
    child.on('exit', (code) => reject(new Error(`arena clients exited with ${code}`)));
  });
  const rss = rssMb(pid);
  await server.stop();
  return { ...(result as unknown as Point), cpu, rss };
}

const kb = (bytes: number) => (bytes >= 1024 ? `${(bytes / 1024).toFixed(2)} KB` : `${bytes.toFixed(0)} B`);

function describe(p: Point, players: number): string {
  return `${kb(p.bytesPerClientPerTick)}/tick, ${p.bytesPerMovedPlayer.toFixed(1)} B/moved, CPU ${p.cpu.toFixed(2)} s/s, RSS ${p.rss.toFixed(0)} MB, ${p.updatesPerClientPerSecond.toFixed(1)} updates/s, ${p.open}/${players} open, joins ${p.joinSeconds.toFixed(1)} s`;
}

/** Server CPU (cores) of the Colyseus room in issue 14's table, same workload, by players. */
const COLYSEUS_CPU: Record<number, number> = { 100: 0.06, 500: 0.21, 1000: 0.43 };
const TICK_HZ = 20;
/**
 * The players per radius room docs/api.md advises, and the largest size whose radius figure has a budget: at
 * 1,000 a tick's per-member work (20-30 ms on this machine, depending on its load) is reported, not judged.
 */
const RADIUS_ROOM_PLAYERS = 500;

/**
 * Why a run's figures say nothing, if they do not: clients that got far
 * fewer updates than the server's ticks (the server or the clients fell
 * behind, so bytes per tick and CPU describe a slower game), or no bytes.
 */
export function invalidBecause(p: Pick<Point, 'updatesPerClientPerSecond' | 'bytesPerClientPerTick'>): string | undefined {
  if (!(p.updatesPerClientPerSecond >= TICK_HZ * 0.8)) return `INVALID: clients got ${p.updatesPerClientPerSecond.toFixed(1)} updates/s of the ${TICK_HZ} ticks/s (server or clients fell behind)`;
  if (!(p.bytesPerClientPerTick > 0)) return 'INVALID: clients got no bytes';
  return undefined;
}

/**
 * The arena's goals for a run: bytes per moved player, and server CPU at most
 * Colyseus's in the same workload: the Colyseus room measured in the same run
 * when there is one (the machine's speed drifts: Colyseus cost 1.5-1.7 times
 * the table's figures here weeks later), else issue 14's table. A Colyseus
 * run whose clients fell behind judges nothing.
 */
export function verdict(p: Point, players: number, colyseus?: Point): { goal: string; met: boolean; note: string } {
  const table = COLYSEUS_CPU[players];
  const colyseusInvalid = colyseus && invalidBecause(colyseus);
  const cpuGoal = colyseus ? (colyseusInvalid ? undefined : colyseus.cpu) : table;
  const source = colyseus ? `Colyseus in this run${table === undefined ? '' : `; issue 14's table: ${table}`}` : "Colyseus, issue 14's table";
  const goal = `<= 12 B per moved player${cpuGoal === undefined ? '' : `, CPU <= ${cpuGoal.toFixed(2)} cores (${source})`}`;
  const invalid = invalidBecause(p);
  const bytesMet = p.bytesPerMovedPlayer > 0 && p.bytesPerMovedPlayer <= 12;
  const cpuMet = cpuGoal !== undefined && p.cpu <= cpuGoal;
  const cpuNote = colyseusInvalid ? `, CPU not judged: the Colyseus run was ${colyseusInvalid}` : cpuGoal === undefined ? '' : `, CPU ${p.cpu.toFixed(2)} vs ${cpuGoal.toFixed(2)}: ${cpuMet ? 'met' : 'NOT met'}`;
  const note = invalid ?? `bytes ${bytesMet ? 'met' : 'NOT met'}${cpuNote}`;
  return { goal, met: invalid === undefined && bytesMet && !colyseusInvalid && (cpuGoal === undefined || cpuMet), note };
}

/** The run of median CPU among `runs` (an odd number), and how far the CPU of all of them spread. */
export function medianRun(runs: Point[]): { median: Point; spread: string } {
  const sorted = [...runs].sort((a, b) => a.cpu - b.cpu);
  const median = sorted[(sorted.length - 1) >> 1]!;
  return { median, spread: sorted.length > 1 ? ` (median of ${sorted.length} interleaved runs: ${sorted.map((r) => r.cpu.toFixed(2)).join(', ')})` : '' };
}

/**
 * Each size: rebind's immer patches once, then Colyseus and rebind `rounds`
 * times, interleaved, judged on the runs of median CPU (as issue 14's table
 * was measured): one run of either moves by 10-15% on this kind of machine.
 */
export async function benchArena(seconds: number, sizes = [100, 500, 1000], rounds = 3): Promise<Row[]> {
  const rows: Row[] = [];
  for (const players of sizes) {
    const before = await point(players, 'patches', 0, seconds);
    const colyseusRuns: Point[] = [];
    const nowRuns: Point[] = [];
    for (let round = 0; round < rounds; round++) {
      colyseusRuns.push(await point(players, 'colyseus', 0, seconds));
      nowRuns.push(await point(players, 'delta', 0, seconds));
    }
    const { median: colyseus, spread: colyseusSpread } = medianRun(colyseusRuns);
    const { median: now, spread: nowSpread } = medianRun(nowRuns);
    const { goal, met, note } = verdict(now, players, colyseus);
    const beforeInvalid = invalidBecause(before);
    const colyseusInvalid = invalidBecause(colyseus);
    rows.push({
      section: 'arena',
      what: `${players} players, everyone sees everyone: per client`,
      rebind: `${describe(now, players)}${nowSpread}; ${note}`,
      baseline: `Colyseus: ${describe(colyseus, players)}${colyseusSpread}${colyseusInvalid ? `; ${colyseusInvalid}` : ''}. rebind's immer patches: ${describe(before, players)}${beforeInvalid ? `; ${beforeInvalid}` : ''}`,
      goal,
      met,
    });
  }
  // Warm up both encoders (JIT), so that the first size measured is not their compile time.
  for (const sync of ['delta', 'patches'] as const) encodeCost(200, sync, 0, 40);
  encodeCost(200, 'delta', 150, 10);
  for (const players of sizes) {
    // Without sockets: the tick's store writes and the whole sync (commit listener and flush), and the bytes.
    const now = encodeCost(players, 'delta', 0);
    const before = encodeCost(players, 'patches', 0);
    const near = encodeCost(players, 'delta', 150, 30);
    rows.push({
      section: 'arena',
      what: `${players} players, in-process (no sockets): tick + sync ms, bytes per member per tick`,
      rebind: `${now.msPerTick.toFixed(2)} ms, ${kb(now.bytesPerMemberPerTick)} (${now.bytesPerMoved.toFixed(1)} B/moved); radius 150 px: ${near.msPerTick.toFixed(1)} ms, ${kb(near.bytesPerMemberPerTick)}`,
      baseline: `${before.msPerTick.toFixed(2)} ms, ${kb(before.bytesPerMemberPerTick)} (${before.bytesPerMoved.toFixed(1)} B/moved, immer patches)`,
      goal: players <= RADIUS_ROOM_PLAYERS
        ? '<= 12 B per moved player; radius 150 px: tick + sync <= 25 ms (20 Hz with room to spare)'
        : `<= 12 B per moved player (radius: reported; docs/api.md advises about ${RADIUS_ROOM_PLAYERS} players per radius room)`,
      met: now.bytesPerMoved <= 12 && (players > RADIUS_ROOM_PLAYERS || near.msPerTick <= 25),
    });
  }
  // The demo's own view, end to end: at the smallest size, and at the largest (issue 14 asks for its bytes per client at 1,000).
  for (const players of new Set([sizes[0]!, sizes[sizes.length - 1]!])) {
    const nearby = await point(players, 'delta', 150, seconds);
    const nearbyInvalid = invalidBecause(nearby);
    rows.push({
      section: 'arena',
      what: `${players} players, radius view of 150 px in 800x600: per client`,
      rebind: `${describe(nearby, players)}, ${nearby.movedSeenPerTick.toFixed(0)} players seen moving per tick${nearbyInvalid ? `; ${nearbyInvalid}` : ''}`,
      baseline: 'everyone sees everyone: the rows above',
      goal: '',
    });
  }
  return rows;
}

// Alone: `node --import tsx tools/bench/arena.ts [seconds] [sizes...]` (REBIND_BENCH_ROUNDS: interleaved rounds, default 3).
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { printTable } = await import('./table.ts');
  const [seconds = '3', ...sizes] = process.argv.slice(2);
  process.env.REBIND_LOG ??= 'error';
  const rows = await benchArena(Number(seconds), sizes.length > 0 ? sizes.map(Number) : undefined, Number(process.env.REBIND_BENCH_ROUNDS ?? 3));
  process.stdout.write(`${printTable(rows)}\n`);
  process.exit(0);
}
