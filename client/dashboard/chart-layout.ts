// Where the dashboard's charts put what uPlot does not place by itself: dots
// for points a line cannot show, and rows for marker labels. Plain functions,
// apart from charts.ts (which loads uPlot and its CSS), so they can be tested
// without a browser.

/** Indexes of the points of a series that have no neighbour (a line needs two): these get a dot. */
export function isolatedPoints(values: ReadonlyArray<number | null | undefined>): number[] {
  const has = (i: number) => values[i] !== null && values[i] !== undefined;
  const out: number[] = [];
  for (let i = 0; i < values.length; i++) if (has(i) && !has(i - 1) && !has(i + 1)) out.push(i);
  return out;
}

/**
 * Rows for marker labels so that none overlaps another: each label takes the first row whose last label ends left
 * of it (x and width in pixels, in time order). Past `rows` rows, the least recently used row is reused.
 */
export function labelRows(labels: ReadonlyArray<{ x: number; width: number }>, rows: number, gap = 4): number[] {
  const ends: number[] = [];
  return labels.map(({ x, width }) => {
    let row = ends.findIndex((end) => end + gap <= x);
    if (row < 0) row = ends.length < rows ? ends.length : ends.indexOf(Math.min(...ends));
    ends[row] = x + width;
    return row;
  });
}
