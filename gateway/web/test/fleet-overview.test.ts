// Unit tests for the fleet overview's view model and words (src/fleet-overview.ts) and the
// fleet table's count line.
import "./window-stub";
import { test } from "node:test";
import assert from "node:assert/strict";
import { GetFleetSummaryResponse, TenantSummary } from "../src/gen/budget/v1/budget";
import {
  coverageText,
  FLEET_STATES,
  fleetStateClass,
  fleetStateLabel,
  overviewFromSummary,
  runOutText,
  runsOutHeading,
  totalsText,
} from "../src/fleet-overview";
import { fleetCountText } from "../src/fleet";

const USD = 1_000_000n;
const at = (iso: string) => ({ seconds: BigInt(Date.parse(iso) / 1000), nanos: 0 });

test("overviewFromSummary reads counts, totals and the run-out list from the API's answer", () => {
  const res = GetFleetSummaryResponse.fromPartial({
    okCount: 5,
    warningCount: 4,
    graceCount: 3,
    blockedCount: 2,
    suspendedCount: 1,
    unavailableCount: 7,
    evaluatedCount: 15,
    totalSpendMicros: 1_234n * USD,
    totalBudgetMicros: 3_000n * USD,
    runsOutCount: 12,
    runsOut: [
      TenantSummary.fromPartial({
        tenantId: "globex",
        displayName: "Globex",
        runOutTime: { seconds: BigInt(Date.parse("2026-12-10T06:00:00Z") / 1000), nanos: 500_000_000 },
        resetTime: at("2027-01-01T00:00:00Z"),
      }),
      // No run-out time: not a tenant that runs out, whatever the server sent.
      TenantSummary.fromPartial({ tenantId: "odd" }),
    ],
  });
  const o = overviewFromSummary(res);
  assert.deepEqual(o.counts, { ok: 5, warning: 4, grace: 3, blocked: 2, suspended: 1, unavailable: 7 });
  assert.equal(o.evaluated, 15);
  assert.equal(o.totalSpendMicros, 1_234n * USD);
  assert.equal(o.totalBudgetMicros, 3_000n * USD);
  assert.equal(o.runsOutCount, 12);
  assert.deepEqual(o.runsOut, [
    {
      tenantId: "globex",
      displayName: "Globex",
      runOut: new Date("2026-12-10T06:00:00.500Z"),
      reset: new Date("2027-01-01T00:00:00Z"),
    },
  ]);
});

test("every fleet state has its words and a badge class", () => {
  assert.deepEqual(
    FLEET_STATES.map((s) => [fleetStateLabel(s), fleetStateClass(s)]),
    [
      ["OK", "ok"],
      ["Warning", "warning"],
      ["Grace period", "grace"],
      ["Blocked", "blocked"],
      ["Suspended", "blocked"],
      ["Unavailable", "unknown"],
    ],
  );
});

test("totals say spend of budget with the share, and what they cover", () => {
  assert.equal(totalsText(1_234n * USD, 3_000n * USD), "$1,234.00 of $3,000.00 (41.1%)");
  assert.equal(totalsText(3_300n * USD, 3_000n * USD), "$3,300.00 of $3,000.00 (110.0%)");
  assert.equal(totalsText(0n, 0n), "$0.00 of $0.00", "no share of no budget");
  // The service holds each sum at the int64 maximum; it is shown as it is, not wrapped.
  const max = 9_223_372_036_854_775_807n;
  assert.equal(totalsText(max, max), "$9,223,372,036,854.78 of $9,223,372,036,854.78 (100.0%)");
  assert.equal(coverageText(1), "across 1 tenant");
  assert.equal(coverageText(15), "across 15 tenants");
});

test("the run-out list says when each tenant runs out and resets, and how many there are", () => {
  const r = { tenantId: "globex", displayName: "Globex", runOut: new Date("2026-12-10T23:59:00Z"), reset: new Date("2027-01-01T00:00:00Z") };
  assert.equal(runOutText(r), "runs out 2026-12-10, resets 2027-01-01");
  assert.equal(runOutText({ ...r, reset: undefined }), "runs out 2026-12-10");
  assert.equal(runsOutHeading(0, 0), "No tenant is expected to run out before its reset");
  assert.equal(runsOutHeading(1, 1), "1 tenant runs out before its reset");
  assert.equal(runsOutHeading(3, 3), "3 tenants run out before their reset");
  assert.equal(runsOutHeading(12, 10), "12 tenants run out before their reset (soonest 10 shown)");
});

test("the fleet table's count line says how many, in which state, and whether more follow", () => {
  assert.equal(fleetCountText(6, undefined, false), "6 tenants");
  assert.equal(fleetCountText(1, "grace", false), "1 tenant in state Grace period");
  assert.equal(fleetCountText(50, undefined, true), "50 tenants so far");
  assert.equal(fleetCountText(50, "blocked", true), "50 tenants in state Blocked so far");
});
