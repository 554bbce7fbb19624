// Dashboard speed benchmark (a script, not a timed test):
//
//   node bench-dashboard.mjs [--runs N] [--warmup N] [--tenant ID] [--cache-ttl-secs N] [--stack-bin PATH]
//
// Starts the real stack (target/debug/e2e-stack, or E2E_STACK_BIN, or --stack-bin: the benchmark
// crate passes target/release/e2e-stack so the figure is the release build's), seeds the demo and launches Chromium once.
// Then, per run, a NEW browser context (empty HTTP cache, new connections) opens
// {gateway_url}/tenants/globex and the page itself records performance.now() (milliseconds
// since navigation start) the moment it sets document.body.dataset.ready = "1" (fully drawn:
// usage, chart, alerts, audit log). Prints one line per run and per figure, then a JSON summary
// as the last line. The bytes are the JS + CSS the page loaded, gzipped with zlib level 9.
//
// Warm-up runs (default 1) are loaded first and left out of the figures: the first load after
// the stack starts also pays for its connection pools and cold caches.
// Targets: median <= 150 ms, JS + CSS <= 40 KB (40 x 1024 bytes) gzipped.

import { readdirSync, readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";
import { launchBrowser, signIn, stackBin, startStack } from "./harness.mjs";

export const TARGETS = { medianMs: 150, gzipBytes: 40 * 1024 };

/** Nearest-rank percentile of sorted numbers. */
function percentile(sorted, p) {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
}

function median(sorted) {
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

// Runs before any page script: records when the page flags itself fully drawn.
function recordReady() {
  new MutationObserver((_, observer) => {
    if (document.body?.dataset.ready === "1" && window.__readyAt === undefined) {
      window.__readyAt = performance.now();
      observer.disconnect();
    }
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-ready"] });
}

/** Clock ticks (1/100 s) of CPU of every process now, by pid: {comm, ticks}. */
function processTicks() {
  const out = new Map();
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      // After "pid (comm) ": state is field 3, utime 14 and stime 15.
      const fields = stat.slice(close + 2).split(" ");
      out.set(pid, { comm: stat.slice(stat.indexOf("(") + 1, close), ticks: Number(fields[11]) + Number(fields[12]) });
    } catch {
      // The process ended meanwhile.
    }
  }
  return out;
}

/** What a process is, for the CPU split of a load. */
function processKind(pid, comm, stackPid) {
  if (Number(pid) === stackPid) return "stack";
  if (Number(pid) === process.pid) return "node";
  if (comm.startsWith("postgres")) return "postgres";
  if (/chrom|headless/i.test(comm)) {
    let cmdline = "";
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    } catch {
      // Gone: counted as the browser's.
    }
    return cmdline.includes("--type=renderer") ? "renderer" : "browser";
  }
  return "other";
}

/** Milliseconds of CPU per kind of process between two `processTicks` snapshots. */
function cpuSplit(before, after, stackPid) {
  const split = { renderer: 0, browser: 0, stack: 0, node: 0, postgres: 0, other: 0, window: 0 };
  for (const [pid, { comm, ticks }] of after) {
    const delta = ticks - (before.get(pid)?.ticks ?? 0);
    if (delta > 0) split[processKind(pid, comm, stackPid)] += delta * 10;
  }
  return split;
}

/** A cold load of a page that draws nothing (the gateway's /healthz): the browser's own floor. */
async function floorOnce(browser, stack) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  try {
    await signIn(context, stack, stack.platform_token);
    const page = await context.newPage();
    await page.goto(`${stack.gateway_url}/healthz`, { waitUntil: "load" });
    return await page.evaluate(() => performance.getEntriesByType("navigation")[0].loadEventEnd);
  } finally {
    await context.close();
  }
}

