// Dates and budget periods. Everything is shown in UTC.
// Pure helpers: no DOM, no I/O, so `npm test` runs them under node.

/** A Date as "YYYY-MM-DD" (UTC). */
export function isoDate(d: Date): string {
  return d.toISOString().slice(0, 10);
}

/** A Date as "YYYY-MM-DD HH:MM UTC". */
export function isoMinute(d: Date): string {
  return `${d.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** A Date as "YYYY-MM-DD HH:MM:SS UTC". */
export function isoSecond(d: Date): string {
  return `${d.toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

/** "Resets on 2025-12-01 (25 days)"; "1 day" singular. */
export function resetLine(resetTime: Date, daysUntilReset: number): string {
  return `Resets on ${isoDate(resetTime)} (${daysUntilReset} ${daysUntilReset === 1 ? "day" : "days"})`;
}

/** "Updated 5 s ago"; never negative when the browser's clock is behind the server's. */
export function updatedAgo(fetchTime: Date, now: Date): string {
  const seconds = Math.max(0, Math.floor((now.getTime() - fetchTime.getTime()) / 1000));
  return `Updated ${seconds} s ago`;
}

export const BUDGET_DURATIONS = ["30d", "60d", "90d"] as const;
export type BudgetDuration = (typeof BUDGET_DURATIONS)[number];

export function isBudgetDuration(value: string): value is BudgetDuration {
  return (BUDGET_DURATIONS as readonly string[]).includes(value);
}

/** The select's labels for each period. */
export function durationLabel(duration: string): string {
  switch (duration) {
    case "30d":
      return "Monthly (resets on the 1st)";
    case "60d":
      return "60 days";
    case "90d":
      return "90 days";
    default:
      return duration;
  }
}

/**
 * The reset date LiteLLM computes when the period changes to `duration` at `now`:
 * 30d -> the 1st of next month (UTC); 60d/90d -> today (UTC) + 60/90 days. "YYYY-MM-DD".
 */
export function nextResetDate(duration: BudgetDuration, now: Date): string {
  const y = now.getUTCFullYear();
  const m = now.getUTCMonth();
  const d = now.getUTCDate();
  if (duration === "30d") return isoDate(new Date(Date.UTC(y, m + 1, 1)));
  const days = duration === "60d" ? 60 : 90;
  return isoDate(new Date(Date.UTC(y, m, d + days)));
}

/** "Next reset will move to 2027-01-27". */
export function resetMoveText(duration: BudgetDuration, now: Date): string {
  return `Next reset will move to ${nextResetDate(duration, now)}`;
}
