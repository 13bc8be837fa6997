// Line charts as inline SVG, drawn with DOM calls (no markup strings): one line per series.
const NS = 'http://www.w3.org/2000/svg';
const COLOURS = ['#1b6ca8', '#d1495b', '#2e8b57', '#edae49', '#6a4c93', '#00798c'];

function el(name, attrs, text) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

export function fmt(v) {
  return Number.isInteger(v) ? String(v) : v.toFixed(2).replace(/0+$/, '');
}

/** labels: quarters; series: [{name, values: (number|null)[]}] */
export function lineChart(title, labels, series) {
  const w = 640, h = 260, left = 48, right = 160, top = 28, bottom = 36;
  const max = Math.max(1, ...series.flatMap((s) => s.values.filter((v) => v !== null)));
  const pw = w - left - right, ph = h - top - bottom;
  const x = (i) => (labels.length <= 1 ? left + pw / 2 : left + (pw * i) / (labels.length - 1));
  const y = (v) => top + ph - (ph * v) / max;
  const svg = el('svg', { viewBox: `0 0 ${w} ${h}`, width: w, height: h, role: 'img', 'aria-label': title, class: 'chart' });
  svg.append(el('title', {}, title), el('text', { x: left, y: 18, 'font-size': 13, 'font-weight': 'bold' }, title));
  for (let k = 0; k <= 4; k++) {
    const v = (max * k) / 4;
    svg.append(el('line', { x1: left, x2: left + pw, y1: y(v), y2: y(v), stroke: '#ddd' }));
    svg.append(el('text', { x: left - 4, y: y(v) + 3, 'font-size': 10, 'text-anchor': 'end' }, fmt(Math.round(v * 100) / 100)));
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
      c.append(el('title', {}, `${s.name} ${labels[i]}: ${fmt(v)}`));
      svg.append(c);
    });
    svg.append(el('path', { d: d.trim(), fill: 'none', stroke: colour, 'stroke-width': 2 }));
    svg.append(el('rect', { x: w - right + 12, y: top + 16 * n, width: 10, height: 10, fill: colour }));
    svg.append(el('text', { x: w - right + 26, y: top + 16 * n + 9, 'font-size': 11 }, s.name));
  });
  return svg;
}
