import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { collectDefaultMetrics, Counter, Registry } from 'prom-client';
import { pushCounters } from '../net/codec.ts';
import type { PatchRecord } from '../patch/history.ts';
import type { GameServer } from '../server.ts';
import { realDisk } from '../store/io.ts';
import { CallStats, LATENCY_BUCKETS_MS } from './call-stats.ts';

// GET /metrics on the admin listener, in Prometheus text format. Nothing on
// the message path calls prom-client: the server counts in plain fields
// (call-stats.ts, the gateway's and the tick loop's stats, codec's push
// counters, the Disk's observer) and each metric below reads them when
// Prometheus scrapes. Only patches, which are rare, count through prom-client.

type Labels = Record<string, string | number>;
interface Sample {
  labels: Labels;
  value: number;
  metricName?: string;
}

/** A metric whose values are read from plain counters at scrape time. */
function scraped(registry: Registry, name: string, help: string, type: 'counter' | 'gauge' | 'histogram', read: () => Sample[]): void {
  const metric = {
    name,
    help,
    type,
    aggregator: 'sum' as const,
    get: async () => ({ name, help, type, aggregator: 'sum', values: read() }),
    reset: () => undefined,
  };
  registry.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0]);
}

/** The samples of one histogram (cumulative buckets, in seconds) from a CallStats. */
function histogram(name: string, stats: CallStats, labels: Labels): Sample[] {
  const out: Sample[] = [];
  let cumulative = 0;
  for (let i = 0; i < stats.buckets.length; i++) {
    cumulative += stats.buckets[i]!;
    const le = i < LATENCY_BUCKETS_MS.length ? String(LATENCY_BUCKETS_MS[i]! / 1000) : '+Inf';
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le }, value: cumulative });
  }
  out.push({ metricName: `${name}_sum`, labels, value: stats.sumMs / 1000 });
  out.push({ metricName: `${name}_count`, labels, value: stats.calls });
  return out;
}

const HOOKS = ['init', 'dispose', 'tick'];
const SESSION_HOOKS = ['auth', 'join', 'drop', 'resume', 'leave', 'arrived'];

/** The admin port's per-address backoff and audit of wrong tokens (AdminServer.refused / accepted). */
export interface MetricsGate {
  refused?: (req: IncomingMessage, why: string) => Promise<void>;
  accepted?: (req: IncomingMessage) => void;
}

/**
 * prom-client's text as the exposition format spells it. A window in which the event loop probe
 * never fired (a scrape within 10 ms of the previous one) comes out as mean "Nan", min 2^63 ns and
 * max 0: every figure of such a window is said as NaN, which is what it is.
 */
export function conformingText(text: string): string {
  const fixed = text.replace(/ Nan$/gm, ' NaN');
  if (!/^nodejs_eventloop_lag_mean_seconds NaN$/m.test(fixed)) return fixed;
  return fixed.replace(/^(nodejs_eventloop_lag_(?:min|max|stddev|p50|p90|p99)_seconds) .*$/gm, '$1 NaN');
}

export class Metrics {
  readonly registry = new Registry();
  private readonly diskWrites = new CallStats('write', 'data', 0);
  private readonly diskSyncs = new CallStats('fsync', 'data', 0);
  private diskBytes = 0;
  private readonly patches: Counter;

