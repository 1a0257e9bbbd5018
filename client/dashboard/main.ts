// The operators' dashboard: the admin channel in a page. Modules with
// versions, hashes and call counts, the patch history with errors and code
// frames, players and tick time, all live; and a rollback button per module
// (recorded in the audit log like any other admin action).

import { PendingRequests } from '../requests.ts';
import { Charts } from './charts.ts';
import { formatWindow, parseVerifyWindow } from '../../server/patch/verify-window.ts';
import { PATCH_PUSH, type AdminActionName, type AdminActions, type AdminStatus, type PatchRecord } from '../../server/admin/protocol.ts';

// The admin protocol's own types (server/admin/protocol.ts): the page shows what the server sends.
type Status = AdminStatus;
type Module = Status['modules'][number];
type Record_ = PatchRecord;

/** The newest error among a module's hooks and handlers, as `tick: logic/x.ts:3:7 message`. */
function newestError(m: Module): string | undefined {
  const all = [...(m.hooks ?? []), ...m.handlers].filter((h) => h.lastError).sort((a, b) => b.lastError!.at.localeCompare(a.lastError!.at));
  const top = all[0];
  if (!top) return undefined;
  const e = top.lastError!;
  const where = e.location ? `${e.location.file}:${e.location.line}:${e.location.column} ` : '';
  return `last error in ${top.name.startsWith(m.name + '.') ? top.name.slice(m.name.length + 1) : top.name} at ${e.at.slice(11, 19)}: ${where}${e.code}: ${e.message}`;
}

const $ = (id: string) => document.getElementById(id)!;
const el = <K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, ...children: Array<Node | string>) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};

let socket: WebSocket | null = null;
const requests = new PendingRequests((e) => new Error(`${e.code}: ${e.message}`));
let history: Record_[] = [];

function request<A extends AdminActionName>(action: A, args: AdminActions[A]['args']): Promise<AdminActions[A]['reply']> {
  if (!socket || socket.readyState !== WebSocket.OPEN) return Promise.reject(new Error('not connected'));
  // Every request says it comes from the dashboard, reads too: the audit log names who looked, not "cli".
  const { frame, reply } = requests.start<AdminActions[A]['reply']>(action, { origin: 'dashboard', ...args });
  socket.send(JSON.stringify(frame));
  return reply;
}

function renderStatus(s: Status): void {
  $('players').textContent = `${s.players.connected} (${s.players.sessions} sessions)`;
  const stall = s.tick.lastStall ? `, last stall ${s.tick.lastStall.ms} ms (${s.tick.lastStall.cause})` : '';
  $('tick').textContent = `${s.tick.hz} Hz, avg ${s.tick.avgMs.toFixed(2)} ms, max ${s.tick.maxMs.toFixed(1)} ms, ${s.tick.overruns} overruns${stall}`;
  const skipped = [
    ...(s.skippedAtStart ?? []).map((k) => `${k.module} was left out at start: ${k.code}: ${k.message}`),
    // Where the live code (what a restart comes back on) differs from logic/ on disk.
    ...(s.liveCode?.drift ?? []),
    ...(s.liveCode?.error ? [`the live code could not be saved: ${s.liveCode.error}`] : []),
    // A running canary: both versions, and the split.
    ...(s.canary?.modules ?? []).map((m) => `canary: ${m.module} v${m.canary.version} serves ${Math.round(s.canary!.share * 1000) / 10}% of players, v${m.live?.version ?? '-'} the rest (window ${s.canary!.windowMs / 1000} s)`),
  ].join('\n');
  $('skipped').textContent = skipped;
  $('skipped').hidden = skipped === '';
  $('uptime').textContent = `${Math.floor(s.uptimeMs / 60000)}m ${Math.floor((s.uptimeMs % 60000) / 1000)}s`;
  $('memory').textContent = `${s.memory.rssMb} MB`;
  $('player-list').replaceChildren(
    ...s.players.list.map((p) => el('tr', {}, el('td', { textContent: p.player }), el('td', { className: p.online ? 'ok' : 'noop', textContent: p.online ? 'online' : 'reconnecting (grace)' }), el('td', { textContent: `since ${p.since.slice(11, 19)}` }))),
  );
  renderFleet(s.fleet);
  $('modules').replaceChildren(
    ...s.modules.map((m) => {
      const button = el('button', { textContent: 'roll back', title: `re-activate the previous version of ${m.name}` });
      button.dataset.module = m.name;
      button.disabled = !m.canRollback;
      if (!m.canRollback) button.title = 'no previous version';
      const hooks = (m.hooks ?? []).map((h) => `${h.name} (hook) ${h.calls}${h.errors ? ` / ${h.errors}` : ''}`);
      const handlers = [...hooks, ...m.handlers.map((h) => `${h.name.slice(m.name.length + 1)}${h.public ? '*' : ''} ${h.calls}${h.errors ? ` / ${h.errors}` : ''}`)].join(', ');
      const error = newestError(m);
      const cell = el('td', { className: 'handlers', textContent: handlers }, ...(error ? [el('div', { className: 'fail', textContent: error })] : []));
      const row = el('tr', {}, el('td', {}, el('b', { textContent: m.name })), el('td', { textContent: `v${m.version}` }), el('td', {}, el('code', { textContent: m.hash.slice(0, 10) })), cell, el('td', {}, button));
      row.dataset.module = m.name;
      return row;
    }),
  );
}

