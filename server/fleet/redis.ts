import { Redis, type RedisOptions } from 'ioredis';
import { rebindError, type RebindError } from '../errors.ts';
import { createLogger } from '../log.ts';

// The fleet's connections to Redis. Two rules: a Redis that is down never
// takes a node down (reconnect forever, every connection error is logged,
// none is thrown at the process), and a command never waits for Redis to come
// back (it fails at once with FLEET_UNAVAILABLE, so that a player's request is
// answered and the caller decides what to do without Redis).
//
// Down means not answering, not only not connected: a Redis that is frozen
// (kill -STOP, a stalled host) keeps its connections open while it answers
// nothing. A PING that goes unanswered past a bound makes it down exactly
// as if it were gone, until it answers a PING again.

const log = createLogger('fleet');

/** How long one command may wait for Redis's answer before it is FLEET_UNAVAILABLE. */
const COMMAND_TIMEOUT_MS = 2000;

/** How often the command connection is asked PING while it is up (and while it is silent, to hear it back). */
const PROBE_EVERY_MS = 500;
/** A PING unanswered this long: Redis is down (a heartbeat's time; a healthy one answers in well under a millisecond). */
export const SILENT_AFTER_MS = 1500;

/** Backs off to one attempt a second, and never gives up. */
const retryForever = (attempt: number): number => Math.min(50 * attempt, 1000);

function options(extra: RedisOptions): RedisOptions {
  return {
    retryStrategy: retryForever,
    // A command sent while Redis is away fails at once instead of queueing behind the reconnect.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: COMMAND_TIMEOUT_MS,
    lazyConnect: true,
    ...extra,
  };
}

/** A Redis URL without its password, for log lines and error messages. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(not a URL)';
  }
}

/**
 * ioredis's words for a failure, in rebind's: with no offline queue and no
 * retries per command, a command caught by a dropped connection fails with
 * ioredis's "Reached the max retries per request limit", which says nothing
 * to an operator.
 */
export function redisWhy(cause: unknown): string {
  const why = cause instanceof Error ? cause.message : String(cause);
  if (/max retries per request/i.test(why)) return 'the connection to Redis was not up (connecting, or dropped before Redis answered)';
  return why;
}

/** Redis's answer to a SELECT of a database it does not have. */
function isDatabaseRefusal(why: string): boolean {
  return /^ERR\b.*(DB index is out of range|invalid DB index)/i.test(why);
}

/** A refusal of the credentials in the URL: retrying cannot help. */
export function isAuthRefusal(why: string): boolean {
  return /^(WRONGPASS|NOAUTH)\b|AUTH\b.*without any password configured|invalid password/i.test(why);
}

export function fleetUnavailable(url: string, cause: unknown): RebindError {
  const why = redisWhy(cause);
  return rebindError('FLEET_UNAVAILABLE', `the fleet's Redis at ${safeUrl(url)} did not answer (${why}); the node keeps serving its own rooms and retries every second`, { cause });
}

export interface FleetConnections {
  /** Commands and PUBLISH. */
  readonly command: Redis;
  /** SUBSCRIBE only (a subscribed connection can send nothing else). */
  readonly subscriber: Redis;
  /** Runs one command; any failure (down, timeout, refused) becomes FLEET_UNAVAILABLE. */
  run<T>(fn: (redis: Redis) => Promise<T>): Promise<T>;
  readonly ready: boolean;
  /** Since when Redis has been down (epoch ms; 0 while it is up), and the first reason it was seen down. */
  readonly outage: { since: number; why: string } | null;
  close(): Promise<void>;
}

/**
 * Connects both connections in the background; `onReady` runs at every
 * (re)connect of the command connection. `onRefused`: Redis refused the URL's
 * credentials before the first connection was ready (a wrong password is not
 * an outage: both connections are closed, nothing is retried).
 */
