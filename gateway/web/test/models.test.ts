// Unit tests for the spend-by-model view (bundled by `node build.mjs --tests`).
import { test } from "node:test";
import assert from "node:assert/strict";
import { modelsView } from "../src/models";

const $ = (dollars: number) => BigInt(Math.round(dollars * 100)) * 10_000n;

test("the top five and other models are listed with amounts and shares of their sum", () => {
  const view = modelsView({
    periodStart: "2026-12-01",
    models: [
      { model: "openai/gpt-4o", spendMicros: $(40), other: false },
      { model: "anthropic/claude-3-5-sonnet", spendMicros: $(25), other: false },
      { model: "openai/gpt-4o-mini", spendMicros: $(15), other: false },
      { model: "openai/o1", spendMicros: $(10), other: false },
      { model: "bedrock/llama3", spendMicros: $(9.7), other: false },
      { model: "", spendMicros: $(0.3), other: true },
    ],
  });
  assert.equal(view.since, "Since 2026-12-01");
  assert.equal(view.total, "$100.00");
  assert.deepEqual(
    view.rows.map((r) => [r.label, r.amount, r.share]),
    [
      ["openai/gpt-4o", "$40.00", "40 %"],
      ["anthropic/claude-3-5-sonnet", "$25.00", "25 %"],
      ["openai/gpt-4o-mini", "$15.00", "15 %"],
      ["openai/o1", "$10.00", "10 %"],
      ["bedrock/llama3", "$9.70", "10 %"],
      ["Other models", "$0.30", "<1 %"],
    ],
  );
  assert.deepEqual(
    view.rows.map((r) => r.other),
    [false, false, false, false, false, true],
  );
  assert.equal(view.rows[0]!.width, 40);
  assert.equal(view.rows[5]!.width, 0.3);
});

test("amounts beyond 2^53 micros keep exact shares; no models is an empty list", () => {
  const big = 9_000_000_000_000_000_000n;
  const view = modelsView({
    periodStart: "",
    models: [
      { model: "a/b", spendMicros: big, other: false },
      { model: "", spendMicros: big, other: true },
    ],
  });
  assert.deepEqual(
    view.rows.map((r) => r.share),
    ["50 %", "50 %"],
  );
  assert.equal(view.since, "");
  assert.deepEqual(modelsView({ periodStart: "2026-12-01", models: [] }).rows, []);
  assert.equal(modelsView({ periodStart: "2026-12-01", models: [] }).total, "$0.00");
});
