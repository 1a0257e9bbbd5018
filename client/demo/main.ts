import { RebindClient, RebindClientError, type CodeVersions } from 'rebind/client';

// The demo arena in a browser: draws the room's replica, sends movement
// intents, chats, and shows each module's code version, so a patch is seen
// landing without a reload. A page reload or a dropped connection resumes
// the same player with the token kept in sessionStorage.

interface Player { name: string; x: number; y: number; score: number; color: string; online: boolean }
interface Item { x: number; y: number; kind: 'gem' | 'star' }
interface World { width: number; height: number; chat: Array<{ at: number; from: string; text: string }>; leaderboard: Array<{ name: string; score: number }> }

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const canvas = $<HTMLCanvasElement>('arena');
const g = canvas.getContext('2d')!;
const client = new RebindClient(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`, { backoffMs: [200, 2000] });
let versions: CodeVersions = {};
/** How far this player sees (arena.info, asked again after each patch): the server sends only the players within it. */
let viewRadius = 0;
const freshUntil = new Map<string, number>();

function setStatus(text: string, down = false): void {
  const el = $('status');
  el.textContent = text;
  el.className = down ? 'down' : '';
}

function showVersions(next: CodeVersions): void {
  for (const [name, v] of Object.entries(next)) {
    if (versions[name] && versions[name]!.hash !== v.hash) freshUntil.set(name, Date.now() + 4000);
  }
  versions = next;
  const box = $('versions');
  box.replaceChildren(
    ...Object.entries(versions).map(([name, v]) => {
      const span = document.createElement('span');
      span.className = 'badge' + ((freshUntil.get(name) ?? 0) > Date.now() ? ' fresh' : '');
      span.dataset.module = name;
      span.textContent = `${name} v${v.version} ${v.hash.slice(0, 6)}`;
      return span;
    }),
  );
}

function draw(): void {
  const players = client.state<Record<string, Player>>('arena', 'players') ?? {};
  const items = client.state<Record<string, Item>>('arena', 'items') ?? {};
  const world = client.state<World>('arena', 'world');
  g.fillStyle = '#0d0f14';
  g.fillRect(0, 0, canvas.width, canvas.height);
  g.font = '16px sans-serif';
  g.textAlign = 'center';
  for (const item of Object.values(items)) {
    g.fillStyle = item.kind === 'star' ? '#ffd84a' : '#5ad1ff';
    g.fillText(item.kind === 'star' ? '★' : '◆', item.x, item.y + 6);
  }
  g.font = '12px sans-serif';
  for (const [id, p] of Object.entries(players)) {
    g.globalAlpha = p.online ? 1 : 0.35;
    g.fillStyle = p.color;
    g.beginPath();
    g.arc(p.x, p.y, id === client.player ? 11 : 9, 0, Math.PI * 2);
    g.fill();
    if (id === client.player) {
      g.strokeStyle = '#fff';
      g.lineWidth = 2;
      g.stroke();
    }
    g.fillStyle = '#ddd';
    g.fillText(`${p.name} ${p.score}`, p.x, p.y - 15);
  }
  g.globalAlpha = 1;
  const me = client.player ? players[client.player] : undefined;
  if (me && viewRadius > 0) {
    g.strokeStyle = 'rgba(140, 200, 255, 0.35)';
    g.lineWidth = 1;
    g.setLineDash([6, 6]);
    g.beginPath();
    g.arc(me.x, me.y, viewRadius, 0, Math.PI * 2);
    g.stroke();
    g.setLineDash([]);
  }
  const seen = Object.keys(players).length;
  $('inview').textContent = viewRadius > 0 ? `${seen} player${seen === 1 ? '' : 's'} within ${viewRadius} px: the server sends you only these` : `${seen} players: everyone sees everyone`;
  if (world) {
    $('leaderboard').replaceChildren(...world.leaderboard.map((r) => Object.assign(document.createElement('li'), { textContent: `${r.name} — ${r.score}` })));
    const chat = $('chat');
    if (chat.childElementCount !== world.chat.length || chat.lastElementChild?.textContent !== lineText(world.chat.at(-1))) {
      chat.replaceChildren(
        ...world.chat.map((l) => {
          const li = document.createElement('li');
          const from = Object.assign(document.createElement('span'), { className: 'from', textContent: `${l.from}: ` });
          li.append(from, l.text);
          return li;
        }),
      );
      chat.scrollTop = chat.scrollHeight;
    }
  }
  requestAnimationFrame(draw);
}

function lineText(l: World['chat'][number] | undefined): string {
  return l ? `${l.from}: ${l.text}` : '';
}

// Movement: the intent follows the keys held down.
const held = new Set<string>();
let intent = '0,0';
function steer(): void {
  const dx = (held.has('ArrowRight') || held.has('d') ? 1 : 0) - (held.has('ArrowLeft') || held.has('a') ? 1 : 0);
  const dy = (held.has('ArrowDown') || held.has('s') ? 1 : 0) - (held.has('ArrowUp') || held.has('w') ? 1 : 0);
  const next = `${dx},${dy}`;
  if (next === intent || !client.player) return;
  intent = next;
  client.call('arena.move', { dx, dy }).catch(() => undefined);
}
addEventListener('keydown', (e) => {
  if (document.activeElement?.tagName === 'INPUT') return;
  held.add(e.key.length === 1 ? e.key.toLowerCase() : e.key);
  steer();
});
addEventListener('keyup', (e) => {
  held.delete(e.key.length === 1 ? e.key.toLowerCase() : e.key);
  steer();
});
addEventListener('blur', () => {
  held.clear();
  steer();
});

async function enter(name: string): Promise<void> {
  await client.connect();
  const token = sessionStorage.getItem('rebind.token');
  try {
    if (token) await client.resume(token);
    else await client.join({ name });
  } catch (err) {
    if ((err as RebindClientError).code !== 'RESUME_FAILED') throw err;
    await client.join({ name });
  }
  sessionStorage.setItem('rebind.name', name);
  remember();
  $('join').hidden = true;
  $('game').hidden = false;
  setStatus(`playing as ${client.player}`);
  showVersions(await client.call('$versions'));
  await learnRadius();
}

async function learnRadius(): Promise<void> {
  viewRadius = (await client.call('arena.info')).viewRadius ?? 0;
}

function remember(): void {
  if (client.token) sessionStorage.setItem('rebind.token', client.token);
}

client.on('$versions', (v: CodeVersions) => {
  showVersions(v);
  learnRadius().catch(() => undefined);
});
client.on('close', () => setStatus('connection lost, reconnecting…', true));
client.on('resumed', () => {
  remember();
  setStatus(`resumed as ${client.player}`);
  void client.call('$versions').then(showVersions);
});
client.on('rejoined', () => {
  remember();
  setStatus(`joined again as ${client.player}`);
});
client.on('picked', (p: { kind: string; points: number }) => setStatus(`+${p.points} (${p.kind})`));

$<HTMLFormElement>('join-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const name = $<HTMLInputElement>('name').value.trim();
  enter(name).catch((err: Error) => ($('join-error').textContent = err.message));
});
$<HTMLFormElement>('say').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = $<HTMLInputElement>('text');
  const text = input.value;
  input.value = '';
  client.call('chat.say', { text }).catch((err: RebindClientError) => setStatus(`${err.code}: ${err.message}`, true));
});

// For tests and the curious: the live client.
(globalThis as { rebindDemo?: unknown }).rebindDemo = { client, versions: () => versions };
const saved = sessionStorage.getItem('rebind.name');
if (saved) enter(saved).catch(() => sessionStorage.removeItem('rebind.token'));
requestAnimationFrame(draw);
