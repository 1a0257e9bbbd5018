import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startServerProcess } from '../helpers/process.ts';
import { waitFor } from '../helpers/project.ts';
import { Persistence } from '../../server/store/persistence.ts';
import { transact } from '../../server/store/transaction.ts';
import { world } from './fault-model.ts';
import { marksProject, startMarks, TOKEN } from './marks-project.ts';
import { tempDirs } from './temp-dirs.ts';

// One server per data folder, decided by the kernel: never by a pid, which
// after kill -9 may still be a zombie's, or any unrelated process's.

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

const MAIN = fileURLToPath(new URL('../../server/main.ts', import.meta.url));

describe('the data-folder lock', () => {
  it('a restart right after kill -9 starts at once, 20 times in a row', async () => {
    const p = marksProject(cleanups);
    for (let i = 0; i < 20; i++) {
      const s = await startMarks(p, 'always', cleanups);
      await s.kill();
    }
  }, 120_000);

  it('two servers started at the same moment on one folder: exactly one runs, the other says who holds it', async () => {
    const p = marksProject(cleanups);
    const [a, b] = await Promise.allSettled([startMarks(p, 'always', cleanups), startMarks(p, 'always', cleanups)]);
    const ran = [a, b].filter((r) => r.status === 'fulfilled');
    const refused = [a, b].filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(ran).toHaveLength(1);
    expect(refused).toHaveLength(1);
    expect(String(refused[0]!.reason)).toMatch(/DATA_LOCKED[\s\S]*is in use by another rebind server \(process \d+/);
  }, 60_000);

  it('a leftover server.pid naming a live process (pid 1) blocks nothing', async () => {
    const p = marksProject(cleanups);
    const first = await startMarks(p, 'interval', cleanups);
    expect(await first.stop()).toBe(0);
    writeFileSync(p.path('data/server.pid'), '1');
    const again = await startMarks(p, 'interval', cleanups);
    expect(await again.stop()).toBe(0);
  }, 60_000);

  it('starts while the killed server is still a zombie (its parent does not reap it)', async () => {
    const p = marksProject(cleanups);
    // sh starts the server in the background, prints its pid, then becomes `sleep`, which never reaps children.
    const cmd = `"${process.execPath}" --import tsx "${MAIN}" --port 0 --host 127.0.0.1 --admin-port 0 --root "${p.root}" --data "${p.path('data')}" & echo "pid=$!"; exec sleep 60`;
    const parent = spawn('sh', ['-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, REBIND_ADMIN_TOKEN: TOKEN } });
    cleanups.push(() => void parent.kill('SIGKILL'));
    let out = '';
    parent.stdout.on('data', (d) => (out += d));
    parent.stderr.on('data', (d) => (out += d));
    await waitFor(() => /game server listening/.test(out), 20_000, 'the first server to listen');
    const pid = Number(/pid=(\d+)/.exec(out)![1]);
    process.kill(pid, 'SIGKILL');
    await waitFor(() => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.startsWith('Z'), 5000, 'the killed server to be a zombie');
    const again = await startServerProcess(['--root', p.root, '--data', p.path('data')], { REBIND_ADMIN_TOKEN: TOKEN });
    cleanups.push(() => again.kill());
    expect(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.startsWith('Z')).toBe(true);
    expect(await again.stop()).toBe(0);
  }, 60_000);
});

describe('a data folder moved away and replaced while a server runs', () => {
  const tempDir = tempDirs('rebind-moved-');

  it('the old server writes nothing into the new folder (which another server may have locked)', async () => {
    const root = tempDir();
    const dir = path.join(root, 'data');
    const a = world();
    const p = new Persistence(dir, a.registry, 'always');
    await p.recover();
    transact(() => a.counter.update((d) => void (d.n = 1)));
    await p.durable();
    renameSync(dir, path.join(root, 'data.old'));
    mkdirSync(dir);
    const b = world();
    const q = new Persistence(dir, b.registry, 'always');
    await q.recover(); // the new folder is another folder: its own lock
    await q.flushed();
    const before = readdirSync(dir).sort();
    const err = await p.snapshot().then(() => undefined, (e: Error & { code?: string }) => e);
    expect(err?.code).toBe('DATA_LOCKED');
    expect(err?.message).toContain('was moved, removed or replaced');
    await p.close();
    expect(p.closedCleanly).toBe(false);
    expect(readdirSync(dir).sort()).toEqual(before);
    await q.close();
  });
});
