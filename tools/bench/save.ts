import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RebindClient } from '../../client/index.ts';
import { GameServer } from '../../server/server.ts';
import { median, ms, type Row } from './table.ts';

// What a developer waits for: from saving a file to a connected player
// getting the new behaviour, with the server's --watch (its debounce
// included). The demo's SPEED is changed and arena.info is asked until it
// says so; asking adds up to about a millisecond. Beside it: the patch alone,
// as the history records it.

export async function benchSave(saves: number): Promise<Row[]> {
  const root = mkdtempSync(path.join(tmpdir(), 'rebind-bench-save-'));
  for (const dir of ['state', 'logic']) cpSync(fileURLToPath(new URL(`../../${dir}`, import.meta.url)), path.join(root, dir), { recursive: true });
  const server = await GameServer.start({ root, port: 0, host: '127.0.0.1', watch: true });
  const player = new RebindClient(server.url, { reconnect: false });
  try {
    await player.connect();
    await player.join({ name: 'bench' });
    const file = path.join(root, 'logic/lib/rules.ts');
    const original = readFileSync(file, 'utf8');
    const waits: number[] = [];
    const patches: number[] = [];
    for (let i = 1; i <= saves; i++) {
      const speed = 200 + i;
      const start = performance.now();
      writeFileSync(file, original.replace(/SPEED = \d+;/, `SPEED = ${speed};`));
      while (((await player.call('arena.info')) as { speed: number }).speed !== speed) await new Promise((r) => setTimeout(r, 1));
      waits.push(performance.now() - start);
      patches.push(server.host.history(1)[0]!.durationMs);
      await new Promise((r) => setTimeout(r, 300)); // past the watcher's rescan, so each save starts from quiet
    }
    return [{ section: 'patch', what: `save -> live for a player, --watch (median of ${saves})`, rebind: ms(median(waits)), baseline: `the patch itself: ${ms(median(patches))}`, goal: '' }];
  } finally {
    player.close();
    await server.stop();
    rmSync(root, { recursive: true, force: true });
  }
}
