// Shared helpers for the browser tests and the benchmark: the real stack (stack.mjs:
// target/debug/e2e-stack with a PostgreSQL database, litellm-sim, budget-service, gateway),
// Debian's Chromium through playwright-core, page helpers and screenshots.
//
// Screenshots go to target/browser-screenshots/ (BROWSER_SCREENSHOTS overrides).

import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

import { startStack as startBareStack, repoRoot, stackBin, targetDir } from "./stack.mjs";

export { repoRoot, stackBin };
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
// The stack (stack.mjs), remembered so pages sign in to it.

let currentStack = null;

/** Starts e2e-stack (see stack.mjs) and makes it the one newPage signs in to. */
export async function startStack(options) {
  currentStack = await startBareStack(options);
  return currentStack;
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

// The axe-core source, evaluated into the page over the DevTools protocol: the gateway's CSP
// (script-src 'self') would refuse an injected <script> tag.
let axeSource;
const AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"];

/** Runs axe-core (WCAG 2.2 AA rule set) on the page as it is now and fails on any violation. */
export async function assertAccessible(page, context = "the page") {
  axeSource ??= readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
  if (!(await page.evaluate(() => typeof window.axe === "object"))) await page.evaluate(axeSource);
  const violations = await page.evaluate(
    (tags) =>
      window.axe.run(document, { runOnly: { type: "tag", values: tags }, resultTypes: ["violations"] }).then((r) =>
        r.violations.map((v) => ({
          id: v.id,
          impact: v.impact,
          help: v.help,
          nodes: v.nodes.map((n) => `${n.target.join(" ")}: ${n.failureSummary.replace(/\s+/g, " ")}`),
        })),
      ),
    AXE_TAGS,
  );
  const list = violations.map((v) => `- [${v.impact}] ${v.id}: ${v.help}\n    ${v.nodes.join("\n    ")}`).join("\n");
  assert.equal(violations.length, 0, `axe-core (WCAG 2.2 AA) found violations on ${context}:\n${list}`);
}

/**
 * Fails when the page scrolls sideways at its current width: the document is no wider than the
 * viewport and no visible element's right edge lies beyond it (parts cut off by a box that fits,
 * such as visually hidden captions, are not visible).
 */
export async function assertFitsWidth(page, context = "the page") {
  const o = await page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    const name = (el) => el.tagName.toLowerCase() + (el.id ? `#${el.id}` : "") + (el.classList.length ? `.${[...el.classList].join(".")}` : "");
    return {
      width,
      scroll: document.documentElement.scrollWidth,
      wide: [...document.querySelectorAll("body *")]
        .filter((el) => {
          const r = el.getBoundingClientRect();
          if (r.width === 0 || r.height === 0 || r.right <= width + 0.5) return false;
          // Content cut off by a clipping box that itself fits (e.g. visually hidden text) is not seen.
          for (let up = el; up && up !== document.body; up = up.parentElement) {
            const clips = getComputedStyle(up).overflowX !== "visible";
            if (clips && up.getBoundingClientRect().right <= width + 0.5) return false;
          }
          return true;
        })
        .map((el) => `${name(el)} (right ${Math.round(el.getBoundingClientRect().right)})`)
        .slice(0, 8),
    };
  });
  assert.ok(o.scroll <= o.width, `${context}: the document is ${o.scroll} px wide in a ${o.width} px viewport (${o.wide.join(", ")})`);
  assert.deepEqual(o.wide, [], `${context}: elements reach beyond the ${o.width} px viewport`);
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
