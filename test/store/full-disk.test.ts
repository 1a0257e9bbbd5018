import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RebindClient } from '../../client/index.ts';
import { readFramed } from '../../server/store/journal.ts';
import { runCli, type ServerProcess } from '../helpers/process.ts';
import { sleep, waitFor, type TempProject } from '../helpers/project.ts';
import { marksProject, readMarks, startMarks, TOKEN } from './marks-project.ts';
import { asciiFrame } from './ascii-frame.ts';

// A real full disk: the data folder on a tmpfs of a few MB, real server
// processes, 2 KB rows written until the disk is full, space given back,
// kill -9 and SIGTERM, and every acknowledged write checked after a restart.

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

function tryMount(dir: string): boolean {
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    console.warn(`skipping the full-disk tests: cannot mount a tmpfs here (${(err as Error).message.split('\n')[0]})`);
    return false;
  }
  cleanups.push(() => void execFileSync('umount', ['-l', dir]));
  return true;
}
const resize = (dir: string, mb: number) => execFileSync('mount', ['-o', `remount,size=${mb}m`, dir]);
const canMount = (() => {
  try {
    return process.getuid?.() === 0;
  } catch {
    return false;
  }
})();

/** 8 players write growing marks (2 KB rows) as fast as replies come; every OK is recorded with its time. */
class Load {
  readonly acks = new Map<string, Array<{ k: number; at: number }>>();
  readonly errors: Array<{ code: string; message: string; at: number }> = [];
  private running = true;
  private loops: Array<Promise<void>> = [];
  clients: RebindClient[] = [];

  async start(server: ServerProcess, from = 1): Promise<void> {
    this.running = true;
    this.clients = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const c = new RebindClient(server.gameUrl, { reconnect: false });
        await c.connect();
        await c.join({ name: `w${i}` });
        if (!this.acks.has(`p-w${i}`)) this.acks.set(`p-w${i}`, []);
        return c;
      }),
    );
    this.loops = this.clients.map(async (c, i) => {
      for (let k = from; this.running; k++) {
        try {
          await c.call('marks.put', { k, pad: 2000 });
          this.acks.get(`p-w${i}`)!.push({ k, at: Date.now() });
        } catch (err) {
          const e = err as { code?: string; message: string };
          if (e.code === undefined) return; // the connection is gone
          this.errors.push({ code: e.code, message: e.message, at: Date.now() });
          await sleep(5);
        }
      }
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    for (const c of this.clients) c.close();
  }

  highest(): number {
    return Math.max(0, ...[...this.acks.values()].flatMap((l) => l.map((a) => a.k)));
  }

  get firstFailure(): number {
    return this.errors.find((e) => e.code === 'PERSIST_ERROR')?.at ?? Infinity;
  }

  /** Every mark acknowledged at a time `kept(at)` says must survive is in `marks`. */
  check(marks: Record<string, { k: number }>, kept: (at: number) => boolean = () => true): void {
    for (const [player, list] of this.acks) {
      const acked = list.filter((a) => kept(a.at)).at(-1)?.k ?? 0;
      expect(marks[player]?.k ?? 0, `${player}: acknowledged ${acked}`).toBeGreaterThanOrEqual(acked);
    }
  }
}

async function untilFull(load: Load): Promise<void> {
  await waitFor(() => load.errors.some((e) => e.code === 'PERSIST_ERROR'), 30_000, 'the disk to fill up');
}

/** While the disk is full: pings, read-only calls and `rebind status` answer; writes say why they fail. */
async function degradedButAnswering(server: ServerProcess, load: Load, dataDir: string): Promise<void> {
  const e = load.errors.find((x) => x.code === 'PERSIST_ERROR')!;
  expect(e.message).toContain(dataDir);
  expect(e.message).toMatch(/ENOSPC/);
  const c = new RebindClient(server.gameUrl, { reconnect: false });
  await c.connect();
  const joined = await c.join({ name: 'reader' });
  expect(joined).toMatchObject({ player: 'p-reader' });
  expect(await c.call('$ping')).toHaveProperty('now');
  expect(typeof (await c.call('marks.read'))).toBe('number');
  c.close();
  const status = await runCli(['status', '--json', '--server', server.adminUrl, '--token', TOKEN]);
  expect(status.code, status.stderr).toBe(0);
  expect(JSON.parse(status.stdout).persistence.failing).toMatch(/ENOSPC/);
  // An operator's call that writes is held to the same rule as a player's: no OK for a write the disk refused.
  const write = await runCli(['call', 'marks.put', '{"k":1,"pad":2000}', '--as', 'p-op', '--json', '--server', server.adminUrl, '--token', TOKEN]);
  expect(write.code, write.stdout + write.stderr).toBe(1);
  expect(JSON.parse(write.stdout).error.code).toBe('PERSIST_ERROR');
  const read = await runCli(['call', 'marks.read', '--as', 'p-op', '--json', '--server', server.adminUrl, '--token', TOKEN]);
  expect(read.code, read.stdout + read.stderr).toBe(0);
}