/** In a fleet: every node, its players, rooms and code, and in red where its code differs from the fleet's manifest. */
function renderFleet(f: Status['fleet']): void {
  $('fleet-section').hidden = !f;
  if (!f) return;
  const code = (c: Record<string, { version: number; hash: string }> | null) => (c ? Object.entries(c).sort(([a], [b]) => a.localeCompare(b)).map(([m, v]) => `${m} v${v.version} ${v.hash.slice(0, 8)}`).join(', ') : 'none recorded yet');
  // While the fleet's Redis is down, only this node is known: say so rather than show a fleet of one.
  const redis = f.redis;
  $('fleet-code').textContent = redis.up
    ? `the fleet's code: ${code(f.manifest)}${f.patching ? `; patch ${f.patching} under way` : ''}`
    : `the fleet's Redis is DOWN since ${new Date(redis.downSince).toISOString().slice(11, 19)} UTC (${redis.why}): the other nodes and the fleet's code are not known now`;
  $('fleet-code').className = redis.up ? 'handlers' : 'handlers fail';
  $('fleet').replaceChildren(
    ...f.nodes.map((n) =>
      el(
        'tr',
        {},
        el('td', {}, el('b', { textContent: n.id }), n.self ? ' (this node)' : ''),
        el('td', { textContent: String(n.players) }),
        el('td', { textContent: String(n.rooms) }),
        el('td', { className: 'handlers', textContent: code(n.code) }, ...n.differs.map((d) => el('div', { className: 'fail', textContent: `differs from the fleet: ${d}` }))),
      ),
    ),
  );
}

/** How each kind of verification outcome looks in the history: the item's class, its headline's class and word. */
const OUTCOME_LOOK: Record<string, { item: string; head: string; word?: string }> = {
  'auto-rollback': { item: 'auto-rollback', head: 'fail', word: 'AUTO-ROLLBACK' },
  confirm: { item: 'confirm', head: 'ok' },
  unverified: { item: 'unverified', head: 'warn', word: 'UNVERIFIED' },
  superseded: { item: 'superseded', head: 'noop' },
};

