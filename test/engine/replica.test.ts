import { enablePatches, produce, type Draft, type Patch } from 'immer';
import { expect, it } from 'vitest';
import { applyWirePatches } from '../../client/replica.ts';

// The client's replica (and journal replay) now apply patches without
// immer's applyPatches; whatever immer's produce emits must rebuild exactly
// the value it produced, arrays that grow and shrink included.

enablePatches();

interface World {
  players: Record<string, { x: number; tags: string[]; inventory: Array<{ id: number; n: number }> }>;
  log: string[];
  phase: string;
}

function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

function step(rnd: () => number, d: Draft<World>): void {
  const ids = Object.keys(d.players);
  const id = `p${Math.floor(rnd() * 6)}`;
  const pick = rnd();
  if (pick < 0.15) d.players[id] = { x: 0, tags: [], inventory: [] };
  else if (pick < 0.25) delete d.players[id];
  else if (pick < 0.35) d.log.push(`e${Math.floor(rnd() * 100)}`);
  else if (pick < 0.45) d.log.splice(0, Math.floor(rnd() * 3));
  else if (pick < 0.5) d.phase = rnd() < 0.5 ? 'play' : 'lobby';
  else if (pick < 0.55) d.log = [];
  else if (ids.length > 0) {
    const p = d.players[ids[Math.floor(rnd() * ids.length)]!]!;
    const what = rnd();
    if (what < 0.3) p.x += 1;
    else if (what < 0.5) p.tags.push(`t${Math.floor(rnd() * 5)}`);
    else if (what < 0.6) p.tags.pop();
    else if (what < 0.75) p.inventory.push({ id: Math.floor(rnd() * 9), n: 1 });
    else if (what < 0.85 && p.inventory.length > 0) p.inventory[Math.floor(rnd() * p.inventory.length)]!.n += 1;
    else p.inventory.splice(Math.floor(rnd() * (p.inventory.length + 1)), 1);
  }
}

it('rebuilds what immer produced, over 2,000 random changes of 1 to 4 steps each', () => {
  for (let seed = 1; seed <= 20; seed++) {
    const rnd = random(seed);
    let produced: World = { players: {}, log: [], phase: 'lobby' };
    let replica: unknown = produced;
    for (let round = 0; round < 100; round++) {
      let patches: Patch[] = [];
      const steps = 1 + Math.floor(rnd() * 4);
      produced = produce(
        produced,
        (d) => {
          for (let i = 0; i < steps; i++) step(rnd, d);
        },
        (p) => {
          patches = p;
        },
      );
      const before = JSON.stringify(replica);
      const next = applyWirePatches(replica, patches as never);
      expect(JSON.stringify(replica)).toBe(before); // the previous state is left as it was
      replica = next;
      expect(replica).toEqual(produced);
    }
  }
});