  constructor(server: GameServer, sessionModule = 'session') {
    const { registry } = this;
    const host = server.host;
    // Process metrics and the event loop's delay (nodejs_eventloop_lag_*), from prom-client. Its probe
    // stays at prom-client's 10 ms: Node counts the probe's interval in the delay it reports, so a
    // coarser probe would raise the figures of an idle server (10 ms at 10 ms, 50 at 50) and trip alerts.
    collectDefaultMetrics({ register: registry });

    const byVersion = () => [...host.dispatcher.callStats.all()].map((s) => ({ s, labels: { handler: s.handler, module: s.module, version: s.version } }));
    scraped(registry, 'rebind_handler_calls_total', 'Handler calls, per handler and module version', 'counter', () => byVersion().map(({ s, labels }) => ({ labels, value: s.calls })));
    scraped(registry, 'rebind_handler_errors_total', 'Handler calls that threw, per handler and module version', 'counter', () => byVersion().map(({ s, labels }) => ({ labels, value: s.errors })));
    // Calls started = calls_total + calls_in_flight: an async call is counted in calls_total when it answers, and until then here (one that never answers stays here).
    scraped(registry, 'rebind_handler_calls_in_flight', 'Async handler calls started and not answered yet, per handler and module version', 'gauge', () => byVersion().map(({ s, labels }) => ({ labels, value: s.inFlight.size })));
    scraped(registry, 'rebind_handler_duration_seconds', 'Handler run time (to the settled promise for async handlers)', 'histogram', () => byVersion().flatMap(({ s, labels }) => histogram('rebind_handler_duration_seconds', s, labels)));

    const hookStats = () =>
      [...host.dispatcher.stats].flatMap(([name, stats]) => {
        const dot = name.lastIndexOf('.');
        const module = name.slice(0, dot);
        const hook = name.slice(dot + 1);
        const isHook = HOOKS.includes(hook) || (module === sessionModule && SESSION_HOOKS.includes(hook));
        return isHook ? [{ labels: { module, hook }, stats }] : [];
      });
    scraped(registry, 'rebind_hook_calls_total', 'Lifecycle hook runs (init, dispose, tick, session hooks)', 'counter', () => hookStats().map(({ labels, stats }) => ({ labels, value: stats.calls })));
    scraped(registry, 'rebind_hook_errors_total', 'Lifecycle hook runs that threw', 'counter', () => hookStats().map(({ labels, stats }) => ({ labels, value: stats.errors })));

    const tick = () => server.tick.stats;
    scraped(registry, 'rebind_ticks_total', 'Simulation ticks run', 'counter', () => [{ labels: {}, value: tick().ticks }]);
    scraped(registry, 'rebind_tick_overruns_total', 'Ticks over their period, or started late', 'counter', () => [{ labels: {}, value: tick().overruns }]);
    scraped(registry, 'rebind_tick_duration_seconds', 'Run time of each tick (logic ticks and state sync)', 'histogram', () => histogram('rebind_tick_duration_seconds', server.tickTimes, {}));
    scraped(registry, 'rebind_tick_seconds', 'Tick run time: the last, the average and the maximum', 'gauge', () => [
      { labels: { stat: 'last' }, value: tick().lastMs / 1000 },
      { labels: { stat: 'avg' }, value: tick().avgMs / 1000 },
      { labels: { stat: 'max' }, value: tick().maxMs / 1000 },
    ]);

    scraped(registry, 'rebind_connections', 'Open WebSocket connections on the game port', 'gauge', () => [{ labels: {}, value: server.gateway.connectionCount }]);
    scraped(registry, 'rebind_sessions', 'Player sessions (connected, or waiting for a resume)', 'gauge', () => [
      { labels: { state: 'connected' }, value: server.gateway.sessions.connected() },
      { labels: { state: 'all' }, value: server.gateway.sessions.size },
    ]);
    scraped(registry, 'rebind_rooms', 'Rooms, and their members', 'gauge', () => {
      const rooms = server.gateway.rooms.stats();
      return [
        { labels: { what: 'rooms' }, value: rooms.rooms },
        { labels: { what: 'members' }, value: rooms.members },
      ];
    });
    scraped(registry, 'rebind_client_messages_total', 'Requests received from clients', 'counter', () => [{ labels: {}, value: server.gateway.stats.messages }]);
    scraped(registry, 'rebind_push_messages_total', 'Pushes sent to clients: kind=sync is state sync ($state, $patch)', 'counter', () => [
      { labels: { kind: 'sync' }, value: pushCounters.syncMessages },
      { labels: { kind: 'other' }, value: pushCounters.otherMessages },
    ]);
    scraped(registry, 'rebind_push_bytes_total', 'Bytes of pushes sent to clients', 'counter', () => [
      { labels: { kind: 'sync' }, value: pushCounters.syncBytes },
      { labels: { kind: 'other' }, value: pushCounters.otherBytes },
    ]);

    // On a fleet (--fleet): read from the node at scrape time; nothing without one.
    const fleet = () => (server.fleet ? [server.fleet] : []);
    scraped(registry, 'rebind_fleet_redis_up', "1 while this node's connection to the fleet's Redis is ready, 0 while it is down", 'gauge', () => fleet().map((n) => ({ labels: {}, value: n.connected ? 1 : 0 })));
    scraped(registry, 'rebind_fleet_nodes_live', 'Nodes live at the last heartbeat, this one included', 'gauge', () => fleet().map((n) => ({ labels: {}, value: n.peers().length })));
    scraped(registry, 'rebind_fleet_messages_total', 'Messages between nodes through Redis pub/sub (pushes, calls, patch steps, replies)', 'counter', () =>
      fleet().flatMap((n) => [
        { labels: { direction: 'sent' }, value: n.bus.counts.sent },
        { labels: { direction: 'received' }, value: n.bus.counts.received },
      ]),
    );
    scraped(registry, 'rebind_fleet_pushes_lost_total', 'ctx.send/ctx.broadcast pushes for other nodes that were lost (held past the bounds of a Redis outage, or the target node gone)', 'counter', () => fleet().map((n) => ({ labels: {}, value: n.lostPushes.total })));
    scraped(registry, 'rebind_fleet_pushes_held', 'Pushes for other nodes held now, waiting for Redis to be back', 'gauge', () => fleet().map((n) => ({ labels: {}, value: n.lostPushes.held() })));
    scraped(registry, 'rebind_fleet_pushes_delivered_late_total', 'Pushes for other nodes held during a Redis outage and delivered after it', 'counter', () => fleet().map((n) => ({ labels: {}, value: n.lostPushes.late })));

    // The journal's and the snapshots' writes and fsyncs (one Disk serves both).
    realDisk.observer = (op, ms, bytes) => {
      if (op === 'write') {
        this.diskWrites.record(ms, false);
        this.diskBytes += bytes;
      } else this.diskSyncs.record(ms, false);
    };
    scraped(registry, 'rebind_journal_write_seconds', 'Time of each write to the journal or a snapshot', 'histogram', () => histogram('rebind_journal_write_seconds', this.diskWrites, {}));
    scraped(registry, 'rebind_journal_fsync_seconds', 'Time of each fsync of the journal or a snapshot', 'histogram', () => histogram('rebind_journal_fsync_seconds', this.diskSyncs, {}));
    scraped(registry, 'rebind_journal_bytes_total', 'Bytes written to the journal and snapshots', 'counter', () => [{ labels: {}, value: this.diskBytes }]);

    this.patches = new Counter({ name: 'rebind_patches_total', help: 'Patches, rollbacks and restores, by who asked and how they ended', labelNames: ['kind', 'origin', 'result'], registers: [registry] });
    // This process's start (made before the metrics exist); not the records read back from earlier runs.
    for (const record of host.engine.history.list()) if (Date.parse(record.at) >= performance.timeOrigin - 1000) this.count(record);
    host.engine.history.onRecord((record) => this.count(record));
  }