/** One load in a fresh context: {readyMs, assets: [{url, type, bytes, gzipBytes, wireBytes}]}. */
async function measureOnce(browser, url, stack) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  try {
    // Signing in sets the session cookie only; the page's caches and connections stay cold.
    await signIn(context, stack, stack.platform_token);
    await context.addInitScript(recordReady);
    const page = await context.newPage();
    // Chromium's own counters of the page's main thread (seconds of script, layout, style, tasks).
    const cdp = await context.newCDPSession(page);
    await cdp.send("Performance.enable");
    const assets = [];
    const pending = [];
    page.on("response", (response) => {
      const type = response.request().resourceType();
      if (type !== "script" && type !== "stylesheet") return;
      pending.push(
        response.body().then((body) => {
          const encoding = response.headers()["content-encoding"];
          assets.push({
            url: response.url(),
            type,
            bytes: body.length,
            gzipBytes: gzipSync(body, { level: 9 }).length,
            // What crossed the wire (the gateway's own compression), when it says so.
            wireBytes: encoding ? Number(response.headers()["content-length"] ?? NaN) : body.length,
          });
        }),
      );
    });
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    const ticksBefore = processTicks();
    const windowStart = performance.now();
    await page.goto(url, { waitUntil: "commit" });
    await page.waitForFunction(() => window.__readyAt !== undefined, null, { timeout: 30_000, polling: 50 });
    // CPU of every process from navigation to a little after "fully drawn" (the poll's lag).
    const cpu = cpuSplit(ticksBefore, processTicks(), stack.pid);
    cpu.window = performance.now() - windowStart;
    const readyMs = await page.evaluate(() => window.__readyAt);
    const { metrics } = await cdp.send("Performance.getMetrics");
    const metric = (name) => Math.round((metrics.find((m) => m.name === name)?.value ?? NaN) * 10000) / 10;
    const mainThread = {
      task: metric("TaskDuration"),
      script: metric("ScriptDuration"),
      layout: metric("LayoutDuration"),
      style: metric("RecalcStyleDuration"),
    };
    // Where the time went, from the page's own timing entries (ms since navigation start).
    const phases = await page.evaluate(() => {
      const nav = performance.getEntriesByType("navigation")[0];
      const res = performance.getEntriesByType("resource");
      const of = (pred) => res.filter(pred);
      const assets = of((r) => r.initiatorType === "script" || r.initiatorType === "link");
      const calls = of((r) => r.name.includes("/budget.v1.BudgetService/"));
      const max = (xs) => (xs.length ? Math.max(...xs) : NaN);
      const min = (xs) => (xs.length ? Math.min(...xs) : NaN);
      return {
        html: nav.responseEnd,
        assets: max(assets.map((r) => r.responseEnd)),
        dcl: nav.domContentLoadedEventEnd,
        firstCall: min(calls.map((r) => r.startTime)),
        lastCall: max(calls.map((r) => r.responseEnd)),
        slowestCall: max(calls.map((r) => r.duration)),
        // Per call: waiting in the browser (queue, connection) before the request left, and
        // the time from request sent to the first byte back (gateway + budget-service + wire).
        maxQueued: max(calls.map((r) => r.requestStart - r.startTime)),
        maxServer: max(calls.map((r) => r.responseStart - r.requestStart)),
        sumServer: calls.reduce((n, r) => n + (r.responseStart - r.requestStart), 0),
        whoAmIEnd: max(calls.filter((r) => r.name.endsWith("/WhoAmI")).map((r) => r.responseEnd)),
        calls: calls.map((r) => [r.name.split("/").pop(), Math.round(r.startTime), Math.round(r.responseEnd)]),
      };
    });
    const drawn = await page.evaluate(() => ({
      usage: !!document.querySelector("#current-spend")?.textContent.startsWith("$"),
      chart: !!document.querySelector("#spend-chart canvas"),
      alerts: !!document.querySelector("#alerts-table"),
    }));
    await Promise.all(pending);
    if (errors.length) throw new Error(`page errors: ${errors.join("; ")}`);
    if (!drawn.usage || !drawn.chart || !drawn.alerts) throw new Error(`the page was not fully drawn: ${JSON.stringify(drawn)}`);
    return { readyMs, assets, cpu, phases: { ...phases, ...Object.fromEntries(Object.entries(mainThread).map(([k, v]) => [`main_${k}`, v])) } };
  } finally {
    await context.close();
  }
}

/**
 * Runs the benchmark; `log` gets each human-readable line. Returns the summary object.
 */
