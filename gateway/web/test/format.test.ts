// Unit tests for the pure helpers (money, dates, labels, validation) (bundled by `node build.mjs --tests`).
import { test } from "node:test";
import assert from "node:assert/strict";
import { AlertType, BudgetState } from "../src/gen/budget/v1/budget";
import {
  blockText,
  cumulativeSpend,
  formatMoney,
  formatPercent,
  microsToInput,
  parseDollars,
  stepBudget,
} from "../src/money";
import { nextResetDate, resetLine, resetMoveText, updatedAgo } from "../src/dates";
import { barColor, configChanges, eventClass, eventName, stateLabel } from "../src/labels";
import { fieldForViolation, MESSAGES, validateForm } from "../src/validation";

const $ = (dollars: number) => BigInt(Math.round(dollars * 100)) * 10_000n;

test("formatMoney shows dollars and cents with thousands separators", () => {
  assert.equal(formatMoney(0n), "$0.00");
  assert.equal(formatMoney(1_234_560_000n), "$1,234.56");
  assert.equal(formatMoney(500_000_000n), "$500.00");
  assert.equal(formatMoney(10_000_000_000_000n), "$10,000,000.00");
  assert.equal(formatMoney(4_999n), "$0.00");
  assert.equal(formatMoney(5_000n), "$0.01"); // half a cent rounds away from zero
  assert.equal(formatMoney(-5_000_000n), "-$5.00");
  assert.equal(formatMoney(9_223_372_036_854_775_807n), "$9,223,372,036,854.78"); // int64 max survives
});

test("parseDollars converts typed amounts to micros, rounded to the cent", () => {
  assert.equal(parseDollars("500"), 500_000_000n);
  assert.equal(parseDollars("1000"), 1_000_000_000n);
  assert.equal(parseDollars("123.45"), 123_450_000n);
  assert.equal(parseDollars("0.29"), 290_000n); // 0.29 * 100 is 28.999... in floating point
  assert.equal(parseDollars("123.455"), 123_460_000n);
  assert.equal(parseDollars("123.454"), 123_450_000n);
  assert.equal(parseDollars(" 0.01 "), 10_000n);
  assert.equal(parseDollars(".5"), 500_000n);
  assert.equal(parseDollars("1e3"), 1_000_000_000n);
  assert.equal(parseDollars("-5"), -5_000_000n);
  assert.equal(parseDollars(""), null);
  assert.equal(parseDollars("abc"), null);
  assert.equal(parseDollars("."), null);
});

test("microsToInput gives the budget input's value", () => {
  assert.equal(microsToInput(500_000_000n), "500");
  assert.equal(microsToInput(123_450_000n), "123.45");
  assert.equal(microsToInput(123_400_000n), "123.40");
  assert.equal(microsToInput(10_000n), "0.01");
});

test("stepBudget moves by $50 from any amount, within the allowed range", () => {
  assert.equal(stepBudget("500", 1), "550");
  assert.equal(stepBudget("500", -1), "450");
  assert.equal(stepBudget("123.45", 1), "173.45");
  assert.equal(stepBudget("30", -1), "0.01");
  assert.equal(stepBudget("", 1), "50");
  assert.equal(stepBudget("9999990", 1), "10000000");
});

test("validateForm accepts any amount from a cent to $10M, to the cent", () => {
  const ok = { alertThreshold: 80, graceThreshold: 110, budgetDuration: "30d" };
  for (const maxBudget of ["500", "1000", "123.45", "0.01", "10000000", "550"]) {
    assert.deepEqual(validateForm({ ...ok, maxBudget }), {}, maxBudget);
  }
});

test("validateForm names every invalid field with the required messages", () => {
  const ok = { maxBudget: "500", alertThreshold: 80, graceThreshold: 110, budgetDuration: "30d" };
  for (const maxBudget of ["", "abc", "0", "-1", "0.001"]) {
    assert.equal(validateForm({ ...ok, maxBudget }).maxBudget, "Max budget must be greater than $0", maxBudget);
  }
  assert.equal(validateForm({ ...ok, maxBudget: "10000000.01" }).maxBudget, "Max budget must be at most $10,000,000");
  assert.equal(validateForm({ ...ok, alertThreshold: 49 }).alertThreshold, "Alert threshold must be between 50% and 100%");
  assert.equal(validateForm({ ...ok, alertThreshold: 101 }).alertThreshold, MESSAGES.alertThreshold);
  assert.equal(validateForm({ ...ok, graceThreshold: 99 }).graceThreshold, "Grace threshold must be between 100% and 150%");
  assert.equal(validateForm({ ...ok, graceThreshold: 151 }).graceThreshold, MESSAGES.graceThreshold);
  assert.equal(validateForm({ ...ok, budgetDuration: "7d" }).budgetDuration, "Budget period must be one of 30d, 60d, 90d");
  assert.deepEqual(validateForm({ ...ok, alertThreshold: 50, graceThreshold: 150, budgetDuration: "90d" }), {});
  assert.deepEqual(validateForm({ ...ok, alertThreshold: 100, graceThreshold: 100, budgetDuration: "60d" }), {});
});