  private count(record: PatchRecord): void {
    this.patches.inc({ kind: record.kind, origin: record.origin, result: !record.ok ? 'refused' : record.noop ? 'noop' : 'ok' });
  }

  /** Answers GET /metrics when the request carries the admin token as a Bearer token; false for any other path. */
  handler(token: string, gate: MetricsGate = {}): (req: IncomingMessage, res: ServerResponse, url: URL) => boolean {
    const expected = Buffer.from(token);
    return (req, res, url) => {
      if (url.pathname !== '/metrics') return false;
      // The scheme is case-insensitive (RFC 9110): "bearer x" is "Bearer x".
      const given = Buffer.from(/^bearer\s+(.*)$/is.exec(req.headers.authorization ?? '')?.[1]?.trim() ?? '');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        const answer = () => {
          if (res.destroyed || res.writableEnded) return;
          res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer' });
          res.end('the admin token is needed: Authorization: Bearer <token>\n');
        };
        // The admin port's backoff and audit: a wrong token here costs as much as on the admin socket.
        if (gate.refused) gate.refused(req, 'bad token for GET /metrics').then(answer, answer);
        else answer();
        return true;
      }
      gate.accepted?.(req);
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET' });
        res.end();
        return true;
      }
      this.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': this.registry.contentType });
          res.end(conformingText(text));
        },
        (err: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(`metrics failed: ${(err as Error).message}\n`);
        },
      );
      return true;
    };
  }
}