export async function runBenchmark({ runs = 10, warmup = 1, tenant = "globex", cacheTtlSecs, bin = stackBin, log = console.log } = {}) {
  const [stack, browser] = await Promise.all([startStack({ cacheTtlSecs, bin }), launchBrowser()]);
  try {
    await stack.seedDemo();
    const url = `${stack.gateway_url}/tenants/${encodeURIComponent(tenant)}`;
    const loadBefore = loadavg()[0];
    log(`benchmark: ${runs} run(s) of ${url} (Chromium ${browser.version()}, ${warmup} warm-up, stack ${bin})`);
    // The figures move with whatever else the machine runs: say how busy it was.
    log(`machine: ${cpus().length} CPUs, 1-minute load average ${loadBefore.toFixed(2)}`);
    for (let i = 0; i < warmup; i++) {
      const { readyMs } = await measureOnce(browser, url, stack);
      log(`warm-up ${i + 1}: ${readyMs.toFixed(1)} ms (not counted)`);
    }
    const samples = [];
    const phaseRuns = [];
    const cpuRuns = [];
    let assets = [];
    for (let i = 0; i < runs; i++) {
      const result = await measureOnce(browser, url, stack);
      samples.push(result.readyMs);
      phaseRuns.push(result.phases);
      cpuRuns.push(result.cpu);
      if (process.env.BENCH_CALLS) log(`  calls [name, start, end]: ${JSON.stringify(result.phases.calls)}`);
      assets = result.assets;
      const p = result.phases;
      log(
        `run ${i + 1}: ${result.readyMs.toFixed(1)} ms (html ${p.html.toFixed(0)}, js+css ${p.assets.toFixed(0)}, ` +
          `DOMContentLoaded ${p.dcl.toFixed(0)}, calls ${p.firstCall.toFixed(0)}..${p.lastCall.toFixed(0)}, slowest call ${p.slowestCall.toFixed(0)} ms, ` +
          `WhoAmI done ${p.whoAmIEnd.toFixed(0)}, longest queued ${p.maxQueued.toFixed(0)}, longest request-to-first-byte ${p.maxServer.toFixed(0)}, ` +
          `main thread busy ${p.main_task} ms: script ${p.main_script}, layout ${p.main_layout}, style ${p.main_style})`,
      );
    }
    // The same-run baseline: cold loads of a page with nothing to draw, same browser and gateway.
    const floors = [];
    for (let i = 0; i < runs; i++) floors.push(await floorOnce(browser, stack));
    const sortedFloors = [...floors].sort((a, b) => a - b);
    log(`browser floor (cold load of /healthz, median of ${runs}): ${median(sortedFloors).toFixed(1)} ms`);
    const sorted = [...samples].sort((a, b) => a - b);
    const sum = (type, field) => assets.filter((a) => !type || a.type === type).reduce((n, a) => n + a[field], 0);
    const summary = {
      url_path: `/tenants/${tenant}`,
      stack_bin: bin,
      cpus: cpus().length,
      load_average_before: Math.round(loadBefore * 100) / 100,
      load_average_after: Math.round(loadavg()[0] * 100) / 100,
      runs,
      warmup,
      samples_ms: samples.map((v) => Math.round(v * 10) / 10),
      median_ms: Math.round(median(sorted) * 10) / 10,
      p90_ms: Math.round(percentile(sorted, 90) * 10) / 10,
      min_ms: Math.round(sorted[0] * 10) / 10,
      max_ms: Math.round(sorted.at(-1) * 10) / 10,
      assets: assets.map((a) => ({ path: new URL(a.url).pathname, type: a.type, bytes: a.bytes, gzip_bytes: a.gzipBytes, wire_bytes: a.wireBytes })),
      js_gzip_bytes: sum("script", "gzipBytes"),
      css_gzip_bytes: sum("stylesheet", "gzipBytes"),
      gzip_bytes: sum(null, "gzipBytes"),
      wire_bytes: sum(null, "wireBytes"),
      raw_bytes: sum(null, "bytes"),
    };
    const phaseMedian = (k) => Math.round(median(phaseRuns.map((p) => p[k]).sort((a, b) => a - b)) * 10) / 10;
    summary.phases_median_ms = Object.fromEntries(["html", "assets", "dcl", "firstCall", "whoAmIEnd", "lastCall", "slowestCall", "maxQueued", "maxServer", "sumServer", "main_task", "main_script", "main_layout", "main_style"].map((k) => [k, phaseMedian(k)]));
    summary.floor_median_ms = Math.round(median(sortedFloors) * 10) / 10;
    // Mean CPU per load by kind of process (10 ms ticks, so a mean over the runs), and the mean
    // wall time it was measured over ("window": navigation start to just after fully drawn).
    summary.cpu_ms_per_load = Object.fromEntries(
      Object.keys(cpuRuns[0] ?? {}).map((k) => [k, Math.round(cpuRuns.reduce((n, c) => n + c[k], 0) / cpuRuns.length)]),
    );
    log(`CPU per load (mean ms by process): ${JSON.stringify(summary.cpu_ms_per_load)}`);
    summary.gzip_kb = Math.round((summary.gzip_bytes / 1024) * 10) / 10;
    summary.targets = { median_ms: TARGETS.medianMs, gzip_kb: TARGETS.gzipBytes / 1024 };
    summary.meets_targets = summary.median_ms <= TARGETS.medianMs && summary.gzip_bytes <= TARGETS.gzipBytes;

    log(`fully drawn median: ${summary.median_ms} ms (target <= ${TARGETS.medianMs} ms)`);
    log(`fully drawn p90: ${summary.p90_ms} ms`);
    const ph = summary.phases_median_ms;
    log(
      `phases (median ms since navigation start): html ${ph.html}, js+css loaded ${ph.assets}, DOMContentLoaded ${ph.dcl}, ` +
        `first call ${ph.firstCall}, WhoAmI done ${ph.whoAmIEnd}, last call done ${ph.lastCall}, slowest call ${ph.slowestCall}, ` +
        `longest queued ${ph.maxQueued}, longest request-to-first-byte ${ph.maxServer} (sum over calls ${ph.sumServer}); ` +
        `main thread busy ${ph.main_task}: script ${ph.main_script}, layout ${ph.main_layout}, style ${ph.main_style}`,
    );
    log(`fully drawn min/max: ${summary.min_ms} / ${summary.max_ms} ms`);
    log(
      `JS + CSS gzipped (zlib level 9): ${summary.gzip_kb} KB = ${summary.gzip_bytes} bytes ` +
        `(JS ${summary.js_gzip_bytes}, CSS ${summary.css_gzip_bytes}; target <= ${TARGETS.gzipBytes / 1024} KB)`,
    );
    log(`JS + CSS as sent by the gateway: ${summary.wire_bytes} bytes (${summary.raw_bytes} bytes uncompressed)`);
    log(`load average during the runs: ${summary.load_average_before} -> ${summary.load_average_after}`);
    log(`targets met: ${summary.meets_targets ? "yes" : "NO"}`);
    return summary;
  } finally {
    await browser.close();
    await stack.stop();
  }
}

function parseArgs(argv) {
  const opts = {};
  for (let i = 0; i < argv.length; i++) {
    const take = () => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 0) throw new Error(`${argv[i - 1]} needs a whole number`);
      return v;
    };
    switch (argv[i]) {
      case "--runs":
        opts.runs = take();
        if (opts.runs < 1) throw new Error("--runs must be at least 1");
        break;
      case "--warmup":
        opts.warmup = take();
        break;
      case "--cache-ttl-secs":
        opts.cacheTtlSecs = take();
        break;
      case "--tenant":
        opts.tenant = argv[++i];
        break;
      case "--stack-bin":
        opts.bin = argv[++i];
        if (!opts.bin) throw new Error("--stack-bin needs a path");
        break;
      default:
        throw new Error(`unknown argument ${argv[i]} (use --runs N, --warmup N, --tenant ID, --cache-ttl-secs N, --stack-bin PATH)`);
    }
  }
  return opts;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    const summary = await runBenchmark(parseArgs(process.argv.slice(2)));
    console.log(JSON.stringify(summary));
  } catch (err) {
    console.error(err);
    process.exitCode = 1;
  }
}
