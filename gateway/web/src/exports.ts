// The gateway's CSV export links and the date ranges they accept.
// Pure helpers: no DOM, no I/O, so `npm test` runs them under node.

import { isoDate } from "./dates";

export const EXPORT_KINDS = [
  ["daily-spend", "Daily spend"],
  ["alerts", "Alerts"],
  ["audit-events", "Audit events"],
] as const;

/** The default export range: the `days` UTC days ending on `now`'s, as [start, end]. */
export function exportRange(now: Date, days = 30): [string, string] {
  return [isoDate(new Date(now.getTime() - (days - 1) * 86_400_000)), isoDate(now)];
}

/** The gateway's download URL for an export. */
export function exportHref(tenantId: string, kind: string, start: string, end: string): string {
  return `/export/${encodeURIComponent(tenantId)}/${kind}.csv?start=${start}&end=${end}`;
}

/** Why a range cannot be exported, or "" when it can (strict YYYY-MM-DD, start <= end, <= 400 days). */
export function exportRangeError(start: string, end: string): string {
  const day = (s: string) => (/^\d{4}-\d{2}-\d{2}$/.test(s) ? Date.parse(`${s}T00:00:00Z`) : NaN);
  const a = day(start);
  const b = day(end);
  if (Number.isNaN(a) || Number.isNaN(b)) return "Choose both dates.";
  if (b < a) return "The end date must not be before the start date.";
  if (b - a > 400 * 86_400_000) return "Choose at most 400 days after the start date.";
  return "";
}
