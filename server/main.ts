import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { formatLocation, isRebindError } from './errors.ts';
import { checkFleetDatabase, fleetDatabaseRefusalOnceUp, fleetUrlProblem } from './fleet/fleet-url.ts';
import { createLogger } from './log.ts';
import { DEFAULT_LIMITS } from './net/limits.ts';
import { parseVerifyWindow } from './patch/verify-window.ts';
import { GameServer } from './server.ts';
import { throwPlace, whoThrew, type Thrower } from './uncaught.ts';
import { ErrorThrottle, leftOutNote } from './patch/error-throttle.ts';

// `npm start`: the game server. Every flag has an environment variable too.

const HELP = `rebind game server

usage: npm start -- [options]

  --port N          game port (REBIND_PORT, default 8080)
  --host ADDR       game address (REBIND_HOST, default 0.0.0.0)
  --admin-port N    admin port (REBIND_ADMIN_PORT, default 8081)
  --admin-host ADDR admin address (REBIND_ADMIN_HOST, default 127.0.0.1)
  --data DIR        data folder (REBIND_DATA, default ./data)
  --watch           patch logic/ on every save (REBIND_WATCH=1)
  --tick-hz N       simulation ticks per second (REBIND_TICK_HZ, default 20)
  --fsync MODE      always | interval | off (REBIND_FSYNC, default interval)
  --deflate         permessage-deflate on the game port (REBIND_DEFLATE=1, default off)
  --repair          if the data is damaged, move the damaged files to data/damaged-<time>/
                    and start from the valid part (REBIND_REPAIR=1; without it such a start is refused)
  --auth-timeout S  close a connection that has not joined within S seconds
                    (REBIND_AUTH_TIMEOUT, default 10)
  --max-per-address N  connections one address may hold on the game port, 0 = no cap
                    (REBIND_MAX_PER_ADDRESS, default 256)
  --grace S         how long a disconnected player is kept for a resume, in seconds
                    (REBIND_GRACE, default 30)
  --verify DURATION with --watch: verify each save's patch for this long (30s, 1500ms, 2m, 1h;
                    from 1s to 24h) and
                    roll it back on its own if it goes over budget (REBIND_VERIFY)
  --from-disk       start from logic/ as it is on disk, not from the live code saved in
                    the data folder (REBIND_FROM_DISK=1; the default is the code that was live)
  --root DIR        the project with state/ and logic/ (REBIND_ROOT, default .)
  --demo-page       serve the engine's demo page (the arena) on the game port; on by itself
                    only when the root is the engine's own folder (REBIND_DEMO_PAGE=1)
  --fleet URL       join the fleet on this Redis, e.g. redis://127.0.0.1:6379 (REBIND_FLEET);
                    without it the server runs alone and needs no Redis
  --public-url URL  the address other nodes send players to (REBIND_PUBLIC_URL,
                    default the game listener's ws:// address)
  -h, --help        this text
`;

const log = createLogger('rebind');

function fail(message: string): never {
  process.stderr.write(`rebind: ${message}\n\n${HELP}`);
  process.exit(2);
}

function number(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) fail(`--${name} must be a whole number from ${min} to ${max}, got "${value}"`);
  return n;
}

const OPTIONS = {
  port: { type: 'string' },
  host: { type: 'string' },
  'admin-port': { type: 'string' },
  'admin-host': { type: 'string' },
  data: { type: 'string' },
  watch: { type: 'boolean' },
  'tick-hz': { type: 'string' },
  fsync: { type: 'string' },
  deflate: { type: 'boolean' },
  repair: { type: 'boolean' },
  'from-disk': { type: 'boolean' },
  'auth-timeout': { type: 'string' },
  'max-per-address': { type: 'string' },
  grace: { type: 'string' },
  root: { type: 'string' },
  'demo-page': { type: 'boolean' },
  verify: { type: 'string' },
  fleet: { type: 'string' },
  'public-url': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/**
 * `--max-per-address -1` joined as `--max-per-address=-1`: parseArgs takes a
 * value starting with "-" for a missing one ("argument is ambiguous"), while
 * the range check below has the useful message.
 */
function joinNegativeValues(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = args[i]!.startsWith('--') ? args[i]!.slice(2) : '';
    const option = Object.hasOwn(OPTIONS, name) ? OPTIONS[name as keyof typeof OPTIONS] : undefined;
    if (option?.type === 'string' && /^-\d/.test(args[i + 1] ?? '')) out.push(`${args[i]}=${args[++i]}`);
    else out.push(args[i]!);
  }
  return out;
}

