// The arena's players for tools/bench/arena.ts, in a process of their own:
// N sockets join the demo, each steers diagonally (a new random direction
// every 100 ms, so x and y change at every 20 Hz tick), and every socket
// counts the sync bytes and messages it receives. A few sample players also
// decode everything with the client library, to count the players they saw
// move. Prints START and END around the measured window, then one JSON line.
import { parseArgs } from 'node:util';
import { Packr } from 'msgpackr';
import WebSocket from 'ws';
import { readFrame, RoomReplicas } from '../../client/room-replicas.ts';

const { values } = parseArgs({ options: { url: { type: 'string' }, players: { type: 'string' }, seconds: { type: 'string', default: '3' }, sample: { type: 'string', default: '4' } } });
const url = values.url!;
const players = Number(values.players);
const seconds = Number(values.seconds);
const samples = Number(values.sample);
const packr = new Packr({ useRecords: false, variableMapSize: true, mapsAsObjects: true });

interface Player {
  x: number;
  y: number;
}

let measuring = false;
let syncBytes = 0;
let syncMessages = 0;
let sampleBytes = 0;
let sampleMoved = 0;
let joined = 0;

/** A sync push, told from its first bytes: [event, 0, payload] with event $delta, $patch or $state. */
function isSync(data: Buffer): boolean {
  return data[0] === 0x93 && data[1] === 0xa6 && data[2] === 0x24 && (data.toString('latin1', 3, 8) === 'delta' || data.toString('latin1', 3, 8) === 'patch' || data.toString('latin1', 3, 8) === 'state');
}

function watch(ws: WebSocket, sample: boolean): void {
  const replicas = new RoomReplicas();
  ws.on('message', (data: Buffer) => {
    if (data[0] === 0x93 && data[1] === 0x01) joined++; // the $auth reply: [1, 0, ...]
    if (!isSync(data)) return;
    if (measuring) {
      syncBytes += data.length;
      syncMessages++;
    }
    if (!sample) return;
    const [event, , payload] = readFrame(data) as [string, number, unknown];
    const before = (replicas.rooms.get('arena')?.players ?? {}) as Record<string, Player>;
    replicas.apply(event as '$delta', payload);
    if (!measuring || event === '$state') return;
    sampleBytes += data.length;
    const after = (replicas.rooms.get('arena')?.players ?? {}) as Record<string, Player>;
    for (const id of Object.keys(after)) {
      const was = before[id];
      if (was && was !== after[id] && (was.x !== after[id]!.x || was.y !== after[id]!.y)) sampleMoved++;
    }
  });
}

const sockets: WebSocket[] = [];
for (let i = 0; i < players; i += 50) {
  await Promise.all(
    Array.from({ length: Math.min(50, players - i) }, (_, j) => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      sockets.push(ws);
      watch(ws, i + j < samples);
      return new Promise<void>((resolve, reject) => {
        ws.once('open', () => {
          ws.send(packr.pack(['$auth', 1, { name: `arena${i + j}` }]));
          resolve();
        });
        ws.once('error', reject);
      });
    }),
  );
}
const joinStarted = performance.now();
while (joined < players && performance.now() - joinStarted < 120_000) await new Promise((r) => setTimeout(r, 50));
const joinSeconds = (performance.now() - joinStarted) / 1000;
// The four diagonal moves, packed once: this process must keep up with 1,000 players on a shared machine.
const moves = [-1, 1].flatMap((dx) => [-1, 1].map((dy) => packr.pack(['arena.move', 0, { dx, dy }])));
const steer = setInterval(() => {
  for (const ws of sockets) if (ws.readyState === WebSocket.OPEN) ws.send(moves[Math.floor(Math.random() * 4)]!);
}, 100);
// Warm-up before the window: a game server runs for hours, and the first seconds measure its compiler (JIT), not its steady state.
await new Promise((r) => setTimeout(r, 4000));
process.stdout.write('START\n');
measuring = true;
const t0 = performance.now();
await new Promise((r) => setTimeout(r, seconds * 1000));
measuring = false;
const elapsed = (performance.now() - t0) / 1000;
process.stdout.write('END\n');
clearInterval(steer);
const open = sockets.filter((s) => s.readyState === WebSocket.OPEN).length;
process.stdout.write(
  JSON.stringify({
    elapsed,
    joinSeconds,
    joined,
    open,
    bytesPerClientPerTick: syncBytes / players / (elapsed * 20),
    updatesPerClientPerSecond: syncMessages / players / elapsed,
    bytesPerMovedPlayer: sampleMoved > 0 ? sampleBytes / sampleMoved : 0,
    movedSeenPerTick: sampleMoved / Math.min(samples, players) / (elapsed * 20),
  }) + '\n',
);
for (const ws of sockets) ws.terminate();
process.exit(0);
