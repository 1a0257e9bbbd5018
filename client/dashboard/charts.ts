import uPlot from 'uplot';
import css from 'uplot/dist/uPlot.min.css';
import type { AdminActions, PatchRecord } from '../../server/admin/protocol.ts';
import { isolatedPoints, labelRows } from './chart-layout.ts';

// The dashboard's charts, drawn by uPlot: calls/s, errors/s and p99 per
// module version, tick time, and players, over the last few minutes, with a
// vertical marker at every patch, rollback and verification outcome. A point
// with no neighbour (a version rolled back after one sample) is drawn as a
// dot: uPlot draws no line for a single point between gaps.

type Point = AdminActions['series']['reply'][number];

const style = document.createElement('style');
style.textContent = css;
document.head.append(style);

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2'];
const MARKERS: Record<string, string> = { patch: '#1a7f37', rollback: '#ff7f0e', 'auto-rollback': '#c62828', confirm: '#1f77b4', unverified: '#b26a00', superseded: '#889', restore: '#889' };
/** Outcomes that changed nothing are dashed: the code stayed as it was. */
const DASHED = new Set(['confirm', 'unverified', 'superseded']);

interface ChartSpec {
  id: string;
  title: string;
  unit: string;
  /** Per module version (one line each), or one line for the whole server. */
  perVersion?: (v: Point['versions'][number]) => number;
  whole?: Array<{ label: string; value: (p: Point) => number }>;
}

const SPECS: ChartSpec[] = [
  { id: 'chart-calls', title: 'calls/s', unit: '/s', perVersion: (v) => v.calls },
  { id: 'chart-errors', title: 'errors/s', unit: '/s', perVersion: (v) => v.errors },
  { id: 'chart-p99', title: 'p99 latency', unit: 'ms', perVersion: (v) => v.p99Ms },
  // Apart: players in the hundreds would flatten a tick of a few ms to zero on one axis.
  { id: 'chart-tick', title: 'tick time', unit: 'ms', whole: [{ label: 'tick ms', value: (p) => p.tickMs }] },
  { id: 'chart-players', title: 'players', unit: '', whole: [{ label: 'players', value: (p) => p.players }] },
];

/** A uPlot plugin that draws a labelled vertical line at each patch record's time. */
function markers(records: () => PatchRecord[]): uPlot.Plugin {
  return {
    hooks: {
      draw: (u) => {
        const ctx = u.ctx;
        const [from, to] = [u.scales.x!.min!, u.scales.x!.max!];
        ctx.save();
        ctx.font = `${11 * devicePixelRatio}px system-ui`;
        const shown = records()
          .map((r) => ({ r, t: Date.parse(r.at) / 1000 }))
          .filter(({ r, t }) => t >= from && t <= to && !(r.noop && r.kind === 'patch'))
          .sort((a, b) => a.t - b.t)
          .map(({ r, t }) => ({ r, x: u.valToPos(t, 'x', true), text: `#${r.id} ${r.kind}` }));
        const rowHeight = 13 * devicePixelRatio;
        const pad = 3 * devicePixelRatio;
        // Right of its line, or left of it where it would leave the plot; uPlot's axes leave textAlign as they like.
        ctx.textAlign = 'left';
        const spans = shown.map((m) => {
          const width = ctx.measureText(m.text).width;
          const start = m.x + pad + width > u.bbox.left + u.bbox.width ? m.x - pad - width : m.x + pad;
          return { ...m, start, width };
        });
        spans.sort((a, b) => a.start - b.start);
        // A patch and its auto-rollback 0.1 s later must not overwrite each other: each label gets a free row.
        const rows = labelRows(spans.map((m) => ({ x: m.start, width: m.width })), Math.max(1, Math.floor(u.bbox.height / rowHeight)));
        spans.forEach(({ r, x, text, start }, i) => {
          ctx.strokeStyle = ctx.fillStyle = MARKERS[r.kind] ?? '#889';
          ctx.lineWidth = 2 * devicePixelRatio;
          ctx.setLineDash(DASHED.has(r.kind) ? [4 * devicePixelRatio, 4 * devicePixelRatio] : []);
          ctx.beginPath();
          ctx.moveTo(x, u.bbox.top);
          ctx.lineTo(x, u.bbox.top + u.bbox.height);
          ctx.stroke();
          ctx.fillText(text, start, u.bbox.top + 12 * devicePixelRatio + rows[i]! * rowHeight);
        });
        ctx.restore();
      },
    },
  };
}

export class Charts {
  private readonly plots = new Map<string, { plot: uPlot; keys: string[] }>();

  constructor(
    private readonly container: HTMLElement,
    private readonly records: () => PatchRecord[],
  ) {}

  render(points: Point[]): void {
    const xs = points.map((p) => p.t);
    const keys = [...new Set(points.flatMap((p) => p.versions.map((v) => v.key)))].sort();
    for (const spec of SPECS) {
      const lines = spec.perVersion
        ? keys.map((key) => ({ label: key, values: points.map((p) => { const v = p.versions.find((x) => x.key === key); return v ? spec.perVersion!(v) : null; }) }))
        : spec.whole!.map((w) => ({ label: w.label, values: points.map(w.value) }));
      const data = [xs, ...lines.map((l) => l.values)] as uPlot.AlignedData;
      const existing = this.plots.get(spec.id);
      const labels = lines.map((l) => l.label);
      // A new module version is a new line: uPlot's series are fixed, so the chart is made again.
      if (existing && existing.keys.join() === labels.join()) {
        existing.plot.setData(data);
        continue;
      }
      existing?.plot.destroy();
      let holder = document.getElementById(spec.id);
      if (!holder) {
        holder = document.createElement('div');
        holder.id = spec.id;
        holder.className = 'chart';
        this.container.append(holder);
      }
      const width = Math.max(300, holder.clientWidth || this.container.clientWidth / 2 - 20);
      const plot = new uPlot(
        {
          title: spec.title,
          width,
          height: 180,
          plugins: [markers(this.records)],
          scales: { x: { time: true } },
          axes: [{}, { label: spec.unit, size: 50 }],
          series: [
            {},
            ...lines.map((l, i) => ({
              label: l.label,
              stroke: COLOURS[i % COLOURS.length],
              width: 2,
              spanGaps: false,
              points: { show: true, size: 7, fill: COLOURS[i % COLOURS.length], filter: (u: uPlot, s: number) => isolatedPoints(u.data[s] as Array<number | null>) },
            })),
          ],
        },
        data,
        holder,
      );
      this.plots.set(spec.id, { plot, keys: labels });
    }
  }
}