let parsed: ReturnType<typeof parseArgs>;
try {
  parsed = parseArgs({ args: joinNegativeValues(process.argv.slice(2)), options: OPTIONS, strict: true });
} catch (err) {
  fail((err as Error).message);
}
const flags = parsed.values as Record<string, string | boolean | undefined>;
if (flags.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
const env = process.env;
const str = (flag: string, envName: string): string | undefined => (flags[flag] as string | undefined) ?? env[envName];

const fsync = str('fsync', 'REBIND_FSYNC') ?? 'interval';
if (!['always', 'interval', 'off'].includes(fsync)) fail(`--fsync must be always, interval or off, got "${fsync}"`);

const verifyText = str('verify', 'REBIND_VERIFY');
const verifyWindow = verifyText === undefined || verifyText === '' ? undefined : parseVerifyWindow(verifyText);
if (verifyWindow && 'error' in verifyWindow) fail(`--verify ${verifyWindow.error}`);
const verifyMs = verifyWindow?.ms;
if (verifyMs && env.REBIND_METRICS === '0') fail('--verify needs the per-call counts, which REBIND_METRICS=0 turns off: start without one of them');

const fleet = str('fleet', 'REBIND_FLEET') || undefined;
const fleetProblem = fleet ? fleetUrlProblem(fleet) : undefined;
if (fleetProblem) fail(fleetProblem);
const publicUrl = str('public-url', 'REBIND_PUBLIC_URL') || undefined;
if (publicUrl && !/^wss?:\/\/[^\s/]+/.test(publicUrl)) fail(`--public-url must be a ws:// or wss:// address such as ws://game1.example.com:8080, got "${publicUrl}"`);

const root = path.resolve(str('root', 'REBIND_ROOT') ?? process.cwd());
/** The engine's own folder: its logic/ is the demo, the one game the arena page belongs to. */
const ENGINE_DIR = fileURLToPath(new URL('../', import.meta.url));
const realOrSelf = (dir: string): string => {
  try {
    return realpathSync(dir);
  } catch {
    return dir;
  }
};
const demoPage = flags['demo-page'] === true || env.REBIND_DEMO_PAGE === '1' || realOrSelf(root) === realOrSelf(ENGINE_DIR).replace(/[\\/]$/, '');

const options = {
  root,
  port: number('port', str('port', 'REBIND_PORT'), 8080, 0, 65535),
  host: str('host', 'REBIND_HOST') ?? '0.0.0.0',
  adminPort: number('admin-port', str('admin-port', 'REBIND_ADMIN_PORT'), 8081, 0, 65535),
  adminHost: str('admin-host', 'REBIND_ADMIN_HOST') ?? '127.0.0.1',
  dataDir: str('data', 'REBIND_DATA') ?? 'data',
  watch: flags.watch === true || env.REBIND_WATCH === '1' || env.REBIND_WATCH === 'true',
  tickHz: number('tick-hz', str('tick-hz', 'REBIND_TICK_HZ'), 20, 1, 1000),
  fsync: fsync as 'always' | 'interval' | 'off',
  pages: true,
  demoPage,
  deflate: flags.deflate === true || env.REBIND_DEFLATE === '1',
  repair: flags.repair === true || env.REBIND_REPAIR === '1',
  fromDisk: flags['from-disk'] === true || env.REBIND_FROM_DISK === '1',
  ...(verifyMs ? { verifyMs } : {}),
  ...(fleet ? { fleet } : {}),
  ...(publicUrl ? { publicUrl } : {}),
  graceMs: number('grace', str('grace', 'REBIND_GRACE'), 30, 0, 86_400) * 1000,
  limits: {
    authTimeoutMs: number('auth-timeout', str('auth-timeout', 'REBIND_AUTH_TIMEOUT'), DEFAULT_LIMITS.authTimeoutMs / 1000, 1, 3600) * 1000,
    maxConnectionsPerAddress: number('max-per-address', str('max-per-address', 'REBIND_MAX_PER_ADDRESS'), DEFAULT_LIMITS.maxConnectionsPerAddress, 0, 1_000_000),
  },
};

if (!existsSync(path.join(root, 'logic'))) {
  log.warn(`NO GAME HERE: ${root} has no logic/ folder, so the server starts with no handlers at all. Run it in your game's folder (one made by \`npx rebind new <dir>\`), or pass --root <your game's folder>.`);
}

// Frames enough that logic's frame under the server's own (a store's checks, recursing into a
// nested row) is still on the stack, where it says whose throw it was (uncaught.ts). Node's 10 cut it
// off. Errors are rare, and a deeper stack costs only when one is made.
Error.stackTraceLimit = Math.max(Error.stackTraceLimit, 50);
// A throw nothing caught (uncaught.ts): logic's, a refusal the server made for logic's call, or one
// from outside the server's code is logged and the server goes on; any other in the server's own
// code stops it as SIGTERM would (clients told, a final snapshot of what committed), with exit code
// 1. Set before the server starts: a callback an init queued may throw while it is still starting.
// Nothing here may throw (the logger never does): Node would end the process at once.
let stopOnServerFault: (() => void) | undefined;
let stopping = false;
/** A fault in the server's own code, even one during a stop already under way: the exit code is 1. */
let serverFaulted = false;
// One line per place per 5 s: a callback that throws (or a promise that rejects) at every turn must not flood the log.
const uncaughtThrottle = new ErrorThrottle();
function throwerOf(err: unknown): Thrower {
  try {
    return whoThrew(err);
  } catch {
    return { from: 'elsewhere' };
  }
}
process.on('unhandledRejection', (reason) => {
  const admitted = uncaughtThrottle.admit(`rejection ${throwPlace(reason, throwerOf(reason))}`);
  if (admitted.log) log.error(`unhandled rejection (kept running)${leftOutNote(admitted.leftOut)}`, reason);
});
process.on('uncaughtException', (err, origin) => {
  const thrower = throwerOf(err);
  if (thrower.from !== 'server') {
    const admitted = uncaughtThrottle.admit(throwPlace(err, thrower));
    if (!admitted.log) return;
    const more = leftOutNote(admitted.leftOut);
    if (thrower.from === 'logic') return log.error(`an uncaught exception in logic at ${formatLocation(thrower.at)} (kept running)${more}`, err);
    if (thrower.from === 'refusal') return log.error(`an uncaught ${thrower.code} refusal made for logic's call, which logic let through a callback (kept running)${more}`, err);
    return log.error(`an uncaught exception outside the server's code, from a package or a callback of logic's (kept running)${more}`, err);
  }
  serverFaulted = true;
  log.error(`an uncaught exception in the server (${origin}): stopping${stopping ? ' (already stopping; the exit code will be 1)' : ''}`, err);
  if (stopOnServerFault) stopOnServerFault();
  else process.exit(1);
});

// A database Redis does not have is not an outage: retrying cannot help (like credentials it refuses).
const database = fleet ? await checkFleetDatabase(fleet) : { asked: true };
if (database.refusal) {
  log.error(`could not start: this process cannot be a node of the fleet: ${database.refusal}`);
  process.exit(1);
}

let server: GameServer;
try {
  server = await GameServer.start(options);
} catch (err) {
  if (isRebindError(err) && (err.code === 'DATA_DAMAGED' || err.code === 'DATA_LOCKED')) {
    // A refusal to touch the data: the message says what is wrong and what to do.
    log.error(`could not start, the data folder was left as it is (${err.code}):\n  ${err.message}`);
  } else if (isRebindError(err)) {
    log.error(`could not start: ${err.code}: ${err.message}${err.location ? ` (${formatLocation(err.location)})` : ''}`);
  } else {
    const e = err as NodeJS.ErrnoException;
    log.error(`could not start: ${e.code === 'EADDRINUSE' ? `port in use (${e.message}); pick another with --port` : (e.stack ?? e.message)}`);
  }
  process.exit(1);
}

/** `code`: the exit code when the stop itself goes well (a failed final snapshot makes it 1 anyway). */
async function shutdown(signal: string, code = 0): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info(`${signal}: closing clients and stopping`);
  try {
    await server.stop();
  } catch (err) {
    log.error(`stopping failed: ${(err as Error).message}`);
    process.exit(1);
  }
  // A final snapshot that failed was logged; the journal was kept, and a non-zero code tells the supervisor.
  // So was a fault in the server's own code, also one during this stop (the stop went on).
  process.exit(server.persistence?.closedCleanly === false || serverFaulted ? 1 : code);
}
// A copy of a live node's data folder (its node id is that node's), or credentials Redis refused: stop (exit 1) rather than serve half a node.
const refused = (why: string) => {
  if (stopping) return;
  stopping = true;
  log.error(`stopping: this process cannot be a node of the fleet: ${why}`);
  server.stop().then(() => process.exit(1), () => process.exit(1));
};
if (server.fleet?.refusal) refused(server.fleet.refusal);
server.fleet?.events.once('refused', refused);
if (fleet && !database.asked) void fleetDatabaseRefusalOnceUp(fleet, () => stopping).then((why) => why && refused(why));
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
stopOnServerFault = () => void shutdown('uncaught exception', 1);

