// `npm run bench`: every figure beside a baseline measured in the same run.
// REBIND_BENCH_QUICK=1 shortens the runs (for a smoke check, not for figures).
import { benchArena } from './arena.ts';
import { benchCli } from './cli.ts';
import { benchEngine } from './engine.ts';
import { benchFleet } from './fleet.ts';
import { benchFleetMessages } from './fleet-messages.ts';
import { benchLists } from './lists.ts';
import { benchMetrics } from './metrics.ts';
import { benchNet } from './net.ts';
import { benchPersist } from './persist.ts';
import { benchSave } from './save.ts';
import { benchStore } from './store.ts';
import { printTable, type Row } from './table.ts';

const SECTIONS = ['net', 'arena', 'metrics', 'engine', 'store', 'persist', 'lists', 'save', 'fleet', 'fleet-messages', 'cli'];
const only = process.argv[2];
if (only === '--help' || only === '-h' || (only !== undefined && !SECTIONS.includes(only)) || process.argv.length > 3) {
  const wrong = only === '--help' || only === '-h' ? '' : `npm run bench: unknown section ${JSON.stringify(process.argv.slice(2).join(' '))}\n\n`;
  process[wrong ? 'stderr' : 'stdout'].write(`${wrong}usage: npm run bench [-- SECTION]

Runs every benchmark, or one section, and prints each figure beside a baseline measured in the same run.
Sections: ${SECTIONS.join(', ')}
REBIND_BENCH_QUICK=1 shortens the runs (a smoke check, not figures).
`);
  process.exit(wrong ? 2 : 0);
}
process.env.REBIND_LOG ??= 'error';
const quick = process.env.REBIND_BENCH_QUICK === '1';
const rows: Row[] = [];
const step = (name: string) => process.stderr.write(`bench: ${name}...\n`);

// The network runs first, while this process (the load generator) holds no garbage from the others.
if (!only || only === 'net') {
  step('network (child processes)');
  rows.push(...(await benchNet(quick ? 2 : 8)));
}
if (!only || only === 'arena') {
  step('arena sync at 100, 500 and 1,000 players, compact delta beside Colyseus (3 interleaved rounds) and immer patches (child processes)');
  rows.push(...(await benchArena(quick ? 2 : 5, quick ? [100] : [100, 500, 1000], quick ? 1 : 3)));
}
if (!only || only === 'metrics') {
  step('metrics on the message path (child processes)');
  rows.push(...(await benchMetrics(quick ? 2 : 8)));
}
if (!only || only === 'engine') {
  step('patch engine');
  rows.push(...(await benchEngine(quick ? 300 : 2000)));
}
if (!only || only === 'store') {
  step('stores');
  rows.push(...benchStore());
}
if (!only || only === 'persist') {
  step('persistence');
  rows.push(...(await benchPersist(quick)));
}
if (!only || only === 'lists') {
  step('lists that grow at one end (chat log)');
  rows.push(...(await benchLists(quick)));
}
if (!only || only === 'save') {
  step('save to live (file watcher)');
  rows.push(...(await benchSave(quick ? 3 : 10)));
}
if (!only || only === 'fleet') {
  step('fleet patch (3 node processes on a redis-server)');
  rows.push(...(await benchFleet(quick ? 5 : 20)));
}
if (!only || only === 'fleet' || only === 'fleet-messages') {
  step('fleet messages (3 node processes on a redis-server, players on sockets)');
  rows.push(...(await benchFleetMessages(quick)));
}
if (!only || only === 'cli') {
  step('cli start-up (child processes)');
  rows.push(...(await benchCli(10)));
}
process.stdout.write(`\nrebind benchmarks (node ${process.version}, ${new Date().toISOString()})\n\n${printTable(rows)}\n`);
process.exit(0);
