// The arena baseline of issue 14: a Colyseus 0.16 room running the demo
// arena's rules (logic/arena.ts, logic/items.ts, logic/lib/rules.ts): one
// room, a 20 Hz tick, 20 Hz patches, everyone sees everyone, items with
// pickups and a top-five leaderboard, no persistence. tools/bench/arena.ts
// measures it beside rebind in the same run. Prints "READY <port>".
import { Room, Server } from '@colyseus/core';
import { WebSocketTransport } from '@colyseus/ws-transport';
import { Encoder } from '@colyseus/schema';
import { ArenaState, Item, Player, Rank } from './arena-schema.mjs';

const SPEED = 200;
const ITEM_SCORE = { gem: 1, star: 5 };
const ITEM_COUNT = { gem: 12, star: 3 };
const PICKUP_RADIUS = 18;
const RESPAWN_MS = 3000;
const clamp = (v, lo, hi) => Math.max(lo, Math.min(hi, v));
// COORD=int: positions rounded to whole pixels (a variant, to see what integer coordinates cost); default: to 0.1 as the demo.
const round1 = process.env.COORD === 'int' ? (v) => Math.round(v) : (v) => Math.round(v * 10) / 10;
function distanceToSegment(px, py, ax, ay, bx, by) {
  const vx = bx - ax, vy = by - ay;
  const l2 = vx * vx + vy * vy;
  const t = l2 === 0 ? 0 : clamp(((px - ax) * vx + (py - ay) * vy) / l2, 0, 1);
  return Math.hypot(px - (ax + t * vx), py - (ay + t * vy));
}
const direction = (v) => (typeof v === 'number' && Number.isFinite(v) ? Math.sign(v) : 0);

let itemSeq = 0;

class ArenaRoom extends Room {
  onCreate() {
    this.setState(new ArenaState());
    this.setPatchRate(50);
    for (const kind of Object.keys(ITEM_COUNT)) for (let i = 0; i < ITEM_COUNT[kind]; i++) this.spawn(kind);
    this.onMessage('move', (client, msg) => {
      const me = this.state.players.get(client.sessionId);
      if (!me) return;
      const dx = direction(msg?.dx), dy = direction(msg?.dy);
      if (me.dx !== dx || me.dy !== dy) { me.dx = dx; me.dy = dy; }
    });
    this.setSimulationInterval((deltaMs) => this.tick(deltaMs / 1000), 50);
  }
  spawn(kind) {
    const margin = 20;
    const { width, height } = this.state;
    this.state.items.set(`i${++itemSeq}`, new Item(Math.round(margin + Math.random() * (width - 2 * margin)), Math.round(margin + Math.random() * (height - 2 * margin)), kind));
  }
  onJoin(client, options) {
    const name = typeof options?.name === 'string' ? options.name.slice(0, 24) : 'anon';
    this.state.players.set(client.sessionId, new Player(name, Math.round(Math.random() * this.state.width), Math.round(Math.random() * this.state.height)));
  }
  onLeave(client) {
    this.state.players.delete(client.sessionId);
  }
  tick(dt) {
    const { width, height } = this.state;
    let scored = false;
    this.state.players.forEach((p, id) => {
      if (p.dx === 0 && p.dy === 0) return;
      const norm = p.dx !== 0 && p.dy !== 0 ? Math.SQRT1_2 : 1;
      const x = round1(clamp(p.x + p.dx * norm * SPEED * dt, 0, width));
      const y = round1(clamp(p.y + p.dy * norm * SPEED * dt, 0, height));
      if (x === p.x && y === p.y) return;
      const fx = p.x, fy = p.y;
      p.x = x;
      p.y = y;
      scored = this.pickUp(id, p, fx, fy, x, y) || scored;
    });
    if (scored) this.rankings();
  }
  pickUp(id, p, fx, fy, x, y) {
    let scored = false;
    for (const [itemId, item] of this.state.items.entries()) {
      if (distanceToSegment(item.x, item.y, fx, fy, x, y) > PICKUP_RADIUS) continue;
      this.state.items.delete(itemId);
      p.score += ITEM_SCORE[item.kind];
      const kind = item.kind;
      this.clock.setTimeout(() => this.spawn(kind), RESPAWN_MS);
      this.clients.getById(id)?.send('picked', { kind, points: ITEM_SCORE[kind] });
      scored = true;
    }
    return scored;
  }
  rankings() {
    const top = [...this.state.players.values()].sort((a, b) => b.score - a.score || a.name.localeCompare(b.name)).slice(0, 5);
    const now = this.state.leaderboard;
    const same = now.length === top.length && top.every((p, i) => now[i].name === p.name && now[i].score === p.score);
    if (same) return;
    now.clear();
    for (const p of top) now.push(new Rank(p.name, p.score));
  }
}

// Colyseus encodes into a buffer of this size and, when a tick's state does
// not fit, warns and encodes again in a bigger one; in 0.16 the bigger one is
// not kept, so every tick over the default (8 KB: above ~500 players here)
// was encoded twice. Sized as its warning advises: the baseline is Colyseus
// configured as its own message tells its users to.
Encoder.BUFFER_SIZE = 256 * 1024;

const transport = new WebSocketTransport({ maxPayload: 4096 });
const server = new Server({ transport, greet: false, gracefullyShutdown: false });
server.define('arena', ArenaRoom);
await server.listen(0, '127.0.0.1');
process.stdout.write(`READY ${transport.server.address().port}\n`);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
