// The 30-day spend trend, drawn on a canvas: daily bars, the period's burn-up line, the
// alert / 100 % / grace lines and the forecast to the reset date, with value and date axes and
// a text legend.

import type { DailySpend } from "./gen/budget/v1/budget";
import { microsToNumber } from "./api";
import { h, fill } from "./dom";
import { cumulativeSpend, formatMoney } from "./money";
import { isoDate } from "./dates";
import { forecastBeyond, yMaxFor } from "./chart-range";

/** Fewer days of data than this and the chart says so instead of drawing. */
export const MIN_DAYS = 7;
const DAY = 86_400;

export interface ChartInput {
  days: DailySpend[];
  daysWithData: number;
  /** The budget and thresholds (from the status, or the config when the status is unavailable). */
  maxBudgetMicros?: bigint;
  alertThresholdPercent?: number;
  graceThresholdPercent?: number;
  /** From the status; without it there is no burn-up line and no forecast. */
  spendMicros?: bigint;
  projectedSpendMicros?: bigint;
  resetTime?: Date;
}

const COLORS = {
  daily: "rgba(54, 110, 180, 0.55)",
  cumulative: "#1f4e8c",
  alert: "#ffc107",
  budget: "#dc3545",
  grace: "#8b0000",
  forecast: "#555",
};

function dayStart(date: string): number {
  return Date.parse(`${date}T00:00:00Z`) / 1000;
}

/** A horizontal line across the chart: a threshold or the budget. */
interface Level {
  value: number;
  color: string;
  dash: number[];
}

/** What the canvas shows: one x (UTC seconds) per day, then future days up to the reset. */
interface View {
  xs: number[];
  daily: (number | null)[];
  cumulative: (number | null)[];
  forecast: (number | null)[];
  levels: Level[];
  yMax: number;
}

/** Room for the axes' labels around the plot, in CSS pixels. */
const PAD = { left: 64, right: 12, top: 10, bottom: 26 };
const FONT = "12px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** A round step (1, 2 or 5 x 10^n) that splits `max` into about `count` parts. */
export function niceStep(max: number, count: number): number {
  const raw = max / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].find((m) => m * power >= raw)! * power;
  return step;
}

/** A y-axis label: "$250", "$1.5k". */
export function moneyTick(v: number): string {
  return `$${v >= 1000 ? `${Math.round(v / 100) / 10}k` : Math.round(v)}`;
}

/** Paints `view` on `canvas` at `width` x `height` CSS pixels (sharp on high-DPI screens). */
function drawChart(canvas: HTMLCanvasElement, view: View, width: number, height: number): void {
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext("2d");
  if (!ctx) return;
  ctx.scale(ratio, ratio);
  const left = PAD.left;
  const right = width - PAD.right;
  const top = PAD.top;
  const bottom = height - PAD.bottom;
  const { xs, yMax } = view;
  const x0 = xs[0]! - DAY / 2;
  const x1 = Math.max(xs[xs.length - 1]! + DAY / 2, x0 + DAY);
  const px = (x: number) => left + ((x - x0) / (x1 - x0)) * (right - left);
  // Whole pixels, so horizontal lines are crisp and keep their exact colour.
  const py = (y: number) => Math.round(bottom - (y / yMax) * (bottom - top));

  ctx.font = FONT;
  ctx.lineWidth = 1;
  // Value axis: grid lines and labels.
  ctx.fillStyle = "#555";
  ctx.strokeStyle = "#e4e4e4";
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  const step = niceStep(yMax, Math.max(2, Math.floor((bottom - top) / 50)));
  for (let v = 0; v <= yMax; v += step) {
    const y = py(v) + 0.5;
    ctx.beginPath();
    ctx.moveTo(left, y);
    ctx.lineTo(right, y);
    ctx.stroke();
    ctx.fillText(moneyTick(v), left - 8, y);
  }
  // Date axis: a label every few days, at least 60 px apart.
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  const dayWidth = (right - left) / ((x1 - x0) / DAY);
  const every = Math.max(1, Math.ceil(60 / dayWidth));
  for (let i = 0; i < xs.length; i += every) {
    const d = new Date(xs[i]! * 1000);
    ctx.fillText(`${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}`, px(xs[i]!), bottom + 6);
  }

  ctx.save();
  ctx.beginPath();
  ctx.rect(left, top, right - left, bottom - top);
  ctx.clip();
  // Daily spend: bars 70 % of a day wide, at most 40 px.
  ctx.fillStyle = COLORS.daily;
  const barWidth = Math.min(40, dayWidth * 0.7);
  view.daily.forEach((v, i) => {
    if (v === null || v <= 0) return;
    const y = py(v);
    ctx.fillRect(px(xs[i]!) - barWidth / 2, y, barWidth, bottom - y);
  });
  const polyline = (values: (number | null)[], color: string, dash: number[]) => {
    ctx.strokeStyle = color;
    ctx.lineWidth = 2;
    ctx.setLineDash(dash);
    ctx.beginPath();
    let started = false;
    values.forEach((v, i) => {
      if (v === null) return;
      if (started) ctx.lineTo(px(xs[i]!), py(v));
      else ctx.moveTo(px(xs[i]!), py(v));
      started = true;
    });
    ctx.stroke();
  };
  for (const level of view.levels) {
    ctx.strokeStyle = level.color;
    ctx.lineWidth = 2;
    ctx.setLineDash(level.dash);
    ctx.beginPath();
    ctx.moveTo(left, py(level.value));
    ctx.lineTo(right, py(level.value));
    ctx.stroke();
  }
  polyline(view.cumulative, COLORS.cumulative, []);
  // The forecast runs from today's spend to the reset; above the view it is clipped at the top.
  polyline(view.forecast, COLORS.forecast, [3, 4]);
  ctx.restore();
  // The axes' base line.
  ctx.strokeStyle = "#999";
  ctx.lineWidth = 1;
  ctx.setLineDash([]);
  ctx.beginPath();
  ctx.moveTo(left, bottom + 0.5);
  ctx.lineTo(right, bottom + 0.5);
  ctx.stroke();
}

