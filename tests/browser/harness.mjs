// Shared helpers for the browser tests and the benchmark: the real stack (target/debug/e2e-stack:
// PostgreSQL database, litellm-sim, budget-service, gateway), Debian's Chromium through
// playwright-core, seeding, litellm-sim control, page helpers and screenshots.
//
// The stack binary is built by `cargo build -p budget-e2e --bin e2e-stack`; E2E_STACK_BIN
// overrides its path. Screenshots go to target/browser-screenshots/ (BROWSER_SCREENSHOTS overrides).

import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdirSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { dirname, join, resolve } from "node:path";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, "../..");
const targetDir = process.env.CARGO_TARGET_DIR ? resolve(repoRoot, process.env.CARGO_TARGET_DIR) : join(repoRoot, "target");
export const stackBin = process.env.E2E_STACK_BIN ?? join(targetDir, "debug", "e2e-stack");
export const screenshotDir = process.env.BROWSER_SCREENSHOTS ?? join(targetDir, "browser-screenshots");

/** Colours the story asks for, as getComputedStyle reports them. */
export const COLORS = {
  ok: "rgb(40, 167, 69)",
  warning: "rgb(255, 193, 7)",
  grace: "rgb(220, 53, 69)",
  blocked: "rgb(139, 0, 0)",
};

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

// ---------------------------------------------------------------------------
// The stack.

/**
 * Starts e2e-stack and waits for its JSON line. Returns its addresses plus seeding and sim helpers.
 * `stop()` closes its stdin (it drops its database) and waits for it to exit.
 */
let currentStack = null;

export async function startStack({ cacheTtlSecs, bin = stackBin } = {}) {
  if (!existsSync(bin)) {
    throw new Error(`${bin} is missing: run \`cargo build -p budget-e2e --bin e2e-stack\` in ${repoRoot} first`);
  }
  const args = cacheTtlSecs === undefined ? [] : ["--cache-ttl-secs", String(cacheTtlSecs)];
  const child = spawn(bin, args, {
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "warn" },
  });
  // Keep the end of its log for failure messages; print it live with BROWSER_TEST_LOGS=1.
  let logTail = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk) => {
    if (process.env.BROWSER_TEST_LOGS) process.stderr.write(chunk);
    logTail = (logTail + chunk).slice(-20_000);
  });
  const exited = once(child, "exit");
  const lines = createInterface({ input: child.stdout });
  const first = await Promise.race([
    once(lines, "line").then(([line]) => line),
    exited.then(([code, signal]) => {
      throw new Error(`e2e-stack exited (${code ?? signal}) before it was ready:\n${logTail}`);
    }),
    new Promise((_, reject) => setTimeout(() => reject(new Error(`e2e-stack not ready in 60 s:\n${logTail}`)), 60_000).unref()),
  ]);
  lines.on("line", () => {}); // keep draining stdout
  const info = JSON.parse(first);

  let stopped = false;
  async function stop() {
    if (stopped) return;
    stopped = true;
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.stdin.end();
    const timeout = (ms) => new Promise((r) => setTimeout(() => r("timeout"), ms).unref());
    if ((await Promise.race([exited, timeout(20_000)])) === "timeout") {
      child.kill("SIGTERM");
      if ((await Promise.race([exited, timeout(10_000)])) === "timeout") child.kill("SIGKILL");
    }
  }

  const control = (path, body) => postJson(`${info.control_url}${path}`, body);
  const simHeaders = { authorization: `Bearer ${info.sim_master_key}` };
  const sim = {
    /** The key's snapshot (max_budget, soft_budget, spend, budget_reset_at, ...). */
    key: (key) => getJson(`${info.sim_url}/sim/keys/${encodeURIComponent(key)}`, simHeaders),
    setSpend: (key, spend) => postJson(`${info.sim_url}/sim/keys/${encodeURIComponent(key)}/spend`, { spend }, simHeaders),
    /** fault: status_500, hang, slow (delay_ms), malformed_json, truncated_json, connection_reset, not_found. */
    addFault: (fault) => postJson(`${info.sim_url}/sim/faults`, fault, simHeaders),
    clearFaults: () => request(`${info.sim_url}/sim/faults`, { method: "DELETE", headers: simHeaders }),
    now: async () => new Date((await getJson(`${info.sim_url}/sim/clock`, simHeaders)).now),
  };

  const started = {
    ...info,
    /** The e2e-stack process (gateway, budget-service and litellm-sim in one). */
    pid: child.pid,
    sim,
    /** Creates an API token: role platform_admin | tenant_admin | service; returns its value. */
    createToken: async (name, role, tenantId) =>
      (await control("/tokens", { name, role, ...(tenantId ? { tenant_id: tenantId } : {}) })).token,
    /** Creates a tenant (see budget_demo::TenantSeed); returns {virtual_key, key_hash}. */
    seedTenant: (seed) => control("/tenants", seed),
    /** Seeds acme, globex, initech, umbrella and hooli; returns {tenant id: virtual key}. */
    seedDemo: () => control("/demo", {}),
    logTail: () => logTail,
    stop,
  };
  currentStack = started;
  return started;
}

