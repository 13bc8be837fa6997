// Line charts as inline SVG, drawn with DOM calls (no markup strings): one line per series.
const NS = 'http://www.w3.org/2000/svg';
const COLOURS = ['#1b6ca8', '#d1495b', '#2e8b57', '#edae49', '#6a4c93', '#00798c'];

function el(name, attrs, text) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A number as people read it in `lang`: at most two decimals, a decimal comma in Dutch (62,5). */
export function fmt(v, lang = 'nl') {
  const s = Number.isInteger(v) ? String(v) : v.toFixed(2).replace(/0+$/, '').replace(/\.$/, '');
  return lang === 'nl' ? s.replace('.', ',') : s;
}

/**
 * The numbers on a value axis from 0 to at least `max`, in steps of 1, 2 or 5 times a power of
 * ten (never 4.75 or 15.62); whole steps only when every value is whole (server/src/workspace/svg.rs).
 */
export function axisTicks(max, whole) {
  const top = Number.isFinite(max) && max > 0 ? max : 1;
  const rough = top / 5;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  let step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= rough) ?? 10 * magnitude;
  if (whole) step = Math.max(step, 1);
  const n = Math.max(1, Math.ceil(top / step - 1e-9));
  const digits = Math.max(0, -Math.floor(Math.log10(step)));
  return Array.from({ length: n + 1 }, (_, k) => Number((k * step).toFixed(digits)));
}

/** labels: quarters; series: [{name, values: (number|null)[]}]; lang: how numbers are written. */
export function lineChart(title, labels, series, lang = 'nl') {
  const w = 640, h = 260, left = 48, right = 160, top = 28, bottom = 36;
  const values = series.flatMap((s) => s.values.filter((v) => v !== null));
  const ticks = axisTicks(Math.max(0, ...values), values.every((v) => Number.isInteger(v)));
  const max = ticks[ticks.length - 1];
  const pw = w - left - right, ph = h - top - bottom;
  const x = (i) => (labels.length <= 1 ? left + pw / 2 : left + (pw * i) / (labels.length - 1));
  const y = (v) => top + ph - (ph * v) / max;
  const svg = el('svg', { viewBox: `0 0 ${w} ${h}`, width: w, height: h, role: 'img', 'aria-label': title, class: 'chart' });
  svg.append(el('title', {}, title), el('text', { x: left, y: 18, 'font-size': 13, 'font-weight': 'bold' }, title));
  for (const v of ticks) {
    svg.append(el('line', { x1: left, x2: left + pw, y1: y(v), y2: y(v), stroke: '#ddd' }));
    svg.append(el('text', { x: left - 4, y: y(v) + 3, 'font-size': 10, 'text-anchor': 'end', class: 'tick' }, fmt(v, lang)));
  }
  labels.forEach((l, i) => svg.append(el('text', { x: x(i), y: h - bottom + 16, 'font-size': 10, 'text-anchor': 'middle' }, l)));
  series.forEach((s, n) => {
    const colour = COLOURS[n % COLOURS.length];
    let d = '';
    let up = true;
    s.values.forEach((v, i) => {
      if (v === null) { up = true; return; }
      d += `${up ? 'M' : 'L'}${x(i).toFixed(1)},${y(v).toFixed(1)} `;
      up = false;
      const c = el('circle', { cx: x(i), cy: y(v), r: 2.5, fill: colour });
      c.append(el('title', {}, `${s.name} ${labels[i]}: ${fmt(v, lang)}`));
      svg.append(c);
    });
    svg.append(el('path', { d: d.trim(), fill: 'none', stroke: colour, 'stroke-width': 2 }));
    svg.append(el('rect', { x: w - right + 12, y: top + 16 * n, width: 10, height: 10, fill: colour }));
    svg.append(el('text', { x: w - right + 26, y: top + 16 * n + 9, 'font-size': 11 }, s.name));
  });
  return svg;
}
