// The words next to every state, event, role and action the page shows.
// Pure helpers: no DOM, no I/O, so `npm test` runs them under node.

import { AlertType, BudgetState, DeliveryStatus, NotificationKind, Role } from "./gen/budget/v1/budget";
import { formatDollarsShort, formatMoney } from "./money";
import { durationLabel, isoDate } from "./dates";

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

/** "Temporary increase: +$200 until 2026-12-05 (launch)"; the date in UTC. */
export function increaseText(amountMicros: bigint, until: Date | undefined, reason: string): string {
  const date = until ? ` until ${isoDate(until)}` : "";
  return `Temporary increase: +${formatDollarsShort(amountMicros)}${date}${reason ? ` (${reason})` : ""}`;
}
