/**
 * A device's history as a chart on a 2D canvas, drawn here rather than with a chart library:
 * one band (min to max of each bucket) and one line (the average) over a time axis is about a
 * hundred lines, needs no style sheet or inline styles (the viewer's Content-Security-Policy
 * stays strict) and adds nothing to the bundle. Redrawn on resize; the buckets are
 * `GET /api/devices/{id}/history`'s.
 */
import { niceTicks, timeTicks } from '../core/ChartScale';

export interface Bucket {
  bucket: string;
  min: number;
  avg: number;
  max: number;
  count: number;
}

export function drawChart(canvas: HTMLCanvasElement, buckets: Bucket[], unit: string, color = '#0b57d0'): void {
  const ratio = Math.min(2, window.devicePixelRatio || 1);
  const w = Math.max(200, canvas.clientWidth || 300);
  const h = Math.max(120, canvas.clientHeight || 160);
  canvas.width = Math.round(w * ratio);
  canvas.height = Math.round(h * ratio);
  const g = canvas.getContext('2d');
  if (!g) return;
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, w, h);
  g.font = '11px system-ui, sans-serif';
  g.fillStyle = '#5b6875';
  const pts = buckets
    .map((b) => ({ t: Date.parse(b.bucket), min: Number(b.min), avg: Number(b.avg), max: Number(b.max) }))
    .filter((p) => Number.isFinite(p.t) && Number.isFinite(p.avg))
    .sort((a, b) => a.t - b.t);
  canvas.dataset.points = String(pts.length);
  if (!pts.length) {
    g.fillText('No observation in this period.', 8, h / 2);
    return;
  }
  const left = 44;
  const right = 8;
  const top = 8;
  const bottom = 20;
  const t0 = pts[0].t;
  const t1 = Math.max(pts[pts.length - 1].t, t0 + 60e3);
  const y = niceTicks(Math.min(...pts.map((p) => p.min)), Math.max(...pts.map((p) => p.max)), 4);
  const X = (t: number) => left + ((t - t0) / (t1 - t0)) * (w - left - right);
  const Y = (v: number) => top + (1 - (v - y.min) / (y.max - y.min)) * (h - top - bottom);
  g.strokeStyle = '#e3e7eb';
  g.lineWidth = 1;
  g.textAlign = 'right';
  g.textBaseline = 'middle';
  for (const v of y.ticks) {
    g.beginPath();
    g.moveTo(left, Y(v));
    g.lineTo(w - right, Y(v));
    g.stroke();
    g.fillText(formatTick(v, y.step), left - 4, Y(v));
  }
  g.textAlign = 'center';
  g.textBaseline = 'top';
  const xt = timeTicks(t0, t1, Math.max(2, Math.floor((w - left) / 70)));
  for (const t of xt.ticks) {
    const d = new Date(t);
    const label = xt.step >= 86400e3 ? d.toLocaleDateString([], { month: 'short', day: 'numeric' }) : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    g.fillText(label, X(t), h - bottom + 4);
  }
  g.textAlign = 'left';
  g.fillText(unit, 2, 0);
  // the band, then the line
  g.fillStyle = `${color}33`;
  g.beginPath();
  pts.forEach((p, i) => (i ? g.lineTo(X(p.t), Y(p.max)) : g.moveTo(X(p.t), Y(p.max))));
  for (let i = pts.length - 1; i >= 0; i--) g.lineTo(X(pts[i].t), Y(pts[i].min));
  g.closePath();
  g.fill();
  g.strokeStyle = color;
  g.lineWidth = 1.6;
  g.beginPath();
  pts.forEach((p, i) => (i ? g.lineTo(X(p.t), Y(p.avg)) : g.moveTo(X(p.t), Y(p.avg))));
  g.stroke();
  if (pts.length === 1) {
    g.fillStyle = color;
    g.beginPath();
    g.arc(X(pts[0].t), Y(pts[0].avg), 3, 0, Math.PI * 2);
    g.fill();
  }
}

function formatTick(v: number, step: number): string {
  const digits = step >= 1 ? 0 : Math.min(4, Math.ceil(-Math.log10(step)));
  return v.toFixed(digits);
}
