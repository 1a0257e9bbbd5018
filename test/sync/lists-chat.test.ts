import { readdirSync, readFileSync, statSync } from 'node:fs';
import { pack } from 'msgpackr';
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { RebindClient, type ClientOptions } from '../../client/index.ts';
import { GameServer } from '../../server/server.ts';
import { demoProject } from '../helpers/demo.ts';
import { runCli, startServerProcess, type ServerProcess } from '../helpers/process.ts';
import { waitFor, type TempProject } from '../helpers/project.ts';

// The demo's chat log is a bounded array (the last CHAT_KEEP lines). Each new
// line must cost about the line itself on the wire and in the journal, however
// long the log: before trims, every line moved down one index, and a 221-byte
// line pushed 11-14 KB to every member and about 8 KB to the journal.

type ChatLine = { at: number; from: string; text: string };
type World = { chat: ChatLine[] };

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

function project(): TempProject {
  const p = demoProject();
  cleanups.push(() => p.cleanup());
  return p;
}

/** A `ws` socket that counts every byte the server sends it (ws types its handlers more narrowly than the client's SocketLike). */
function countingSocket(counter: { bytes: number }): NonNullable<ClientOptions['WebSocket']> {
  return class extends WebSocket {
    constructor(url: string) {
      super(url);
      this.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => (counter.bytes += Array.isArray(data) ? Buffer.concat(data).length : data.byteLength));
    }
  } as unknown as NonNullable<ClientOptions['WebSocket']>;
}

async function player(url: string, name: string, counter?: { bytes: number }): Promise<RebindClient> {
  const c = new RebindClient(url, { reconnect: false, ...(counter ? { WebSocket: countingSocket(counter) } : {}) });
  await c.connect();
  cleanups.push(() => c.close());
  await c.join({ name });
  await waitFor(() => c.state('arena', 'world') !== undefined, 5000, `${name}'s arena snapshot`);
  return c;
}

const TOKEN = 'lists-test-token-0123456789';
/** The server's own chat log, read through the CLI (no player joins, so no "joined" line is added). */
async function serverChat(server: ServerProcess): Promise<ChatLine[]> {
  const res = await runCli(['state', 'world', '--json', '--server', server.adminUrl, '--token', TOKEN]);
  if (res.code !== 0) throw new Error(`rebind state failed: ${res.stderr}`);
  return (JSON.parse(res.stdout) as World).chat;
}
const chatOf = (c: RebindClient) => c.state<World>('arena', 'world')!.chat;
const journalBytes = (dir: string) => readdirSync(dir).filter((f) => f.startsWith('journal-')).reduce((sum, f) => sum + statSync(`${dir}/${f}`).size, 0);
/** A 200-character line, numbered so that every line differs. */
const text = (i: number) => `line ${i} `.padEnd(200, 'abcdefghij');

/** Says `count` lines, each seen by `listener` before the next (one line per tick, as players chat). */
async function chat(speaker: RebindClient, listener: RebindClient, from: number, count: number): Promise<void> {
  for (let i = from; i < from + count; i++) {
    await speaker.call('chat.say', { text: text(i) });
    await waitFor(() => chatOf(listener).at(-1)?.text === text(i), 5000, `line ${i} to reach the listener`);
  }
}

describe('the chat log costs a line per line', () => {
  it('on the wire and in the journal, with a log of 30 lines and after a patch keeps 300', async () => {
    const p = project();
    const dataDir = p.path('data');
    const server = await GameServer.start({ root: p.root, port: 0, host: '127.0.0.1', dataDir, fsync: 'always' });
    cleanups.push(() => server.stop());
    const seen = { bytes: 0 };
    const ann = await player(server.url, 'ann');
    const bob = await player(server.url, 'bob', seen);
    const lineBytes = pack({ at: Date.now(), from: 'ann', text: text(1) }).length;

    /** Fills the log to `keep` lines, then measures `count` more. */
    const measure = async (keep: number, start: number, count: number) => {
      await chat(ann, bob, start, keep);
      expect(chatOf(bob)).toHaveLength(keep);
      const wire0 = seen.bytes;
      const journal0 = journalBytes(dataDir);
      await chat(ann, bob, start + keep, count);
      expect(chatOf(bob).map((l) => l.text)).toEqual(Array.from({ length: keep }, (_, i) => text(start + keep + count - keep + i)));
      return { wire: (seen.bytes - wire0) / count, journal: (journalBytes(dataDir) - journal0) / count };
    };

    const short = await measure(30, 0, 20);
    // Keep 300 lines: a patch of the demo's rules, as an operator would make it.
    const rules = p.path('logic/lib/rules.ts');
    p.write('logic/lib/rules.ts', readFileSync(rules, 'utf8').replace('export const CHAT_KEEP = 30;', 'export const CHAT_KEEP = 300;'));
    expect((await server.host.patch()).ok).toBe(true);
    const long = await measure(300, 1000, 20);

    // The line, plus a patch's path and framing: far from the 30 or 300 lines a shift used to resend.
    for (const cost of [short, long]) {
      expect(cost.wire).toBeLessThan(lineBytes * 1.6);
      expect(cost.journal).toBeLessThan(lineBytes * 1.6);
    }
    // Ten times the log, the same cost per line (a few bytes more for longer index numbers).
    expect(long.wire).toBeLessThan(short.wire + 16);
    expect(long.journal).toBeLessThan(short.journal + 16);
    // The replica holds exactly what the server holds.
    expect(chatOf(bob)).toEqual((server.host.registry.get('world').snapshot() as World).chat);
  }, 120_000);

  it('recovers the log from trim records after kill -9', async () => {
    const p = project();
    const dataDir = p.path('data');
    const args = ['--root', p.root, '--data', dataDir, '--fsync', 'always'];
    const first = await startServerProcess(args, { REBIND_ADMIN_TOKEN: TOKEN });
    cleanups.push(() => first.kill());
    const ann = await player(first.gameUrl, 'ann');
    const bob = await player(first.gameUrl, 'bob');
    // 45 lines through a log of 30: 15 trims, every reply acknowledged only once on disk.
    await chat(ann, bob, 0, 45);
    const before = chatOf(bob);
    expect(before.map((l) => l.text)).toEqual(Array.from({ length: 30 }, (_, i) => text(15 + i)));
    await first.kill();
    const journal = readdirSync(dataDir)
      .filter((f) => f.startsWith('journal-'))
      .map((f) => readFileSync(`${dataDir}/${f}`))
      .reduce((a, b) => Buffer.concat([a, b]), Buffer.alloc(0));
    // The records the recovery replays hold trims (the op's name is in them), not 30 replaced lines each.
    expect(journal.includes(Buffer.from('trim'))).toBe(true);
    expect(journal.length).toBeLessThan(45 * 600 + 20_000);

    const second = await startServerProcess(args, { REBIND_ADMIN_TOKEN: TOKEN });
    cleanups.push(() => second.kill());
    expect(second.output()).toMatch(/recovered/);
    expect(await serverChat(second)).toEqual(before);
    // And it goes on: a join and a line trim the recovered log, on the server and on a replica.
    const carl = await player(second.gameUrl, 'carl');
    await chat(carl, carl, 45, 1);
    const after = await serverChat(second);
    expect(after.slice(0, 28)).toEqual(before.slice(2));
    expect(after.slice(28).map((l) => l.text)).toEqual(['carl joined', text(45)]);
    expect(chatOf(carl)).toEqual(after);
  }, 120_000);
});
