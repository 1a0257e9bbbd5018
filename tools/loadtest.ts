import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { RebindClient, RebindClientError } from '../client/index.ts';

// The load generator: N simulated players on the real protocol, through the
// same client library the games use. Closed loop (`rate` 0: each player keeps
// `window` calls in flight) measures throughput; open loop (`rate` > 0 calls
// per second per player) measures latency at a given load.

export interface LoadOptions {
  url: string;
  players: number;
  /** Calls per second per player; 0 for as fast as replies come back. */
  rate: number;
  /** Calls in flight per player in closed-loop mode. */
  window: number;
  durationMs: number;
  /** Replies in this first stretch are not counted (JIT and connection warm-up). */
  warmupMs?: number;
  handler: string;
  payload: unknown;
  encoding: 'msgpack' | 'json';
  /** Called about once a second with the running figures. */
  onProgress?: (progress: LoadProgress) => void;
}

export interface LoadProgress {
  elapsedMs: number;
  replies: number;
  errors: number;
  disconnects: number;
}

export interface LoadReport {
  players: number;
  durationMs: number;
  replies: number;
  messagesPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: number;
  errorsByCode: Record<string, number>;
  disconnects: number;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export async function runLoad(options: LoadOptions): Promise<LoadReport> {
  const clients: RebindClient[] = [];
  let disconnects = 0;
  const run = Math.random().toString(36).slice(2, 7);
  for (let i = 0; i < options.players; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, options.players - i) }, async (_, j) => {
        const c = new RebindClient(options.url, { encoding: options.encoding, reconnect: false });
        await c.connect();
        await c.join({ name: `load-${run}-${i + j}` });
        c.on('close', () => {
          if (!stopping) disconnects++;
        });
        return c;
      }),
    );
    clients.push(...batch);
  }

  const latencies: number[] = [];
  const errorsByCode: Record<string, number> = {};
  let errors = 0;
  let stopping = false;
  const started = performance.now();
  const deadline = started + options.durationMs;

  const countFrom = started + (options.warmupMs ?? 0);
  const one = async (c: RebindClient): Promise<void> => {
    const t0 = performance.now();
    try {
      // The handler is named at run time: any game's, so the untyped request.
      await c.request(options.handler, options.payload);
      if (t0 >= countFrom) latencies.push(performance.now() - t0);
    } catch (err) {
      errors++;
      const code = err instanceof RebindClientError ? err.code : 'CLIENT_ERROR';
      errorsByCode[code] = (errorsByCode[code] ?? 0) + 1;
    }
  };

  const progress = setInterval(() => {
    options.onProgress?.({ elapsedMs: performance.now() - started, replies: latencies.length, errors, disconnects });
  }, 1000);

  const loops = clients.map(async (c) => {
    if (options.rate > 0) {
      const gap = 1000 / options.rate;
      const inFlight: Array<Promise<void>> = [];
      // Spread the players over the first gap so that they do not fire in lockstep.
      let next = started + Math.random() * gap;
      while (next < deadline && c.connected) {
        const wait = next - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        inFlight.push(one(c));
        next += gap;
      }
      await Promise.all(inFlight);
      return;
    }
    await Promise.all(
      Array.from({ length: options.window }, async () => {
        while (performance.now() < deadline && c.connected) await one(c);
      }),
    );
  });
  await Promise.all(loops);
  const elapsed = performance.now() - Math.min(countFrom, performance.now());
  clearInterval(progress);
  stopping = true;
  for (const c of clients) c.close();

  const sorted = Float64Array.from(latencies).sort();
  return {
    players: options.players,
    durationMs: Math.round(elapsed),
    replies: latencies.length,
    messagesPerSecond: Math.round(latencies.length / (elapsed / 1000)),
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.length ? sorted[sorted.length - 1]! : 0,
    errors,
    errorsByCode,
    disconnects,
  };
}

const HELP = `rebind load generator

usage: npx tsx tools/loadtest.ts [options]

  --url URL          server (default ws://127.0.0.1:8080)
  --players N        simulated players (default 50)
  --rate N           calls per second per player; 0 = as fast as replies come (default 10)
  --window N         calls in flight per player when --rate is 0 (default 4)
  --duration S       seconds (default 10)
  --handler NAME     handler to call (default arena.move)
  --payload JSON     payload (default {"dx":1,"dy":0})
  --json-frames      speak JSON text frames instead of MessagePack
  --json             print the report as JSON
`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      url: { type: 'string', default: 'ws://127.0.0.1:8080' },
      players: { type: 'string', default: '50' },
      rate: { type: 'string', default: '10' },
      window: { type: 'string', default: '4' },
      duration: { type: 'string', default: '10' },
      handler: { type: 'string', default: 'arena.move' },
      payload: { type: 'string', default: '{"dx":1,"dy":0}' },
      'json-frames': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const num = (name: string, v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a number >= 0, got "${v}"`);
    return n;
  };
  const report = await runLoad({
    url: values.url!,
    players: num('players', values.players!),
    rate: num('rate', values.rate!),
    window: Math.max(1, num('window', values.window!)),
    durationMs: num('duration', values.duration!) * 1000,
    handler: values.handler!,
    payload: JSON.parse(values.payload!),
    encoding: values['json-frames'] ? 'json' : 'msgpack',
    onProgress: (p) => {
      const line = `${(p.elapsedMs / 1000).toFixed(0)}s  replies ${p.replies}  errors ${p.errors}  disconnects ${p.disconnects}`;
      if (process.stderr.isTTY) process.stderr.write(`\r${line}   `);
      else process.stderr.write(line + '\n');
    },
  });
  if (process.stderr.isTTY) process.stderr.write('\n');
  if (values.json) {
    process.stdout.write(JSON.stringify(report) + '\n');
    return;
  }
  process.stdout.write(
    `players ${report.players}, ${(report.durationMs / 1000).toFixed(1)} s\n` +
      `  messages/s   ${report.messagesPerSecond}\n` +
      `  latency p50  ${report.p50Ms.toFixed(2)} ms   p99 ${report.p99Ms.toFixed(2)} ms   max ${report.maxMs.toFixed(2)} ms\n` +
      `  errors       ${report.errors}${report.errors ? ' ' + JSON.stringify(report.errorsByCode) : ''}\n` +
      `  disconnects  ${report.disconnects}\n`,
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err: unknown) => {
    process.stderr.write(`loadtest: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(err instanceof RebindClientError ? 1 : 2);
  });
}
