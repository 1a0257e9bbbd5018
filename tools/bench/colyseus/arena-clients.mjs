// The arena's players for arena-room.mjs, in a process of their own, mirroring
// ../arena-clients.ts: N sockets join the room (the SDK's
// protocol: HTTP seat reservation, then a WebSocket, then the JOIN_ROOM ack),
// each sends "move" with a random diagonal every 100 ms, and every socket counts
// the state bytes and messages it receives (ROOM_STATE and ROOM_STATE_PATCH).
// A few sample players also decode everything with @colyseus/schema's Decoder
// (as colyseus.js's SchemaSerializer does) to count the players they saw move.
// Prints START and END around the measured window, then one JSON line.
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { Packr } from 'msgpackr';
import { Reflection, decode } from '@colyseus/schema';

const { values } = parseArgs({ options: { url: { type: 'string' }, players: { type: 'string' }, seconds: { type: 'string', default: '3' }, sample: { type: 'string', default: '4' } } });
const base = new URL(values.url);
const http = `http://${base.host}`;
const packr = new Packr({ useRecords: false });
const players = Number(values.players);
const seconds = Number(values.seconds);
const samples = Number(values.sample);

const JOIN_ROOM = 10, ROOM_DATA = 13, ROOM_STATE = 14, ROOM_STATE_PATCH = 15;
let measuring = false;
let syncBytes = 0, syncMessages = 0, sampleBytes = 0, sampleMoved = 0, joined = 0, decodeErrors = 0;
const decoders = [];

function watch(ws, sample) {
  let decoder = null;
  ws.on('message', (data) => {
    const code = data[0];
    if (code === JOIN_ROOM) {
      joined++;
      if (sample) {
        const it = { offset: 1 };
        decode.utf8Read(data, it, data[it.offset++]); // reconnection token
        decode.utf8Read(data, it, data[it.offset++]); // serializer id
        decoder = Reflection.decode(data, it);
        decoders.push(decoder);
      }
      ws.send(Buffer.from([JOIN_ROOM]));
      return;
    }
    if (code !== ROOM_STATE && code !== ROOM_STATE_PATCH) return;
    if (measuring) {
      syncBytes += data.length;
      syncMessages++;
    }
    if (!sample || !decoder) return;
    const before = new Map();
    decoder.state.players?.forEach((p, id) => before.set(id, p.x * 1e6 + p.y));
    try {
      decoder.decode(data, { offset: 1 });
    } catch (e) {
      decodeErrors++;
    }
    if (!measuring || code === ROOM_STATE) return;
    sampleBytes += data.length;
    decoder.state.players.forEach((p, id) => {
      const was = before.get(id);
      if (was !== undefined && was !== p.x * 1e6 + p.y) sampleMoved++;
    });
  });
}

const sockets = [];
for (let i = 0; i < players; i += 50) {
  await Promise.all(
    Array.from({ length: Math.min(50, players - i) }, async (_, j) => {
      const res = await fetch(`${http}/matchmake/joinOrCreate/arena`, { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, body: JSON.stringify({ name: `arena${i + j}` }) });
      const seat = await res.json();
      if (seat.error) throw new Error(`matchmake: ${seat.error} ${seat.code}`);
      const ws = new WebSocket(`ws://${base.host}/${seat.room.processId}/${seat.room.roomId}?sessionId=${seat.sessionId}`, { perMessageDeflate: false });
      sockets.push(ws);
      watch(ws, i + j < samples);
      await new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
    }),
  );
}
const joinStarted = performance.now();
while (joined < players && performance.now() - joinStarted < 120_000) await new Promise((r) => setTimeout(r, 50));
const joinSeconds = (performance.now() - joinStarted) / 1000;
// The four diagonal moves, encoded once as colyseus.js's room.send('move', {dx, dy}) does: [ROOM_DATA, 0xa4 "move", msgpack].
const moves = [-1, 1].flatMap((dx) => [-1, 1].map((dy) => Buffer.concat([Buffer.from([ROOM_DATA, 0xa4]), Buffer.from('move'), packr.pack({ dx, dy })])));
const steer = setInterval(() => {
  for (const ws of sockets) if (ws.readyState === WebSocket.OPEN) ws.send(moves[Math.floor(Math.random() * 4)]);
}, 100);
// Warm-up before the window: a game server runs for hours, and the first seconds measure its compiler (JIT), not its steady state.
await new Promise((r) => setTimeout(r, 4000));
process.stdout.write('START\n');
measuring = true;
const t0 = performance.now();
const cpu0 = process.cpuUsage();
await new Promise((r) => setTimeout(r, seconds * 1000));
measuring = false;
const elapsed = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
process.stdout.write('END\n');
clearInterval(steer);
const open = sockets.filter((s) => s.readyState === WebSocket.OPEN).length;
process.stdout.write(
  JSON.stringify({
    elapsed,
    clientCores: (cpu.user + cpu.system) / 1e6 / elapsed,
    joinSeconds,
    joined,
    open,
    bytesPerClientPerTick: syncBytes / players / (elapsed * 20),
    updatesPerClientPerSecond: syncMessages / players / elapsed,
    bytesPerMovedPlayer: sampleMoved > 0 ? sampleBytes / sampleMoved : 0,
    movedSeenPerTick: sampleMoved / Math.min(samples, players) / (elapsed * 20),
    samplePlayersSeen: decoders.map((d) => d.state.players?.size ?? 0),
    decodeErrors,
  }) + '\n',
);
for (const ws of sockets) ws.terminate();
process.exit(0);
