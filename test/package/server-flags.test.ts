import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SERVER_NODE_FLAGS } from '../../tools/server-flags.ts';

// The server runs with Node flags of its own (a 64 MB young generation: see
// docs/operating.md, "Memory"). `npm start`, the `rebind-server` bin and the
// benchmarks must give the same ones, or the bench measures a server nobody
// runs. (The scaffold test starts a game through the bin, shebang and all; the
// local fleet's nodes and the bench's servers take them from tools/server-flags.ts.)

const root = new URL('../../', import.meta.url);

describe('the Node flags a server runs with', () => {
  it('are the same in npm start, the rebind-server bin and the benchmarks', () => {
    expect(SERVER_NODE_FLAGS.length).toBeGreaterThan(0);
    const start = (JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { scripts: { start: string } }).scripts.start;
    const shebang = readFileSync(new URL('tools/bin-rebind-server.mjs', root), 'utf8').split('\n')[0]!;
    expect(start).toBe(`tsx ${SERVER_NODE_FLAGS.join(' ')} server/main.ts`);
    expect(shebang).toBe(`#!/usr/bin/env -S node ${SERVER_NODE_FLAGS.join(' ')}`);
    const docs = readFileSync(new URL('docs/operating.md', root), 'utf8');
    for (const flag of SERVER_NODE_FLAGS) expect(docs).toContain(flag);
  });
});
