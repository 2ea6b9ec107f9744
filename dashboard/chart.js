/* global uPlot, ResizeObserver, getComputedStyle, document */
// The selected session's chart: rolling score and window score over window end (event time),
// y fixed to the score range [-3, 3], the neutral band shaded behind the lines.

const Y_MIN = -3;
const Y_MAX = 3;

export function createScoreChart(container, { neutralBand = 0.5 } = {}) {
  let band = neutralBand;
  const css = getComputedStyle(document.documentElement);
  const color = (name, fallback) => css.getPropertyValue(name).trim() || fallback;

  const shadeNeutralBand = (u) => {
    const { ctx } = u;
    const { left, width } = u.bbox;
    const top = u.valToPos(band, 'y', true);
    const bottom = u.valToPos(-band, 'y', true);
    ctx.save();
    ctx.fillStyle = color('--neutral-band', 'rgba(120,120,120,0.15)');
    ctx.fillRect(left, top, width, bottom - top);
    ctx.strokeStyle = color('--zero-line', 'rgba(120,120,120,0.6)');
    ctx.lineWidth = 1;
    const zero = Math.round(u.valToPos(0, 'y', true)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(left, zero);
    ctx.lineTo(left + width, zero);
    ctx.stroke();
    ctx.restore();
  };

  const size = () => ({ width: Math.max(280, container.clientWidth), height: Math.max(220, Math.min(360, container.clientWidth * 0.45)) });
  const plot = new uPlot(
    {
      ...size(),
      scales: { x: { time: true }, y: { auto: false, range: [Y_MIN, Y_MAX] } },
      axes: [{}, { values: (_u, ticks) => ticks.map((t) => (t > 0 ? `+${t}` : `${t}`)), splits: () => [-3, -2, -1, 0, 1, 2, 3] }],
      series: [
        { label: 'window end' },
        { label: 'rolling score', stroke: color('--series-rolling', '#1f5fbf'), width: 2.5, value: (_u, v) => (v == null ? '–' : v.toFixed(2)) },
        { label: 'window score', stroke: color('--series-window', '#999'), width: 1, dash: [4, 3], points: { show: false }, value: (_u, v) => (v == null ? '–' : v.toFixed(2)) },
      ],
      hooks: { drawClear: [shadeNeutralBand] },
      legend: { live: true },
    },
    [[], [], []],
    container,
  );
  new ResizeObserver(() => plot.setSize(size())).observe(container);

  return {
    /** Shows these scores (sorted by window end). */
    show(scores) {
      plot.setData([scores.map((s) => s.windowEnd / 1000), scores.map((s) => s.score), scores.map((s) => s.windowScore)]);
    },
    setNeutralBand(b) {
      band = b;
      plot.redraw();
    },
    /** Points drawn (for tests and the summary). */
    get points() {
      return plot.data[0].length;
    },
  };
}
