// Unit tests for the notification helpers (money, dates, labels, validation) (bundled by `node build.mjs --tests`).
import { test } from "node:test";
import assert from "node:assert/strict";
import { DeliveryStatus, NotificationKind } from "../src/gen/budget/v1/budget";
import { actionLabel, deliveryClass, deliveryText, kindLabel } from "../src/labels";
import { TARGET_MESSAGES, targetViolation, validateTarget } from "../src/validation";

test("deliveryText says where each delivery stands in words", () => {
  const d = (status: DeliveryStatus, attempts: number, lastError = "") => deliveryText({ status, attempts, lastError });
  assert.equal(d(DeliveryStatus.DELIVERED, 3), "Delivered");
  assert.equal(d(DeliveryStatus.PENDING, 0), "Sending");
  assert.equal(d(DeliveryStatus.PENDING, 1, "HTTP 503"), "Retrying (1 attempt)");
  assert.equal(d(DeliveryStatus.PENDING, 2, "HTTP 503"), "Retrying (2 attempts)");
  assert.equal(d(DeliveryStatus.FAILED, 14, "timed out"), "Failed (timed out)");
  assert.equal(d(DeliveryStatus.FAILED, 0), "Failed");
  assert.equal(deliveryClass(DeliveryStatus.FAILED), "failed");
  assert.equal(kindLabel(NotificationKind.SLACK), "Slack");
  assert.equal(kindLabel(NotificationKind.WEBHOOK), "Webhook");
});

test("validateTarget mirrors the service's rules and words", () => {
  const ok = { kind: "webhook" as const, url: "https://hooks.example.com/x", secret: "0123456789abcdef", description: "" };
  assert.deepEqual(validateTarget(ok), {});
  assert.deepEqual(validateTarget({ ...ok, kind: "slack", secret: "" }), {});
  assert.deepEqual(validateTarget({ ...ok, url: "ftp://example.com" }), { url: TARGET_MESSAGES.url });
  assert.deepEqual(validateTarget({ ...ok, url: "" }), { url: TARGET_MESSAGES.url });
  assert.deepEqual(validateTarget({ ...ok, url: `https://example.com/${"a".repeat(2048)}` }), { url: TARGET_MESSAGES.url });
  assert.deepEqual(validateTarget({ ...ok, secret: "short" }), { secret: TARGET_MESSAGES.secret });
  assert.deepEqual(validateTarget({ ...ok, secret: "s".repeat(257) }), { secret: TARGET_MESSAGES.secret });
  assert.deepEqual(validateTarget({ ...ok, description: "a\tb" }), { description: TARGET_MESSAGES.description });
  assert.deepEqual(validateTarget({ ...ok, description: "d".repeat(201) }), { description: TARGET_MESSAGES.description });
});

test("targetViolation finds the target and field of a server violation", () => {
  assert.deepEqual(targetViolation("targets[2].url"), { index: 2, field: "url" });
  assert.deepEqual(targetViolation("targets[0].target_id"), { index: 0, field: "targetId" });
  assert.deepEqual(targetViolation("targets[11].secret"), { index: 11, field: "secret" });
  assert.equal(targetViolation("targets"), undefined);
  assert.equal(targetViolation("config.max_budget_micros"), undefined);
});

test("actionLabel names every audited action", () => {
  assert.equal(actionLabel("notification_targets_updated"), "Notification targets updated");
  assert.equal(actionLabel("budget_config_updated"), "Budget updated");
  assert.equal(actionLabel("tenant_created"), "Tenant created");
  assert.equal(actionLabel("something_new"), "something_new");
});
