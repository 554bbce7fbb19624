// Unit tests for the what-if sentence (src/whatif.ts) and its view model.
import "./window-stub";
import { test } from "node:test";
import assert from "node:assert/strict";
import { BudgetPreview, Crossing } from "../src/gen/budget/v1/budget";
import { timestampFromDate } from "../src/api";
import { whatIfOf, whatIfSentence, type WhatIf } from "../src/whatif";

const day = (iso: string) => new Date(`${iso}T12:00:00Z`);
const RESET = new Date("2026-12-01T00:00:00Z");

function whatIf(over: Partial<WhatIf>): WhatIf {
  return {
    dailyRateMicros: 20_000_000n,
    alert: { kind: "not-before-reset" },
    block: { kind: "not-before-reset" },
    resetTime: RESET,
    periodChanges: false,
    ...over,
  };
}

test("alert and block before the reset: both dates", () => {
  assert.equal(
    whatIfSentence(whatIf({ alert: { kind: "on", date: day("2026-11-20") }, block: { kind: "on", date: day("2026-11-27") } })),
    "At $20.00 a day you reach the alert threshold on 2026-11-20 and are blocked on 2026-11-27.",
  );
});

test("a block after the reset says not before the reset, with its date", () => {
  assert.equal(
    whatIfSentence(whatIf({ alert: { kind: "on", date: day("2026-11-29") } })),
    "At $20.00 a day you reach the alert threshold on 2026-11-29 and are not blocked before the reset on 2026-12-01.",
  );
  assert.equal(
    whatIfSentence(whatIf({ dailyRateMicros: 0n })),
    "At $0.00 a day you reach neither the alert threshold nor the block amount before the reset on 2026-12-01.",
  );
  assert.equal(
    whatIfSentence(whatIf({ resetTime: undefined })),
    "At $20.00 a day you reach neither the alert threshold nor the block amount before the next reset.",
  );
});

test("thresholds already passed are said so, not dated", () => {
  assert.equal(
    whatIfSentence(whatIf({ alert: { kind: "reached" }, block: { kind: "on", date: day("2026-11-25") } })),
    "The alert threshold is already passed; at $20.00 a day you are blocked on 2026-11-25.",
  );
  assert.equal(
    whatIfSentence(whatIf({ alert: { kind: "reached" } })),
    "The alert threshold is already passed; at $20.00 a day you are not blocked before the reset on 2026-12-01.",
  );
  assert.equal(
    whatIfSentence(whatIf({ alert: { kind: "reached" }, block: { kind: "reached" } })),
    "These settings block the tenant at once: spend is already at the block amount.",
  );
});

test("a new period is flagged: LiteLLM moves the reset on save", () => {
  const text = whatIfSentence(whatIf({ alert: { kind: "on", date: day("2026-11-29") }, periodChanges: true }));
  assert.match(text, /^At \$20\.00 a day you reach the alert threshold on 2026-11-29 and are not blocked before the reset on 2026-12-01\. /);
  assert.match(text, /Saving a new period makes LiteLLM move the reset; these dates are against the current one\.$/);
});

test("whatIfOf reads the crossings; a time only counts with CROSSING_BEFORE_RESET", () => {
  const at = new Date("2026-11-20T06:30:00Z");
  const preview = BudgetPreview.fromPartial({
    dailyRateMicros: 1_234_560_000n,
    alert: { amountMicros: 1n, crossing: Crossing.REACHED },
    block: { amountMicros: 2n, crossing: Crossing.BEFORE_RESET, time: timestampFromDate(at) },
    resetTime: timestampFromDate(RESET),
    periodChanges: true,
  });
  assert.deepEqual(whatIfOf(preview), {
    dailyRateMicros: 1_234_560_000n,
    alert: { kind: "reached" },
    block: { kind: "on", date: at },
    resetTime: RESET,
    periodChanges: true,
  });
  // Unset milestones, or BEFORE_RESET without a time, are never given a date.
  const bare = whatIfOf(BudgetPreview.fromPartial({ block: { crossing: Crossing.BEFORE_RESET } }));
  assert.deepEqual([bare.alert, bare.block, bare.resetTime], [{ kind: "not-before-reset" }, { kind: "not-before-reset" }, undefined]);
});