/** A server on a 3 MB tmpfs, written to until its disk is full; undefined where no tmpfs can be mounted. */
async function fullDisk(fsync: 'always' | 'interval'): Promise<{ p: TempProject; data: string; server: ServerProcess; load: Load } | undefined> {
  const p = marksProject(cleanups);
  const data = p.path('disk');
  if (!tryMount(data)) return undefined;
  const server = await startMarks(p, fsync, cleanups, data);
  const load = new Load();
  await load.start(server);
  await untilFull(load);
  return { p, data, server, load };
}

/** Players whose text is made of valid frames write until the disk is full; then `end` (SIGTERM or kill -9); the restart must not refuse. */
async function evilRowsOnAFullDisk(end: 'term' | 'kill'): Promise<void> {
  const p = marksProject(cleanups);
  const data = p.path('disk');
  if (!tryMount(data)) return;
  const server = await startMarks(p, 'always', cleanups, data);
  const text = asciiFrame().repeat(230);
  const acked = new Map<string, number>();
  let failures = 0;
  const clients = await Promise.all(
    Array.from({ length: 4 }, async (_, i) => {
      const c = new RebindClient(server.gameUrl, { reconnect: false });
      await c.connect();
      await c.join({ name: `e${i}` });
      return c;
    }),
  );
  let running = true;
  const loops = clients.map(async (c, i) => {
    for (let k = 1; running; k++) {
      try {
        await c.call('marks.putText', { k, text });
        acked.set(`p-e${i}`, k);
      } catch (err) {
        if ((err as { code?: string }).code === undefined) return;
        failures++;
        await sleep(5);
      }
    }
  });
  await waitFor(() => failures >= 4, 30_000, 'the disk to fill up');
  if (end === 'kill') await server.kill();
  running = false;
  await Promise.all(loops);
  for (const c of clients) c.close();
  if (end === 'term') {
    expect(await server.stop()).toBe(1);
    // Cut back to its last durable record: valid to its end, with no torn tail for the next start to cut.
    for (const f of readdirSync(data).filter((n) => n.startsWith('journal-'))) expect(readFramed(readFileSync(path.join(data, f))).problem, f).toBeUndefined();
  }
  resize(data, 16);
  const again = await startMarks(p, 'always', cleanups, data);
  const marks = await readMarks(again);
  for (const [player, k] of acked) expect(marks[player]?.k ?? 0, player).toBeGreaterThanOrEqual(k);
  expect(again.output()).not.toMatch(/DATA_DAMAGED/);
  await again.stop();
}

describe.skipIf(!canMount)('a real full disk (tmpfs)', () => {
  it('rows whose text is made of valid frames, the disk full, SIGTERM: the journal is left valid, the restart does not refuse', () => evilRowsOnAFullDisk('term'), 120_000);
  it('rows whose text is made of valid frames, the disk full, kill -9: the torn tail is cut, the restart does not refuse', () => evilRowsOnAFullDisk('kill'), 120_000);

  it('fsync always: full, degraded but answering, resumes by itself when space returns; kill -9 keeps every acknowledged write', async () => {
    const full = await fullDisk('always');
    if (!full) return;
    const { p, data, server, load } = full;
    await degradedButAnswering(server, load, data);
    const highWhenFull = load.highest();
    resize(data, 16);
    await waitFor(() => load.highest() > highWhenFull + 50, 30_000, 'writes to be acknowledged again after space returned');
    await sleep(300);
    await server.kill();
    await load.stop();
    const again = await startMarks(p, 'always', cleanups, data);
    load.check(await readMarks(again));
    expect(again.output()).not.toMatch(/damaged|refus/i);
    await again.stop();
  }, 120_000);

  it('fsync interval: kill -9 while full loses no more than the interval; SIGTERM on a full disk exits non-zero, keeps the journal, no unhandled rejection', async () => {
    const full = await fullDisk('interval');
    if (!full) return;
    const { p, data, server, load } = full;
    await sleep(500);
    const killedAt = Date.now();
    await server.kill();
    await load.stop();
    resize(data, 8);
    const second = await startMarks(p, 'interval', cleanups, data);
    // `interval` may lose what was acknowledged in the last interval before the disk failed,
    // and nothing acknowledged after that (replies stopped saying OK, or the journal had healed).
    const failedAt = load.firstFailure;
    load.check(await readMarks(second), (at) => at <= failedAt - 250 || (at >= failedAt + 250 && at <= killedAt - 250));
    // Fill the bigger disk too, then stop with SIGTERM: its final snapshot cannot be written.
    const more = new Load();
    await more.start(second, load.highest() + 1);
    await untilFull(more);
    await degradedButAnswering(second, more, data);
    const stoppedAt = Date.now();
    const code = await second.stop();
    await more.stop();
    expect(code).toBe(1);
    // 'exit' can come before the last of stderr has been read.
    await waitFor(() => /final snapshot could not be written/.test(second.output()), 5000, 'the final snapshot failure in the log');
    expect(second.output()).not.toMatch(/unhandled rejection/);
    resize(data, 32);
    const third = await startMarks(p, 'interval', cleanups, data);
    const marks = await readMarks(third);
    const fullAt = more.firstFailure;
    more.check(marks, (at) => at <= fullAt - 250 || (at >= fullAt + 250 && at <= stoppedAt - 250));
    await third.stop();
  }, 120_000);
});
