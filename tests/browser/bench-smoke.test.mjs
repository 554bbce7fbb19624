// Keeps the benchmark script working: runs `node bench-dashboard.mjs --runs 1 --warmup 0` and
// checks only that it printed its figures and a JSON summary with numbers (no timing targets).

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const script = fileURLToPath(new URL("./bench-dashboard.mjs", import.meta.url));

test("the benchmark runs once and reports numbers", async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [script, "--runs", "1", "--warmup", "0"], {
    timeout: 120_000,
    maxBuffer: 4 * 1024 * 1024,
  });
  const lines = stdout.trim().split("\n");
  assert.match(stdout, /^run 1: \d+(\.\d+)? ms/m);
  assert.match(stdout, /^fully drawn median: \d+(\.\d+)? ms/m);
  assert.match(stdout, /^fully drawn p90: \d+(\.\d+)? ms/m);
  assert.match(stdout, /^JS \+ CSS gzipped \(zlib level 9\): \d+(\.\d+)? KB/m);

  const summary = JSON.parse(lines.at(-1));
  assert.equal(summary.runs, 1);
  assert.equal(summary.samples_ms.length, 1);
  for (const key of ["median_ms", "p90_ms", "gzip_kb"]) {
    assert.ok(Number.isFinite(summary[key]) && summary[key] > 0, `${key} = ${summary[key]}`);
  }
  assert.ok(summary.js_gzip_bytes > 0 && summary.css_gzip_bytes > 0, "both the JS and the CSS were measured");
  assert.equal(summary.gzip_bytes, summary.js_gzip_bytes + summary.css_gzip_bytes);
  assert.deepEqual(summary.assets.map((a) => a.type).sort(), ["script", "stylesheet"]);
  assert.equal(typeof summary.meets_targets, "boolean");
  // What explains a miss: the same-run floor and where the CPU went, by process.
  assert.ok(Number.isFinite(summary.floor_median_ms) && summary.floor_median_ms > 0, `floor ${summary.floor_median_ms}`);
  assert.ok(summary.cpu_ms_per_load.renderer > 0, `renderer CPU ${JSON.stringify(summary.cpu_ms_per_load)}`);
  for (const key of ["main_task", "main_script", "maxServer"]) {
    assert.ok(Number.isFinite(summary.phases_median_ms[key]), `${key} = ${summary.phases_median_ms[key]}`);
  }
});