function renderHistory(): void {
  $('history').replaceChildren(
    ...history
      .slice()
      .reverse()
      .map((r) => {
        const result = r.ok ? (r.noop ? el('span', { className: 'noop', textContent: 'no change' }) : el('span', { className: 'ok', textContent: 'ok' })) : el('span', { className: 'fail', textContent: r.error!.code });
        const changed = r.modules.filter((m) => m.change !== 'unchanged').map((m) => `${m.module} v${m.oldVersion ?? '-'} → v${m.newVersion ?? '-'}`).join(', ');
        const item = el('div', { className: 'record' }, el('div', {}, `#${r.id} ${r.at.slice(11, 19)} ${r.kind} by ${r.by ?? r.origin} `, result, ` ${r.durationMs.toFixed(1)} ms `, changed));
        item.dataset.id = String(r.id);
        // A verification's outcome: an auto-rollback in red with its reason and figures, a confirm in green,
        // unverified (too few calls) in amber, superseded in grey; only a rollback's figures are drawn in red.
        const verify = r.verify && 'outcome' in r.verify ? r.verify : undefined;
        if (verify) {
          const figures = (f: typeof verify.new) => `${f.calls} calls${f.unanswered ? ` (${f.unanswered} never answered)` : ''}, ${f.errors} errors (${(f.errorRate * 100).toFixed(1)}%), p99 ${f.p99Ms} ms`;
          const look = OUTCOME_LOOK[r.kind] ?? OUTCOME_LOOK.superseded!;
          item.classList.add(look.item);
          item.append(
            el('div', { className: look.head, textContent: `${look.word ?? verify.outcome} of patch #${verify.patch} after ${verify.elapsedMs / 1000} s${verify.reason ? `: ${verify.reason}` : ''}` }),
            el('div', { className: r.kind === 'auto-rollback' ? 'errors' : 'figures', textContent: `new: ${figures(verify.new)}; previous: ${figures(verify.previous)}` }),
          );
          // Lifecycle hooks (a tick) are judged apart from the handlers: their runs, when there were any.
          const hooks = (h: NonNullable<typeof verify.hooks>['new']) => `${h.runs} runs, ${h.errors} errors (${(h.errorRate * 100).toFixed(1)}%)`;
          if (verify.hooks) item.append(el('div', { className: r.kind === 'auto-rollback' ? 'errors' : 'figures', textContent: `hooks new: ${hooks(verify.hooks.new)}; previous: ${hooks(verify.hooks.previous)}` }));
        } else if (r.verify && 'abandoned' in r.verify) {
          item.classList.add('abandoned');
          item.append(el('div', { className: 'fail', textContent: abandonedText(r, r.verify.patch) }));
        } else if (r.verify && r.ok && !r.noop) item.append(verificationState(r, r.verify.windowMs));
        if (r.error) item.append(el('div', { className: 'errors', textContent: r.error.message }), ...(r.error.frame ? [el('pre', { textContent: r.error.frame })] : []));
        return item;
      }),
  );
}

/**
 * Where a verified patch's verification stands: the record that decided it (a confirm, an auto-rollback, an
 * abandoned record after a stop) if the history has one, else still running, with when its window ends.
 */
function verificationState(r: Record_, windowMs: number): HTMLElement {
  const decided = history.find((d) => d.verify && 'patch' in d.verify && d.verify.patch === r.id);
  const what = r.canary !== undefined ? `canary (${Math.round(r.canary * 1000) / 10}% of players)` : 'verification';
  if (!decided) {
    const ends = new Date(Date.parse(r.at) + windowMs).toISOString().slice(11, 19);
    return el('div', { className: 'verifying', textContent: `${what} running: ${windowMs / 1000} s window, ends ${ends}` });
  }
  if (decided.kind === 'auto-rollback') return el('div', { className: 'fail', textContent: `${what}: rolled back by #${decided.id} (auto-rollback)` });
  if (decided.kind === 'unverified') return el('div', { className: 'warn', textContent: `${what}: UNVERIFIED by #${decided.id}, too few calls to judge${r.canary !== undefined ? ' (withdrawn, not promoted)' : ' (live)'}` });
  if (decided.kind === 'verify-abandoned' || decided.kind === 'canary-abandoned') return el('div', { className: 'fail', textContent: `${what}: cut short by a stop (#${decided.id})` });
  const outcome = decided.verify && 'outcome' in decided.verify ? decided.verify.outcome : decided.kind;
  return el('div', { className: outcome === 'confirmed' ? 'ok' : 'noop', textContent: `${what}: ${outcome} by #${decided.id}` });
}

/** A verification or canary a stop cut short (written at the next start), said as loudly as the server's log says it. */
function abandonedText(r: Record_, patch: number): string {
  const changed = r.modules.filter((m) => m.change !== 'unchanged');
  const names = changed.map((m) => `${m.module} v${m.newVersion ?? '-'}`).join(', ');
  if (r.kind === 'canary-abandoned') return `CANARY ABANDONED: the canary of patch #${patch} (${names}) was cut short by a stop before it was promoted; the live versions serve everyone`;
  return `VERIFICATION ABANDONED: patch #${patch} (${names}) was being verified when the server stopped; it stays live UNVERIFIED: watch it, or roll it back`;
}

