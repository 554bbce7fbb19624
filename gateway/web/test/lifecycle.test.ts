// Unit tests for the lifecycle and export helpers (src/labels.ts, src/exports.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { formatDollarsShort } from "../src/money";
import { increaseText } from "../src/labels";
import { exportHref, exportRange, exportRangeError } from "../src/exports";

test("temporary increases show whole dollars without cents and the UTC day", () => {
  assert.equal(formatDollarsShort(200_000_000n), "$200");
  assert.equal(formatDollarsShort(1_234_500_000n), "$1,234.50");
  assert.equal(
    increaseText(200_000_000n, new Date("2026-12-05T23:59:59Z"), "launch"),
    "Temporary increase: +$200 until 2026-12-05 (launch)",
  );
  assert.equal(increaseText(5_000_000n, undefined, ""), "Temporary increase: +$5");
});

test("export ranges default to the last 30 days and are checked like the service does", () => {
  assert.deepEqual(exportRange(new Date("2026-11-28T15:00:00Z")), ["2026-10-30", "2026-11-28"]);
  assert.equal(
    exportHref("acme", "alerts", "2026-11-01", "2026-11-30"),
    "/export/acme/alerts.csv?start=2026-11-01&end=2026-11-30",
  );
  assert.equal(exportRangeError("2026-11-01", "2026-11-30"), "");
  assert.equal(exportRangeError("", "2026-11-30"), "Choose both dates.");
  assert.match(exportRangeError("2026-11-02", "2026-11-01"), /before/);
  assert.equal(exportRangeError("2025-01-01", "2026-02-05"), "");
  assert.match(exportRangeError("2025-01-01", "2026-02-06"), /400/);
});
