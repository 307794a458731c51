// wasmboost dashboard: a small canvas line chart, written for this dashboard (no dependency).
// lineChart(canvas, points, opts) draws [{x: ms, y: number|null}] with a y axis from 0, the
// max and the latest value labelled, and the first and last times on the x axis.
'use strict';

window.lineChart = function lineChart(canvas, points, opts) {
  const dpr = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 300;
  const height = canvas.clientHeight || 180;
  canvas.width = Math.round(width * dpr);
  canvas.height = Math.round(height * dpr);
  const g = canvas.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, width, height);
  const pad = { left: 48, right: 10, top: 18, bottom: 22 };
  const plotW = Math.max(10, width - pad.left - pad.right);
  const plotH = Math.max(10, height - pad.top - pad.bottom);
  const ys = points.map((p) => p.y).filter((y) => y !== null && Number.isFinite(y));
  const max = niceMax(ys.length ? Math.max(...ys) : 0);
  const x0 = points.length ? points[0].x : 0;
  const x1 = points.length ? points[points.length - 1].x : 1;
  const sx = (x) => pad.left + (x1 === x0 ? plotW : ((x - x0) / (x1 - x0)) * plotW);
  const sy = (y) => pad.top + plotH - (y / max) * plotH;

  g.font = '11px system-ui, sans-serif';
  g.fillStyle = '#5d6670';
  g.strokeStyle = '#d8dde3';
  g.lineWidth = 1;
  for (const frac of [0, 0.5, 1]) {
    const y = pad.top + plotH - frac * plotH;
    g.beginPath();
    g.moveTo(pad.left, y + 0.5);
    g.lineTo(pad.left + plotW, y + 0.5);
    g.stroke();
    g.textAlign = 'right';
    g.textBaseline = 'middle';
    g.fillText(formatNumber(max * frac), pad.left - 6, y);
  }
  if (points.length) {
    g.textBaseline = 'top';
    g.textAlign = 'left';
    g.fillText(opts.time(x0), pad.left, pad.top + plotH + 5);
    g.textAlign = 'right';
    g.fillText(opts.time(x1), pad.left + plotW, pad.top + plotH + 5);
  }
  g.strokeStyle = opts.color || '#2457c5';
  g.lineWidth = 1.6;
  g.beginPath();
  let drawing = false;
  for (const p of points) {
    if (p.y === null || !Number.isFinite(p.y)) {
      drawing = false;
      continue;
    }
    if (drawing) g.lineTo(sx(p.x), sy(p.y));
    else g.moveTo(sx(p.x), sy(p.y));
    drawing = true;
  }
  g.stroke();
  const last = ys.length ? ys[ys.length - 1] : null;
  g.fillStyle = '#1b1f24';
  g.textAlign = 'left';
  g.textBaseline = 'top';
  g.fillText(`${opts.label}: ${last === null ? '–' : formatNumber(last)} ${opts.unit}`, pad.left, 2);
};

function niceMax(value) {
  if (!(value > 0)) return 1;
  const step = Math.pow(10, Math.floor(Math.log10(value)));
  for (const m of [1, 2, 5, 10]) {
    if (value <= m * step) return m * step;
  }
  return 10 * step;
}

function formatNumber(value) {
  if (value >= 1e6) return `${(value / 1e6).toFixed(1)}M`;
  if (value >= 1e4) return `${(value / 1e3).toFixed(0)}k`;
  if (value >= 100) return value.toFixed(0);
  if (value >= 1) return value.toFixed(1);
  return value.toFixed(2);
}
