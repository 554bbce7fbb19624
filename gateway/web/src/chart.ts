// The 30-day spend trend (uPlot): daily bars, the period's burn-up line, the alert / 100 % /
// grace lines and the forecast to the reset date, with a text legend.

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { DailySpend } from "./gen/budget/v1/budget_pb";
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

  const series: uPlot.Series[] = [
    {},
    {
      label: "Daily spend",
      fill: COLORS.daily,
      stroke: COLORS.daily,
      width: 0,
      paths: uPlot.paths.bars!({ size: [0.7, 40] }),
      points: { show: false },
    },
    { label: "Spend this period", stroke: COLORS.cumulative, width: 2, points: { show: false } },
  ];
  const data: (number | null)[][] = [xs, daily, cumulative];

  const budget = input.maxBudgetMicros;
  if (budget !== undefined && budget > 0n) {
    const level = (pct: number) => xs.map(() => (microsToNumber(budget) * pct) / 100);
    const threshold = (key: "alert" | "budget" | "grace", pct: number, name: string, dash?: number[]) => {
      lines.push(key);
      const amount = formatMoney((budget * BigInt(pct)) / 100n);
      series.push({ label: name, stroke: COLORS[key], width: 2, dash, points: { show: false } });
      data.push(level(pct));
      legend.push(h("li", {}, h("span", { class: `swatch line ${key}` }), `${name} ${pct}% (${amount})`));
    };
    if (input.alertThresholdPercent) threshold("alert", input.alertThresholdPercent, "Alert threshold", [6, 4]);
    threshold("budget", 100, "Budget");
    if (input.graceThresholdPercent) threshold("grace", input.graceThresholdPercent, "Grace threshold (blocked)");
  }

  if (hasForecast) {
    lines.push("forecast");
    series.push({
      label: "Forecast",
      stroke: COLORS.forecast,
      width: 2,
      dash: [3, 4],
      spanGaps: true,
      points: { show: false },
    });
    data.push(forecast);
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
  const forecastIndex = hasForecast ? data.length - 1 : -1;
  const yMax = yMaxFor(data.slice(1).flatMap((s, i) => (i + 1 === forecastIndex ? [] : s)));
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

  const size = () => ({ width: Math.max(240, plot.clientWidth), height: plot.clientWidth < 500 ? 220 : 280 });
  const chart = new uPlot(
    {
      ...size(),
      series,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
      scales: { y: { range: () => [0, yMax] } },
      axes: [
        { space: 60 },
        {
          size: 64,
          values: (_u, splits) => splits.map((v) => `$${v >= 1000 ? `${Math.round(v / 100) / 10}k` : Math.round(v)}`),
        },
      ],
    },
    data as uPlot.AlignedData,
    plot,
  );
  const observer = new ResizeObserver(() => {
    const next = size();
    if (next.width !== chart.width) chart.setSize(next);
  });
  observer.observe(plot);
  return () => {
    observer.disconnect();
    chart.destroy();
  };
}