async function request(url, init) {
  const res = await fetch(url, init);
  const text = await res.text();
  if (!res.ok) throw new Error(`${init?.method ?? "GET"} ${url}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

function getJson(url, headers = {}) {
  return request(url, { headers });
}

function postJson(url, body, headers = {}) {
  return request(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
}

// ---------------------------------------------------------------------------
// The browser.

export function launchBrowser() {
  return chromium.launch({ executablePath: process.env.CHROMIUM_BIN ?? "/usr/bin/chromium", args: CHROMIUM_ARGS });
}

/**
 * A new context and page (own cache, cookies) that records page errors and failed console
 * messages; `page.problems` lists them so a test can assert there were none.
 */
export async function newPage(browser, { width = 1280, height = 900, token } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, timezoneId: "UTC" });
  // Signed in as a platform admin unless told otherwise (`token: null` stays signed out).
  const signInWith = token === undefined ? currentStack?.platform_token : token;
  if (signInWith && currentStack) await signIn(context, currentStack, signInWith);
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  page.problems = [];
  page.on("pageerror", (e) => page.problems.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    // Failed responses are reported below with their URL.
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) page.problems.push(`console: ${m.text()}`);
  });
  page.on("response", (r) => {
    // Chromium asks for /favicon.ico on its own; the dashboard has none.
    if (r.status() >= 400 && new URL(r.url()).pathname !== "/favicon.ico") page.problems.push(`HTTP ${r.status()} ${r.url()}`);
  });
  page.on("requestfailed", (r) => {
    // Leaving a page aborts its calls on purpose.
    const why = r.failure()?.errorText ?? "";
    if (why !== "net::ERR_ABORTED") page.problems.push(`request failed: ${r.url()} ${why}`);
  });
  return page;
}

/** Signs a browser context in at the stack's gateway (the sign-in form's POST). */
export async function signIn(context, stack, token) {
  const answer = await context.request.post(`${stack.gateway_url}/session`, { form: { token }, maxRedirects: 0 });
  if (answer.status() !== 303) throw new Error(`sign-in answered ${answer.status()}`);
}

/** Closes a page made by newPage together with its context. */
export function closePage(page) {
  return page.context().close();
}

/** Waits for the page's "fully drawn" flag. */
export async function waitReady(page, timeout = 15_000) {
  await page.waitForSelector("body[data-ready='1']", { timeout, state: "attached" });
}

/** Navigates to `path` on the gateway and waits until the page is drawn. */
export async function open(page, stack, path) {
  await page.goto(`${stack.gateway_url}${path}`);
  await waitReady(page);
}

export const text = (page, selector) => page.locator(selector).innerText();

/** A computed style property of the first match. */
export function style(page, selector, prop) {
  return page.locator(selector).first().evaluate((el, p) => getComputedStyle(el).getPropertyValue(p), prop);
}

export async function screenshot(page, name) {
  mkdirSync(screenshotDir, { recursive: true });
  const path = join(screenshotDir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Fails when the page logged errors (other than those `allow` matches, e.g. an expected failed call). */
export function assertNoProblems(page, allow = []) {
  const left = page.problems.filter((p) => !allow.some((re) => re.test(p)));
  assert.deepEqual(left, [], "the page logged errors");
}

// ---------------------------------------------------------------------------
// Small utilities.

let counter = 0;
/** A tenant id unique within this process (and across stacks, thanks to the pid). */
export function uniqueId(prefix) {
  counter += 1;
  return `${prefix}-${process.pid.toString(36)}-${counter}`;
}

/** "YYYY-MM-DD" of a Date in UTC. */
export const isoDate = (d) => d.toISOString().slice(0, 10);

/** Whole days from `now` until `reset`, rounded up; 0 once passed (as budget-service counts). */
export function daysUntil(reset, now) {
  return Math.max(0, Math.ceil((reset.getTime() - now.getTime()) / 86_400_000));
}

/** Parses "rgb(r, g, b)" / "rgba(r, g, b, a)" into numbers. */
export function parseRgb(css) {
  const m = /rgba?\(([^)]+)\)/.exec(css);
  assert.ok(m, `not an rgb colour: ${css}`);
  const [r, g, b, a = 1] = m[1].split(",").map((v) => Number(v.trim()));
  return { r, g, b, a };
}

/**
 * A background colour blended over white (alpha-aware), so tints can be compared by hue:
 * returns {r, g, b} in 0..255.
 */
export function overWhite(css) {
  const { r, g, b, a } = parseRgb(css);
  const mix = (c) => Math.round(c * a + 255 * (1 - a));
  return { r: mix(r), g: mix(g), b: mix(b) };
}

// ---------------------------------------------------------------------------
// gRPC-web bodies, for tests that rewrite a request on its way to the real server.

/** The protobuf fields of `buf` as [{no, wire, value}] (varints as BigInt, bytes as Buffer). */
export function decodeProto(buf) {
  const fields = [];
  let i = 0;
  const varint = () => {
    let v = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const b = buf[i++];
      v |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return v;
    }
  };
  while (i < buf.length) {
    const key = Number(varint());
    const no = key >> 3;
    const wire = key & 7;
    if (wire === 0) fields.push({ no, wire, value: varint() });
    else if (wire === 2) {
      const len = Number(varint());
      fields.push({ no, wire, value: buf.subarray(i, i + len) });
      i += len;
    } else throw new Error(`wire type ${wire} is not handled`);
  }
  return fields;
}

/** The inverse of decodeProto. */
export function encodeProto(fields) {
  const out = [];
  const varint = (v) => {
    let n = BigInt.asUintN(64, BigInt(v));
    do {
      let b = Number(n & 0x7fn);
      n >>= 7n;
      if (n > 0n) b |= 0x80;
      out.push(b);
    } while (n > 0n);
  };
  for (const f of fields) {
    varint((f.no << 3) | f.wire);
    if (f.wire === 0) varint(f.value);
    else {
      const bytes = Buffer.isBuffer(f.value) ? f.value : Buffer.from(f.value);
      varint(bytes.length);
      out.push(...bytes);
    }
  }
  return Buffer.from(out);
}

/** A gRPC-web request body (one data frame) -> the message bytes, and back. */
export function unframe(body) {
  assert.equal(body[0], 0, "an uncompressed data frame");
  return body.subarray(5, 5 + body.readUInt32BE(1));
}

export function frame(message) {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}