export function connectFleet(url: string, onReady: () => void, onRefused: (why: string) => void = () => undefined): FleetConnections {
  try {
    new URL(url);
  } catch {
    throw rebindError('BAD_REQUEST', `--fleet must be a Redis URL such as redis://127.0.0.1:6379, got "${url}"`);
  }
  const command = new Redis(url, options({ connectionName: 'rebind-node' }));
  // The subscriber queues its SUBSCRIBE until connected, and ioredis subscribes again after each reconnect.
  const subscriber = new Redis(url, options({ connectionName: 'rebind-node-sub', enableOfflineQueue: true }));
  let downSince = 0;
  let downWhy = '';
  let closing = false;
  const down = (why: string) => {
    // Once per outage, with the reason: ioredis reports every failed attempt.
    if (downSince !== 0 || closing) return;
    downSince = Date.now();
    downWhy = why;
    log.warn(`FLEET REDIS DOWN at ${safeUrl(url)}: ${why}; serving local rooms, retrying every second`);
  };
  const up = () => {
    if (downSince !== 0) log.info(`fleet Redis back at ${safeUrl(url)} after ${((Date.now() - downSince) / 1000).toFixed(1)} s`);
    downSince = 0;
    silent = false;
    everReady = true;
    onReady();
  };
  /** Connected, but Redis answers nothing (frozen, stalled): down until a PING is answered. */
  let silent = false;
  const silence = () => {
    if (silent || closing || command.status !== 'ready') return;
    silent = true;
    down(`connected, but it did not answer within ${SILENT_AFTER_MS / 1000} s (frozen or stalled)`);
  };
  /** When the PING on its way was sent, 0 when none is. */
  let probeSentAt = 0;
  let lastTick = Date.now();
  const probe = setInterval(() => {
    const now = Date.now();
    // This process was busy (a long patch, a stalled event loop): an answer may be waiting unread, so judge at the next tick.
    const late = now - lastTick > 2 * PROBE_EVERY_MS;
    lastTick = now;
    if (closing || command.status !== 'ready' || late) return;
    if (probeSentAt !== 0) {
      if (now - probeSentAt > SILENT_AFTER_MS) silence();
      return;
    }
    probeSentAt = now;
    command.ping().then(
      () => {
        probeSentAt = 0;
        // Answered: every command sent while it was silent has had its answer too, so what waited may go.
        if (silent && command.status === 'ready') up();
      },
      () => {
        // Timed out, or the connection dropped (its own 'close' says so).
        probeSentAt = 0;
      },
    );
  }, PROBE_EVERY_MS);
  probe.unref();
  let everReady = false;
  const refuse = (why: string) => {
    closing = true;
    command.disconnect();
    subscriber.disconnect();
    onRefused(why);
  };
  command.on('error', (err: Error) => {
    if (closing) return;
    if (!everReady && isAuthRefusal(err.message)) return refuse(`Redis at ${safeUrl(url)} refused the credentials in --fleet (${err.message}): fix the user name or password in the URL`);
    // ioredis only reports a refused SELECT and goes on in database 0, another fleet's: at any (re)connect, stop before anything is written there.
    if (isDatabaseRefusal(err.message)) return refuse(`Redis at ${safeUrl(url)} has no database ${new URL(url).pathname.slice(1) || new URL(url).searchParams.get('db')} (it answered "${err.message}"), the database --fleet ${safeUrl(url)} names: use a database it has, or raise "databases" in its configuration`);
    down(redisWhy(err));
  });
  command.on('close', () => down('connection closed'));
  // The subscriber's errors are the same outage; a listener keeps them from being thrown.
  subscriber.on('error', () => undefined);
  command.on('ready', () => {
    probeSentAt = 0;
    up();
  });
  void command.connect().catch(() => undefined);
  void subscriber.connect().catch(() => undefined);
  return {
    command,
    subscriber,
    get ready() {
      return command.status === 'ready' && !silent;
    },
    get outage() {
      if (command.status === 'ready' && !silent) return null;
      // Not ready and not yet reported (the first attempt is still on its way): down since the start of this process's wait.
      return { since: downSince || Date.now(), why: downWhy || `connection ${command.status}` };
    },
    async run<T>(fn: (redis: Redis) => Promise<T>): Promise<T> {
      if (command.status !== 'ready') throw fleetUnavailable(url, new Error(`connection ${command.status}`));
      if (silent) throw fleetUnavailable(url, new Error(`no answer for ${SILENT_AFTER_MS / 1000} s or more`));
      try {
        return await fn(command);
      } catch (err) {
        // A command's own timeout is not taken as silence: after this process was busy, ioredis's timer can fire before the answer
        // waiting in the socket is read. The probe judges that (it skips a late tick).
        throw fleetUnavailable(url, err);
      }
    },
    async close() {
      closing = true;
      clearInterval(probe);
      // quit() waits for Redis; when it is down, disconnect() is all there is to do.
      await Promise.all([command, subscriber].map((c) => (c.status === 'ready' ? c.quit().then(() => undefined, () => c.disconnect()) : c.disconnect())));
    },
  };
}
