// What the forms check before saving, in the service's own words, and where the service's
// field violations belong. Pure helpers: no DOM, no I/O, so `npm test` runs them under node.

import { MAX_BUDGET_MICROS, parseDollars } from "./money";
import { isBudgetDuration } from "./dates";

// ---------------------------------------------------------------------------
// Notification targets.

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