test("server field violations map to form fields", () => {
  assert.equal(fieldForViolation("config.max_budget_micros"), "maxBudget");
  assert.equal(fieldForViolation("config.alert_threshold_percent"), "alertThreshold");
  assert.equal(fieldForViolation("config.grace_threshold_percent"), "graceThreshold");
  assert.equal(fieldForViolation("config.budget_duration"), "budgetDuration");
  assert.equal(fieldForViolation("tenant_id"), undefined);
});

test("blockText states the blocking spend", () => {
  assert.equal(blockText(500_000_000n, 110), "Will block at $550.00 (110% of $500.00)");
  assert.equal(blockText(123_450_000n, 150), "Will block at $185.18 (150% of $123.45)");
  assert.equal(blockText(1_000_000_000n, 100), "Will block at $1,000.00 (100% of $1,000.00)");
});

test("nextResetDate follows LiteLLM: the 1st of next month, or today + 60/90 days (UTC)", () => {
  const now = new Date("2026-11-28T23:30:00Z");
  assert.equal(nextResetDate("30d", now), "2026-12-01");
  assert.equal(nextResetDate("60d", now), "2027-01-27");
  assert.equal(nextResetDate("90d", now), "2027-02-26");
  assert.equal(nextResetDate("30d", new Date("2026-12-15T00:00:00Z")), "2027-01-01");
  assert.equal(resetMoveText("60d", now), "Next reset will move to 2027-01-27");
});

test("resetLine and updatedAgo", () => {
  assert.equal(resetLine(new Date("2025-12-01T00:00:00Z"), 25), "Resets on 2025-12-01 (25 days)");
  assert.equal(resetLine(new Date("2025-12-01T00:00:00Z"), 1), "Resets on 2025-12-01 (1 day)");
  assert.equal(resetLine(new Date("2025-12-01T00:00:00Z"), 0), "Resets on 2025-12-01 (0 days)");
  const t = new Date("2025-11-06T10:00:00Z");
  assert.equal(updatedAgo(t, new Date("2025-11-06T10:00:42.900Z")), "Updated 42 s ago");
  assert.equal(updatedAgo(t, new Date("2025-11-06T09:59:58Z")), "Updated 0 s ago");
});

test("percent, state labels and bar colours", () => {
  assert.equal(formatPercent(116), "116.0%");
  assert.equal(formatPercent(79.96), "80.0%");
  assert.deepEqual(
    [BudgetState.OK, BudgetState.WARNING, BudgetState.GRACE, BudgetState.BLOCKED, BudgetState.UNSPECIFIED].map(stateLabel),
    ["OK", "Warning", "Grace period", "Blocked", "Unavailable"],
  );
  assert.deepEqual(
    [BudgetState.OK, BudgetState.WARNING, BudgetState.GRACE, BudgetState.BLOCKED].map(barColor),
    ["#28a745", "#ffc107", "#dc3545", "#8b0000"],
  );
});

test("alert event names use the alert's own threshold", () => {
  assert.equal(eventName(AlertType.THRESHOLD, 80), "80% Threshold");
  assert.equal(eventName(AlertType.THRESHOLD, 75), "75% Threshold");
  assert.equal(eventName(AlertType.BUDGET_EXCEEDED, 100), "100% Budget Exceeded");
  assert.equal(eventName(AlertType.BLOCKED, 110), "110% Blocked");
  assert.equal(eventName(AlertType.BLOCKED, 120), "120% Blocked");
  assert.equal(eventName(AlertType.PROJECTED_LIMIT, 100), "Projected Limit");
  assert.deepEqual(
    [AlertType.THRESHOLD, AlertType.BUDGET_EXCEEDED, AlertType.BLOCKED, AlertType.PROJECTED_LIMIT].map(eventClass),
    ["alert-threshold", "alert-budget-exceeded", "alert-blocked", "alert-projected-limit"],
  );
});

test("configChanges lists old → new for each changed field", () => {
  const before = { maxBudgetMicros: $(500), alertThresholdPercent: 80, graceThresholdPercent: 110, budgetDuration: "30d" };
  const after = { ...before, maxBudgetMicros: $(750), budgetDuration: "60d" };
  assert.deepEqual(configChanges(before, after), [
    "Max budget $500.00 → $750.00",
    "Budget period Monthly (resets on the 1st) → 60 days",
  ]);
  assert.deepEqual(configChanges(before, before), []);
  assert.deepEqual(configChanges(undefined, before), [
    "Max budget $500.00",
    "Alert threshold 80%",
    "Grace threshold 110%",
    "Budget period Monthly (resets on the 1st)",
  ]);
});

test("cumulativeSpend steps back from today's spend until the period began", () => {
  // 10, 5 and 20 spent this period: it began when day 0 ended.
  assert.deepEqual(cumulativeSpend([7, 10, 5, 20], 35), [0, 10, 15, 35]);
  // The period began before the window: the line spans every day.
  assert.deepEqual(cumulativeSpend([1, 2, 3], 100), [95, 97, 100]);
  // Nothing spent this period yet.
  assert.deepEqual(cumulativeSpend([4, 4, 0], 0), [null, null, 0]);
  // A reset mid-day (today's spend includes the old period): the line starts at 0 yesterday.
  assert.deepEqual(cumulativeSpend([4, 4, 9], 5), [null, 0, 5]);
});