/**
 * Draws the chart (or the insufficient-data message) into `section`; returns a function that
 * tears it down. `section` gets #spend-chart with data-lines naming the lines drawn.
 */
export function renderChart(section: HTMLElement, input: ChartInput): () => void {
  if (input.daysWithData < MIN_DAYS || input.days.length === 0) {
    const n = input.daysWithData;
    fill(
      section,
      h(
        "p",
        { id: "insufficient-data", class: "muted" },
        `Insufficient data (${n} ${n === 1 ? "day" : "days"} so far; the chart appears after ${MIN_DAYS} days)`,
      ),
    );
    return () => {};
  }

  const xs = input.days.map((d) => dayStart(d.date));
  const daily: (number | null)[] = input.days.map((d) => microsToNumber(d.spendMicros));
  const todayX = xs[xs.length - 1]!;
  const lines: string[] = [];
  const legend: HTMLElement[] = [h("li", {}, h("span", { class: "swatch bar" }), "Daily spend")];

  const cumulative: (number | null)[] =
    input.spendMicros !== undefined
      ? cumulativeSpend(daily as number[], microsToNumber(input.spendMicros))
      : daily.map(() => null);
  if (input.spendMicros !== undefined) {
    legend.push(h("li", {}, h("span", { class: "swatch line cumulative" }), "Spend this period"));
  }

  // Future days up to the reset, so the forecast has room and the bars keep their width.
  const forecast: (number | null)[] = daily.map(() => null);
  const reset = input.resetTime ? input.resetTime.getTime() / 1000 : undefined;
  const hasForecast =
    input.spendMicros !== undefined && input.projectedSpendMicros !== undefined && reset !== undefined && reset > todayX;
  if (hasForecast) {
    forecast[forecast.length - 1] = microsToNumber(input.spendMicros!);
    for (let x = todayX + DAY; x < reset!; x += DAY) {
      xs.push(x);
      daily.push(null);
      cumulative.push(null);
      forecast.push(null);
    }
    xs.push(reset!);
    daily.push(null);
    cumulative.push(null);
    forecast.push(microsToNumber(input.projectedSpendMicros!));
  }

  const levels: Level[] = [];
  const budget = input.maxBudgetMicros;
  if (budget !== undefined && budget > 0n) {
    const threshold = (key: "alert" | "budget" | "grace", pct: number, name: string, dash: number[] = []) => {
      lines.push(key);
      const amount = formatMoney((budget * BigInt(pct)) / 100n);
      levels.push({ value: (microsToNumber(budget) * pct) / 100, color: COLORS[key], dash });
      legend.push(h("li", {}, h("span", { class: `swatch line ${key}` }), `${name} ${pct}% (${amount})`));
    };
    if (input.alertThresholdPercent) threshold("alert", input.alertThresholdPercent, "Alert threshold", [6, 4]);
    threshold("budget", 100, "Budget");
    if (input.graceThresholdPercent) threshold("grace", input.graceThresholdPercent, "Grace threshold (blocked)");
  }

  if (hasForecast) {
    lines.push("forecast");
    legend.push(
      h(
        "li",
        {},
        h("span", { class: "swatch line forecast" }),
        `Forecast: ${formatMoney(input.projectedSpendMicros!)} by ${isoDate(input.resetTime!)}`,
      ),
    );
  }

  // The view fits the period's spend and the lines; a forecast above it is clipped and labelled.
  const yMax = yMaxFor([...daily, ...cumulative, ...levels.map((l) => l.value)]);
  const forecastEnd = hasForecast ? microsToNumber(input.projectedSpendMicros!) : undefined;
  const beyond = forecastBeyond(forecastEnd, yMax)
    ? h(
        "p",
        { id: "forecast-beyond", class: "chart-note" },
        `Forecast ${formatMoney(input.projectedSpendMicros!)} by ${isoDate(input.resetTime!)} ↑`,
      )
    : null;

  const plot = h("div", {
    id: "spend-chart",
    role: "img",
    "data-lines": lines.join(","),
    "data-days": String(input.days.length),
    "data-cumulative-points": String(cumulative.filter((v) => v !== null).length),
    "data-y-max": String(Math.round(yMax * 100) / 100),
    "aria-label": `Daily spend for the last ${input.days.length} days with budget lines: ${lines.join(", ") || "none"}`,
  });
  fill(
    section,
    h("div", { class: "chart-wrap" }, plot, beyond),
    h("ul", { id: "chart-legend", class: "legend" }, ...legend),
  );

  const canvas = h("canvas", {});
  plot.append(canvas);
  const view: View = { xs, daily, cumulative, forecast, levels, yMax };
  let width = 0;
  const draw = () => {
    const next = Math.max(240, plot.clientWidth);
    if (next === width) return;
    width = next;
    drawChart(canvas, view, width, width < 500 ? 220 : 280);
  };
  draw();
  const observer = new ResizeObserver(draw);
  observer.observe(plot);
  return () => observer.disconnect();
}
