import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { RebindClient, type ClientOptions } from '../../client/index.ts';
import { defineStore } from '../../server/api.ts';
import { GameServer } from '../../server/server.ts';
import { setArrayCompaction } from '../../server/store/array-delta.ts';
import { allowStandaloneStores } from '../../server/store/define.ts';
import { us, type Row } from './table.ts';

allowStandaloneStores(); // the update-time figure makes a store directly

// Lists that grow at one end: a chat line in the demo arena, whose log keeps
// the last N lines, costs the line on the wire and in the journal with trims;
// the baseline, in the same run, is immer's patches as they come (a replace
// of every line that moved down one index).

type World = { chat: Array<{ text: string }> };

/** A 200-character line, numbered so that every line differs. */
const text = (i: number) => `line ${i} `.padEnd(200, 'abcdefghij');

function countingSocket(counter: { bytes: number }): NonNullable<ClientOptions['WebSocket']> {
  return class extends WebSocket {
    constructor(url: string) {
      super(url, { perMessageDeflate: false });
      this.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => (counter.bytes += Array.isArray(data) ? Buffer.concat(data).length : data.byteLength));
    }
  } as unknown as NonNullable<ClientOptions['WebSocket']>;
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + 10_000;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`bench lists: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Wire bytes to one member and journal bytes, per chat line, with a log of `keep` lines. */
async function perLine(keep: number, lines: number, compact: boolean): Promise<{ wire: number; journal: number }> {
  setArrayCompaction(compact);
  const root = mkdtempSync(path.join(tmpdir(), 'rebind-bench-lists-'));
  try {
    for (const dir of ['state', 'logic']) cpSync(fileURLToPath(new URL(`../../${dir}`, import.meta.url)), path.join(root, dir), { recursive: true });
    const rules = path.join(root, 'logic/lib/rules.ts');
    writeFileSync(rules, readFileSync(rules, 'utf8').replace(/export const CHAT_KEEP = \d+;/, `export const CHAT_KEEP = ${keep};`));
    const dataDir = path.join(root, 'data');
    const server = await GameServer.start({ root, port: 0, host: '127.0.0.1', dataDir, fsync: 'off' });
    const seen = { bytes: 0 };
    const speaker = new RebindClient(server.url, { reconnect: false });
    const listener = new RebindClient(server.url, { reconnect: false, WebSocket: countingSocket(seen) });
    await speaker.connect();
    await listener.connect();
    await speaker.join({ name: 'ann' });
    await listener.join({ name: 'bob' });
    const chat = () => listener.state<World>('arena', 'world')?.chat ?? [];
    // Fill the log without waiting for each line, then measure one line per tick.
    for (let i = 0; i < keep; i++) await speaker.call('chat.say', { text: text(i) });
    await until(() => chat().at(-1)?.text === text(keep - 1), 'the log to fill');
    await server.persistence!.flushed();
    const journalBytes = () => readdirSync(dataDir).filter((f) => f.startsWith('journal-')).reduce((sum, f) => sum + statSync(path.join(dataDir, f)).size, 0);
    const wire0 = seen.bytes;
    const journal0 = journalBytes();
    for (let i = keep; i < keep + lines; i++) {
      await speaker.call('chat.say', { text: text(i) });
      await until(() => chat().at(-1)?.text === text(i), `line ${i}`);
    }
    await server.persistence!.flushed();
    const result = { wire: (seen.bytes - wire0) / lines, journal: (journalBytes() - journal0) / lines };
    speaker.close();
    listener.close();
    await server.stop();
    return result;
  } finally {
    setArrayCompaction(true);
    rmSync(root, { recursive: true, force: true });
  }
}

let made = 0;

/**
 * Microseconds per store update that appends a line to a log of `keep` and
 * drops the oldest: on the draft (push and splice), or by assigning a new
 * array made of the old one's lines (what the demo's chat log does).
 */
function updateTime(keep: number, updates: number, compact: boolean, style: 'draft' | 'assign'): number {
  setArrayCompaction(compact);
  const log = defineStore(`bench-log-${++made}`, { chat: Array.from({ length: keep }, (_, i) => ({ at: i, from: 'ann', text: text(i) })) });
  const started = performance.now();
  for (let i = 0; i < updates; i++) {
    const line = { at: i, from: 'ann', text: text(i) };
    if (style === 'draft') {
      log.update((d) => {
        d.chat.push(line);
        d.chat.splice(0, d.chat.length - keep);
      });
    } else {
      const kept = log.get().chat.slice(1 - keep);
      log.update((d) => void (d.chat = [...kept, line]));
    }
  }
  setArrayCompaction(true);
  return ((performance.now() - started) * 1000) / updates;
}

export async function benchLists(quick: boolean): Promise<Row[]> {
  const rows: Row[] = [];
  // Update times first: a long synchronous loop after a server ran would wake its busy watchdog.
  for (const keep of [30, 300]) {
    const updates = (quick ? 300 : 3000) / (keep / 30);
    // Alternated, the faster of two each: the machine is shared.
    const best = (compact: boolean, style: 'draft' | 'assign') => Math.min(updateTime(keep, updates, compact, style), updateTime(keep, updates, compact, style));
    const off = best(false, 'draft');
    const on = best(true, 'draft');
    const assigned = best(true, 'assign');
    rows.push({ section: 'lists', what: `update appending to a log of ${keep}: push+splice on the draft`, rebind: us(on), baseline: `${us(off)} (no trims)`, goal: '' });
    rows.push({ section: 'lists', what: `update appending to a log of ${keep}: a new array of the old lines`, rebind: us(assigned), baseline: `${us(off)} (push+splice, no trims)`, goal: '' });
  }
  const lines = quick ? 10 : 40;
  const lineBytes = 231; // the line as MessagePack: {at, from: 'ann', text: 200 characters}
  for (const keep of [30, 300]) {
    const compact = await perLine(keep, lines, true);
    const before = await perLine(keep, lines, false);
    const goal = `about the line (${lineBytes} B)`;
    rows.push({ section: 'lists', what: `chat line, log of ${keep}: bytes to each member`, rebind: `${Math.round(compact.wire)} B`, baseline: `${Math.round(before.wire)} B (no trims)`, goal, met: compact.wire < lineBytes * 1.6 });
    rows.push({ section: 'lists', what: `chat line, log of ${keep}: journal bytes`, rebind: `${Math.round(compact.journal)} B`, baseline: `${Math.round(before.journal)} B (no trims)`, goal, met: compact.journal < lineBytes * 1.6 });
  }
  return rows;
}
