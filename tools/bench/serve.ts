// A server for the benchmarks, in a process of its own so that the load
// generator and the server do not share a core. Prints "READY <port>".
//   --mode echo    a bare ws server that decodes each request and echoes it
//   --mode rebind  the full path: decode, dispatch, a store transaction, encode
//   --mode demo    the shipped demo arena (copied, so patches stay local)
//   --patch-every MS   with rebind: patch the handler's module every MS
//   --sync delta|patches   room sync encoding (default delta)
//   --radius PX        with demo: the arena's VIEW_RADIUS (0: everyone sees everyone)
import { cpSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Packr } from 'msgpackr';
import { WebSocketServer } from 'ws';
import { GameServer } from '../../server/server.ts';

const { values } = parseArgs({ options: { mode: { type: 'string', default: 'rebind' }, 'patch-every': { type: 'string', default: '0' }, sync: { type: 'string', default: 'delta' }, radius: { type: 'string' } } });
const mode = values.mode!;
// All the bench's clients come from 127.0.0.1: no per-address cap.
const limits = { ratePerSecond: 1e6, rateBurst: 1e6, maxInFlight: 10_000, maxConnectionsPerAddress: 0 };

if (mode === 'echo') {
  const packr = new Packr({ useRecords: false, variableMapSize: true, mapsAsObjects: true });
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false }, () => {
    process.stdout.write(`READY ${(wss.address() as { port: number }).port}\n`);
  });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => {
      const [name, seq, payload] = (isBinary ? packr.unpack(data as Buffer) : JSON.parse(String(data))) as [string, number, unknown];
      const result = name === '$auth' ? { player: 'p', token: 't', graceMs: 0, resumed: false } : payload;
      ws.send(isBinary ? packr.pack([seq, 0, result]) : JSON.stringify([seq, 0, result]));
    });
  });
} else {
  const root = mkdtempSync(path.join(tmpdir(), 'rebind-bench-'));
  process.on('exit', () => rmSync(root, { recursive: true, force: true }));
  if (mode === 'demo') {
    for (const dir of ['state', 'logic']) cpSync(fileURLToPath(new URL(`../../${dir}`, import.meta.url)), path.join(root, dir), { recursive: true });
    if (values.radius !== undefined) {
      const rules = path.join(root, 'logic/lib/rules.ts');
      writeFileSync(rules, readFileSync(rules, 'utf8').replace(/export const VIEW_RADIUS = \d+;/, `export const VIEW_RADIUS = ${Number(values.radius)};`));
    }
  } else {
    mkdirSync(path.join(root, 'state'));
    mkdirSync(path.join(root, 'logic'));
    writeFileSync(path.join(root, 'state/hits.ts'), `import { defineTable } from '../server/api';\nexport const hits = defineTable<{ n: number; last: unknown }>('hits');\n`);
    writeFileSync(path.join(root, 'logic/session.ts'), `export function auth(ctx: unknown, p: { name: string }) { return p.name; }\n`);
  }
  const handler = (v: number) => `
import { client, type Ctx } from '../server/api';
import { hits } from '../state/hits';
export const hit = client((ctx: Ctx, payload: unknown) => {
  const id = ctx.player!;
  if (hits.has(id)) hits.update(id, (d) => { d.n += 1; d.last = payload; });
  else hits.set(id, { n: 1, last: payload });
  return { n: hits.get(id)!.n, v: ${v} };
});
`;
  if (mode === 'rebind') writeFileSync(path.join(root, 'logic/bench.ts'), handler(0));
  const server = await GameServer.start({ root, port: 0, host: '127.0.0.1', limits, sync: values.sync === 'patches' ? 'patches' : 'delta' });
  process.stdout.write(`READY ${server.port}\n`);
  const every = Number(values['patch-every']);
  if (mode === 'rebind' && every > 0) {
    let v = 0;
    setInterval(() => {
      writeFileSync(path.join(root, 'logic/bench.ts'), handler(++v));
      void server.host.patch(['bench']).then((r) => {
        if (!r.ok) process.stderr.write(`patch failed: ${r.error?.message}\n`);
      });
    }, every);
  }
  // A debugging aid only: at 1 ms resolution it wakes the event loop 1,000 times a second,
  // which costs the server more CPU than some of the workloads measured here.
  const delay = monitorEventLoopDelay({ resolution: 1 });
  if (process.env.REBIND_BENCH_DEBUG) delay.enable();
  const patchTimes: number[] = [];
  server.host.engine.history.onRecord((r) => patchTimes.push(r.durationMs));
  process.on('SIGINT', () => void server.stop().then(() => process.exit(0)));
  process.on('SIGTERM', () => {
    if (process.env.REBIND_BENCH_DEBUG) {
      process.stderr.write(`event loop delay p99 ${(delay.percentile(99) / 1e6).toFixed(1)} ms, max ${(delay.max / 1e6).toFixed(1)} ms; patches ${patchTimes.length}, max ${Math.max(0, ...patchTimes).toFixed(1)} ms\n`);
    }
    void server.stop().then(() => process.exit(0));
  });
}