/** Runs a patch or rollback from a button: disabled meanwhile, a refusal shown, the page refreshed after. */
async function fromButton(button: HTMLButtonElement, run: () => Promise<{ ok: boolean; error?: { code: string; message: string } }>): Promise<void> {
  button.disabled = true;
  try {
    const record = await run();
    if (!record.ok) alert(`${record.error!.code}: ${record.error!.message}`);
  } catch (err) {
    alert((err as Error).message);
  } finally {
    button.disabled = false;
    await refresh();
  }
}

function rollback(module: string, button: HTMLButtonElement): Promise<void> {
  return fromButton(button, () => request('rollback', { module, origin: 'dashboard' }));
}

/**
 * The verification the patch button asks for: a window when "verify" is ticked (the CLI's parser and bound, so the
 * server never refuses what the page took), none when it is not. Ticked with an empty or bad window is an error
 * shown beside the field, not a silent unverified patch.
 */
function verifyChoice(): { ms: number | undefined } | { error: string } {
  if (!($('verify-on') as HTMLInputElement).checked) return { ms: undefined };
  const parsed = parseVerifyWindow(($('verify-window') as HTMLInputElement).value);
  return 'error' in parsed ? { error: `the verification window ${parsed.error}; untick "verify" to patch without one` } : parsed;
}

function showVerifyChoice(): void {
  const choice = verifyChoice();
  $('verify-error').textContent = 'error' in choice ? choice.error : '';
  ($('verify-window') as HTMLInputElement).disabled = !($('verify-on') as HTMLInputElement).checked;
  $('patch-button').textContent = 'error' in choice ? 'patch from disk' : choice.ms ? `patch from disk, verified for ${formatWindow(choice.ms)}` : 'patch from disk, NOT verified';
}

/** Patches what changed on the server's disk, watched for the window chosen (or, untick "verify", not watched). */
async function patchFromDisk(button: HTMLButtonElement): Promise<void> {
  const choice = verifyChoice();
  if ('error' in choice) {
    showVerifyChoice();
    return;
  }
  await fromButton(button, () => request('patch', { origin: 'dashboard', ...(choice.ms ? { verify: choice.ms } : {}) }));
}
$('patch-button').addEventListener('click', (ev) => void patchFromDisk(ev.currentTarget as HTMLButtonElement));
$('verify-on').addEventListener('change', showVerifyChoice);
$('verify-window').addEventListener('input', showVerifyChoice);
showVerifyChoice();

const charts = new Charts($('charts'), () => history);

async function refresh(): Promise<void> {
  renderStatus(await request('status', {}));
  charts.render(await request('series', {}));
}

function open(token: string): void {
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/?token=${encodeURIComponent(token)}`);
  socket = ws;
  ws.onopen = async () => {
    sessionStorage.setItem('rebind.admin', token);
    $('login').hidden = true;
    $('board').hidden = false;
    $('conn').textContent = 'live';
    history = await request('history', { n: 50 });
    renderHistory();
    await refresh();
  };
  ws.onmessage = (ev) => {
    const incoming = requests.receive(JSON.parse(String(ev.data)) as unknown[]);
    if (incoming.kind === 'push' && incoming.event === PATCH_PUSH) {
      history.push(incoming.payload as Record_);
      renderHistory();
      void refresh();
    }
  };
  ws.onclose = () => {
    $('conn').textContent = 'disconnected, retrying…';
    if ($('board').hidden) {
      $('login-error').textContent = 'the server refused the token (or is not running)';
      sessionStorage.removeItem('rebind.admin');
      return;
    }
    setTimeout(() => open(token), 1000);
  };
}

setInterval(() => {
  if (socket?.readyState === WebSocket.OPEN) void refresh().catch(() => undefined);
}, 1000);

// One listener for every rollback button: the table is re-rendered every second.
$('modules').addEventListener('click', (e) => {
  const button = (e.target as HTMLElement).closest('button');
  if (button?.dataset.module && !button.disabled) void rollback(button.dataset.module, button);
});

$('login-form').addEventListener('submit', (e) => {
  e.preventDefault();
  open((document.getElementById('token') as HTMLInputElement).value.trim());
});
const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
const saved = fromHash ?? sessionStorage.getItem('rebind.admin');
// Keep the token out of the address bar once it has been read.
if (fromHash) window.history.replaceState(null, '', location.pathname);
if (saved) open(saved);
