// Unit tests for the chart's y-range (bundled by `node build.mjs --tests`).
import { test } from "node:test";
import assert from "node:assert/strict";
import { forecastBeyond, HEADROOM, MIN_Y_MAX, yMaxFor } from "../src/chart-range";

test("the y-max fits spend, thresholds and budget with headroom, not the forecast (globex-like)", () => {
  // Budget $1,000, alert 80 %, grace 110 %, $880 spent; the forecast ($15,000) is not an input.
  const yMax = yMaxFor([880, 800, 1000, 1100, 12, 40]);
  assert.equal(yMax, 1100 * HEADROOM);
  assert.ok(yMax >= 1100 && yMax <= 1.5 * 1100);
  assert.equal(forecastBeyond(15_000, yMax), true);
});

test("spend above every line sets the y-max", () => {
  assert.equal(yMaxFor([1500, 800, 1000]), 1500 * HEADROOM);
});

test("a forecast inside the view needs no label", () => {
  const yMax = yMaxFor([300, 800, 1000, 1100]);
  assert.equal(forecastBeyond(600, yMax), false);
  assert.equal(forecastBeyond(yMax, yMax), false);
  assert.equal(forecastBeyond(undefined, yMax), false);
});

test("all zero, empty or invalid values give the minimum range", () => {
  assert.equal(yMaxFor([]), MIN_Y_MAX);
  assert.equal(yMaxFor([0, 0, null, undefined]), MIN_Y_MAX);
  assert.equal(yMaxFor([Number.NaN, Number.POSITIVE_INFINITY, -5]), MIN_Y_MAX);
  assert.equal(forecastBeyond(Number.NaN, MIN_Y_MAX), false);
});
