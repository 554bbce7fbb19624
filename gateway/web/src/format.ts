// Pure helpers: money, percents, dates, labels and form validation. No DOM, no I/O,
// so `npm test` can run them under node.

import { AlertType, BudgetState, DeliveryStatus, NotificationKind, Role } from "./gen/budget/v1/budget_pb";

export const MICROS_PER_DOLLAR = 1_000_000n;
const MICROS_PER_CENT = 10_000n;
/** The largest budget the service accepts: $10,000,000. */
export const MAX_BUDGET_MICROS = 10_000_000n * MICROS_PER_DOLLAR;

// ---------------------------------------------------------------------------
// Money. The API carries int64 micros (bigint); the UI shows and edits cents.

/** Micros to whole cents, rounding half away from zero. */
function microsToCents(micros: bigint): bigint {
  const half = MICROS_PER_CENT / 2n;
  return micros >= 0n ? (micros + half) / MICROS_PER_CENT : -((-micros + half) / MICROS_PER_CENT);
}

function groupThousands(digits: string): string {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** 1234560000n -> "$1,234.56"; -5000000n -> "-$5.00". */
export function formatMoney(micros: bigint): string {
  const cents = microsToCents(micros);
  const abs = cents < 0n ? -cents : cents;
  const dollars = groupThousands((abs / 100n).toString());
  const rest = (abs % 100n).toString().padStart(2, "0");
  return `${cents < 0n ? "-" : ""}$${dollars}.${rest}`;
}

/** Micros as the value of the budget input: 500000000n -> "500", 123450000n -> "123.45". */
export function microsToInput(micros: bigint): string {
  const cents = microsToCents(micros);
  const abs = cents < 0n ? -cents : cents;
  const whole = `${cents < 0n ? "-" : ""}${abs / 100n}`;
  return abs % 100n === 0n ? whole : `${whole}.${(abs % 100n).toString().padStart(2, "0")}`;
}

/**
 * A dollar amount as typed ("500", "123.45", "0.005", "1e3") to micros, rounded to the
 * cent (half away from zero). Null when it is not a number. Plain decimals are converted
 * digit by digit so that 0.29 or 123.455 do not pick up binary floating-point error.
 */
export function parseDollars(text: string): bigint | null {
  const s = text.trim();
  if (s === "") return null;
  const plain = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(s);
  if (plain && (plain[2] !== "" || (plain[3] ?? "") !== "")) {
    const [, sign, whole, frac = ""] = plain;
    const padded = (frac + "000").slice(0, 3);
    let cents = BigInt(whole || "0") * 100n + BigInt(padded.slice(0, 2));
    if (Number(padded[2]) >= 5) cents += 1n;
    return (sign === "-" ? -cents : cents) * MICROS_PER_CENT;
  }
  const n = Number(s);
  if (!Number.isFinite(n)) return null;
  const cents = Math.sign(n) * Math.round(Math.abs(n) * 100);
  return BigInt(cents) * MICROS_PER_CENT;
}

/** The input's value after one ArrowUp (+1) or ArrowDown (-1) press: moves by $50 within [$0.01, $10,000,000]. */
export function stepBudget(text: string, direction: 1 | -1, step = 50): string {
  const micros = parseDollars(text) ?? 0n;
  let next = micros + BigInt(direction * step) * MICROS_PER_DOLLAR;
  if (next < MICROS_PER_CENT) next = MICROS_PER_CENT;
  if (next > MAX_BUDGET_MICROS) next = MAX_BUDGET_MICROS;
  return microsToInput(next);
}

/** The spend at which LiteLLM blocks: budget x grace / 100. */
export function blockAtMicros(maxBudgetMicros: bigint, gracePercent: number): bigint {
  return (maxBudgetMicros * BigInt(Math.round(gracePercent))) / 100n;
}

/** "Will block at $550.00 (110% of $500.00)". */
export function blockText(maxBudgetMicros: bigint, gracePercent: number): string {
  const at = formatMoney(blockAtMicros(maxBudgetMicros, gracePercent));
  return `Will block at ${at} (${gracePercent}% of ${formatMoney(maxBudgetMicros)})`;
}

/** 116 -> "116.0%". */
export function formatPercent(percent: number): string {
  return `${(Number.isFinite(percent) ? percent : 0).toFixed(1)}%`;
}

// ---------------------------------------------------------------------------
// Dates. Everything is shown in UTC.

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

// ---------------------------------------------------------------------------
// Who is signed in.

/** What a role may do, in words: "platform admin", "tenant admin", "service". */
export function roleLabel(role: Role): string {
  switch (role) {
    case Role.PLATFORM_ADMIN:
      return "platform admin";
    case Role.TENANT_ADMIN:
      return "tenant admin";
    case Role.SERVICE:
      return "service";
    default:
      return "unknown role";
  }
}

/** The header's "Signed in as NAME (role)". */
export function signedInText(name: string, role: Role): string {
  return `Signed in as ${name || "unknown"} (${roleLabel(role)})`;
}

// ---------------------------------------------------------------------------
// States and events.

/** The text shown next to every state colour. */
export function stateLabel(state: BudgetState): string {
  switch (state) {
    case BudgetState.OK:
      return "OK";
    case BudgetState.WARNING:
      return "Warning";
    case BudgetState.GRACE:
      return "Grace period";
    case BudgetState.BLOCKED:
      return "Blocked";
    default:
      return "Unavailable";
  }
}

/** A CSS-friendly name for a state: "ok", "warning", "grace", "blocked", "unknown". */
export function stateClass(state: BudgetState): string {
  switch (state) {
    case BudgetState.OK:
      return "ok";
    case BudgetState.WARNING:
      return "warning";
    case BudgetState.GRACE:
      return "grace";
    case BudgetState.BLOCKED:
      return "blocked";
    default:
      return "unknown";
  }
}

/** The progress bar's fill colour for a state. */
export function barColor(state: BudgetState): string {
  switch (state) {
    case BudgetState.WARNING:
      return "#ffc107";
    case BudgetState.GRACE:
      return "#dc3545";
    case BudgetState.BLOCKED:
      return "#8b0000";
    case BudgetState.OK:
      return "#28a745";
    default:
      return "#6c757d";
  }
}

/** The line under the bar: "Grace Period: Active", "Blocked", "Warning: alert threshold reached", ... */
export function stateIndicator(state: BudgetState): string {
  switch (state) {
    case BudgetState.OK:
      return "Within budget";
    case BudgetState.WARNING:
      return "Warning: alert threshold reached";
    case BudgetState.GRACE:
      return "Grace Period: Active";
    case BudgetState.BLOCKED:
      return "Blocked";
    default:
      return "State unknown";
  }
}

/** The alert table's event name, e.g. "75% Threshold", "100% Budget Exceeded", "120% Blocked". */
export function eventName(type: AlertType, thresholdPercent: number): string {
  switch (type) {
    case AlertType.THRESHOLD:
      return `${thresholdPercent}% Threshold`;
    case AlertType.BUDGET_EXCEEDED:
      return "100% Budget Exceeded";
    case AlertType.BLOCKED:
      return `${thresholdPercent}% Blocked`;
    case AlertType.PROJECTED_LIMIT:
      return "Projected Limit";
    default:
      return "Unknown event";
  }
}

/** The CSS class of an alert row, one per type. */
export function eventClass(type: AlertType): string {
  switch (type) {
    case AlertType.THRESHOLD:
      return "alert-threshold";
    case AlertType.BUDGET_EXCEEDED:
      return "alert-budget-exceeded";
    case AlertType.BLOCKED:
      return "alert-blocked";
    case AlertType.PROJECTED_LIMIT:
      return "alert-projected-limit";
    default:
      return "alert-unknown";
  }
}

// ---------------------------------------------------------------------------
// Notifications.

/** "Webhook", "Slack". */
export function kindLabel(kind: NotificationKind): string {
  switch (kind) {
    case NotificationKind.WEBHOOK:
      return "Webhook";
    case NotificationKind.SLACK:
      return "Slack";
    default:
      return "Unknown";
  }
}

/** The fields of a delivery the alert history shows. */
export interface DeliveryValues {
  status: DeliveryStatus;
  attempts: number;
  lastError: string;
}

/** "Delivered", "Sending", "Retrying (2 attempts)", "Failed (HTTP 500)". */
export function deliveryText(d: DeliveryValues): string {
  switch (d.status) {
    case DeliveryStatus.DELIVERED:
      return "Delivered";
    case DeliveryStatus.PENDING:
      return d.attempts === 0 ? "Sending" : `Retrying (${d.attempts} ${d.attempts === 1 ? "attempt" : "attempts"})`;
    case DeliveryStatus.FAILED:
      return d.lastError ? `Failed (${d.lastError})` : "Failed";
    default:
      return "Unknown";
  }
}

/** A CSS-friendly name for a delivery status: "delivered", "pending", "failed", "unknown". */
export function deliveryClass(status: DeliveryStatus): string {
  switch (status) {
    case DeliveryStatus.DELIVERED:
      return "delivered";
    case DeliveryStatus.PENDING:
      return "pending";
    case DeliveryStatus.FAILED:
      return "failed";
    default:
      return "unknown";
  }
}

/** A new notification target as typed. */
export interface TargetValues {
  kind: "webhook" | "slack";
  url: string;
  secret: string;
  description: string;
}

export type TargetErrors = Partial<Record<keyof TargetValues | "targetId", string>>;

/** The service's own words (budget-service domain/notification.rs). */
export const TARGET_MESSAGES = {
  tooMany: "At most 10 notification targets",
  url: "URL must be an http or https address with a host, at most 2,048 characters",
  secret: "Webhook secret must be 16 to 256 characters",
  description: "Description must be at most 200 characters, without control characters",
} as const;

export const MAX_TARGETS = 10;

/** What is wrong with a new target, per field; empty when it may be saved. */
export function validateTarget(v: TargetValues): TargetErrors {
  const errors: TargetErrors = {};
  const url = v.url.trim();
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (!parsed || !/^https?:$/.test(parsed.protocol) || !parsed.hostname || url.length > 2048) {
    errors.url = TARGET_MESSAGES.url;
  }
  const secretLength = [...v.secret].length;
  if (v.kind === "webhook" && (secretLength < 16 || secretLength > 256)) errors.secret = TARGET_MESSAGES.secret;
  const description = v.description.trim();
  if ([...description].length > 200 || /[\u0000-\u001f\u007f-\u009f]/.test(description)) {
    errors.description = TARGET_MESSAGES.description;
  }
  return errors;
}

/** "targets[2].url" -> { index: 2, field: "url" }; undefined for anything else. */
export function targetViolation(path: string): { index: number; field: keyof TargetErrors } | undefined {
  const m = /^targets\[(\d+)\]\.(kind|url|secret|description|target_id)$/.exec(path);
  if (!m) return undefined;
  const field = m[2] === "target_id" ? "targetId" : (m[2] as keyof TargetValues);
  return { index: Number(m[1]), field };
}

// ---------------------------------------------------------------------------
// Audit log.

/** The audit log's name for an action. */
export function actionLabel(action: string): string {
  switch (action) {
    case "tenant_created":
      return "Tenant created";
    case "budget_config_updated":
      return "Budget updated";
    case "notification_targets_updated":
      return "Notification targets updated";
    case "litellm_key_repaired":
      return "LiteLLM key repaired";
    default:
      return action;
  }
}

/** The settings an audit event compares; a subset of BudgetConfig. */
export interface ConfigValues {
  maxBudgetMicros: bigint;
  alertThresholdPercent: number;
  graceThresholdPercent: number;
  budgetDuration: string;
}

/**
 * What changed between two configs, one line per field: "Max budget $500.00 → $750.00".
 * Without an old config (a tenant's creation), each field's new value: "Max budget $500.00".
 */
export function configChanges(oldConfig: ConfigValues | undefined, newConfig: ConfigValues): string[] {
  const fields: [string, (c: ConfigValues) => string][] = [
    ["Max budget", (c) => formatMoney(c.maxBudgetMicros)],
    ["Alert threshold", (c) => `${c.alertThresholdPercent}%`],
    ["Grace threshold", (c) => `${c.graceThresholdPercent}%`],
    ["Budget period", (c) => durationLabel(c.budgetDuration)],
  ];
  const lines: string[] = [];
  for (const [name, show] of fields) {
    const after = show(newConfig);
    if (!oldConfig) {
      lines.push(`${name} ${after}`);
      continue;
    }
    const before = show(oldConfig);
    if (before !== after) lines.push(`${name} ${before} → ${after}`);
  }
  return lines;
}

// ---------------------------------------------------------------------------
// Form validation.

/** The form's fields, as the user left them. */
export interface FormValues {
  maxBudget: string;
  alertThreshold: number;
  graceThreshold: number;
  budgetDuration: string;
}

/** A message per invalid field; empty when the form may be saved. */
export type FormErrors = Partial<Record<keyof FormValues, string>>;

export const MESSAGES = {
  maxBudgetPositive: "Max budget must be greater than $0",
  maxBudgetTooLarge: "Max budget must be at most $10,000,000",
  alertThreshold: "Alert threshold must be between 50% and 100%",
  graceThreshold: "Grace threshold must be between 100% and 150%",
  budgetDuration: "Budget period must be one of 30d, 60d, 90d",
} as const;

export function validateForm(v: FormValues): FormErrors {
  const errors: FormErrors = {};
  const micros = parseDollars(v.maxBudget);
  if (micros === null || micros <= 0n) errors.maxBudget = MESSAGES.maxBudgetPositive;
  else if (micros > MAX_BUDGET_MICROS) errors.maxBudget = MESSAGES.maxBudgetTooLarge;
  if (!Number.isInteger(v.alertThreshold) || v.alertThreshold < 50 || v.alertThreshold > 100) {
    errors.alertThreshold = MESSAGES.alertThreshold;
  }
  if (!Number.isInteger(v.graceThreshold) || v.graceThreshold < 100 || v.graceThreshold > 150) {
    errors.graceThreshold = MESSAGES.graceThreshold;
  }
  if (!isBudgetDuration(v.budgetDuration)) errors.budgetDuration = MESSAGES.budgetDuration;
  return errors;
}

/** The form field a server field violation ("config.max_budget_micros", ...) belongs to. */
export function fieldForViolation(path: string): keyof FormValues | undefined {
  const name = path.replace(/^config\./, "");
  switch (name) {
    case "max_budget_micros":
      return "maxBudget";
    case "alert_threshold_percent":
      return "alertThreshold";
    case "grace_threshold_percent":
      return "graceThreshold";
    case "budget_duration":
      return "budgetDuration";
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------------------
// Spend chart data.

/**
 * The burn-up line of the current period, aligned with `daily` (oldest first, ending today):
 * today's value is `spendToday`; each earlier day is the next day's value less that next
 * day's spend. Once it reaches zero (where the period began) that day is 0 and earlier
 * days are null (no line).
 */
export function cumulativeSpend(daily: number[], spendToday: number): (number | null)[] {
  const out: (number | null)[] = daily.map(() => null);
  let value = spendToday;
  // Cent-sized noise from float dollars must not keep the line alive.
  const epsilon = 0.000001;
  for (let i = daily.length - 1; i >= 0; i--) {
    if (value <= epsilon) {
      out[i] = 0;
      break;
    }
    out[i] = value;
    value -= daily[i]!;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Tenant lifecycle and exports.

/** Dollars without cents when whole: 200000000n -> "$200", 12345000n -> "$12.35". */
export function formatDollarsShort(micros: bigint): string {
  const s = formatMoney(micros);
  return s.endsWith(".00") ? s.slice(0, -3) : s;
}

/** "Temporary increase: +$200 until 2026-12-05 (launch)"; the date in UTC. */
export function increaseText(amountMicros: bigint, until: Date | undefined, reason: string): string {
  const date = until ? ` until ${isoDate(until)}` : "";
  return `Temporary increase: +${formatDollarsShort(amountMicros)}${date}${reason ? ` (${reason})` : ""}`;
}

/** True for GetBudgetStatus's FAILED_PRECONDITION when LiteLLM no longer has the tenant's key. */
export function isKeyLost(message: string): boolean {
  return /is unknown to LiteLLM|was deleted in LiteLLM/.test(message);
}

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