// Only now say that the server is up: whoever reads these lines may send a signal at once.
const status = server.host.status();
const recovery = server.recovery;
if (recovery) log.info(`recovered ${recovery.snapshot ?? 'no snapshot'} + ${recovery.journalRecords} journal records in ${recovery.ms.toFixed(0)} ms (data in ${options.dataDir}, fsync ${options.fsync})`);
if (recovery?.setAside) log.warn(`--repair: ${recovery.lost} transaction(s) lost; the damaged files are kept in ${recovery.setAside}`);
const bound = options.host === '127.0.0.1' ? '' : `bound to ${options.host}, `;
log.info(`game server listening on ${server.url} (${bound}${status.modules.length} logic modules, ${status.stores.length} stores, ${options.tickHz} Hz${options.watch ? ', watching logic/' : ''})`);
if (server.pageUrl) log.info(`play in a browser: ${server.pageUrl}`);
else log.info(`clients connect to ${server.url} (rebind/client); no page is served on the game port (--demo-page serves the engine's demo arena)`);
if (server.fleet) log.info(`fleet node ${server.fleet.id} on ${server.fleet.options.url.replace(/:[^:@/]*@/, ':***@')}; players are sent to ${server.publicUrl}`);
if (server.admin) log.info(`admin listening on ${server.admin.url}; token from ${server.admin.tokenSource}; dashboard: ${server.admin.url.replace(/^ws/, 'http')}/`);
