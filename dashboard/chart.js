/* global uPlot, ResizeObserver, getComputedStyle, document */
// The selected session's chart: rolling score and window score over window end (event time),
// y fixed to the score range [-3, 3], the neutral band shaded behind the lines.

const Y_MIN = -3;
const Y_MAX = 3;
// Time axis steps in seconds: window ends are whole hops (1 s by default), so never below a
// second (uPlot's own steps go down to milliseconds and label a short session "…:01.200").
const TIME_STEPS_S = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400, 7 * 86_400];

const two = (n) => String(n).padStart(2, '0');
/** Clock time of `s` (epoch seconds, local time): HH:MM:SS, or HH:MM when the step is whole minutes. */
export function clockLabel(s, stepS = 1) {
  const d = new Date(s * 1000);
  const hm = `${two(d.getHours())}:${two(d.getMinutes())}`;
  return stepS % 60 === 0 ? hm : `${hm}:${two(d.getSeconds())}`;
}

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

  let xLabels = [];
  const size = () => ({ width: Math.max(280, container.clientWidth), height: Math.max(220, Math.min(360, container.clientWidth * 0.45)) });
  const plot = new uPlot(
    {
      ...size(),
      // One point (a session's first window): a second either side, so its time is labelled too
      // (uPlot would widen it to 86400 / 1e-3 s, where no step fits: no labels at all).
      scales: {
        x: { time: true, range: (u, min, max) => (u.data[0].length === 1 ? [u.data[0][0] - 1, u.data[0][0] + 1] : [min, max]) },
        y: { auto: false, range: [Y_MIN, Y_MAX] },
      },
      axes: [
        {
          incrs: TIME_STEPS_S,
          space: 70,
          values: (_u, splits, _axis, _space, step) => (xLabels = splits.map((t) => clockLabel(t, step))),
        },
        { values: (_u, ticks) => ticks.map((t) => (t > 0 ? `+${t}` : `${t}`)), splits: () => [-3, -2, -1, 0, 1, 2, 3] },
      ],
      series: [
        { label: 'window end', value: (_u, v) => (v == null ? '–' : clockLabel(v)) },
        { label: 'rolling score', stroke: color('--series-rolling', '#1f5fbf'), width: 2.5, value: (_u, v) => (v == null ? '–' : v.toFixed(2)) },
        {
          label: 'window score',
          stroke: color('--series-window', '#999'),
          width: 1,
          dash: [4, 3],
          points: { show: false },
          value: (_u, v) => (v == null ? '–' : v.toFixed(2)),
        },
      ],
      // The time labels drawn, on the container: the canvas has no text to read (tests, a11y tools).
      hooks: { drawClear: [shadeNeutralBand], draw: [() => (container.dataset.xLabels = xLabels.join(' '))] },
      legend: { live: true },
    },
    [[], [], []],
    container,
  );
  new ResizeObserver(() => plot.setSize(size())).observe(container);

  return {
    /** Shows these scores (sorted by window end). */
    show(scores) {
      xLabels = [];
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
