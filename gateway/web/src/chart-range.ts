// The chart's y-range: it fits the period's spend, the thresholds and the budget with headroom,
// so "am I OK this period" is readable; a forecast beyond it is clipped and labelled instead.

/** Headroom above the highest value the view must show. */
export const HEADROOM = 1.15;
/** The y-max when everything is 0 (no spend, no budget). */
export const MIN_Y_MAX = 10;

/**
 * The y-axis max for the values that must be visible (spend, alert / budget / grace lines);
 * the forecast is left out on purpose. Non-finite and negative values are ignored.
 */
export function yMaxFor(values: readonly (number | null | undefined)[]): number {
  const shown = values.filter((v): v is number => typeof v === "number" && Number.isFinite(v) && v > 0);
  const top = shown.length ? Math.max(...shown) : 0;
  return top > 0 ? top * HEADROOM : MIN_Y_MAX;
}

/** Whether the forecast's end value lies above the view (and so needs its label). */
export function forecastBeyond(forecastEnd: number | undefined, yMax: number): boolean {
  return forecastEnd !== undefined && Number.isFinite(forecastEnd) && forecastEnd > yMax;
}
