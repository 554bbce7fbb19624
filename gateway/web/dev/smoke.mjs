// Development only: drives the page against the fake server (node dev/run.mjs) and checks the
// behaviour the story asks for. `node dev/smoke.mjs [baseUrl]`; prints "N passed, N failed".
// Without a baseUrl it starts its own fake server (its saves change the fake's state).
import { chromium } from "playwright-core";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

let server;
let base = process.argv[2];
if (!base) {
  const port = 8099;
  server = spawn(process.execPath, [fileURLToPath(new URL("./run.mjs", import.meta.url)), String(port)], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise((resolve) => server.stdout.once("data", resolve));
  base = `http://127.0.0.1:${port}`;
}
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run"],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
const problems = [];
page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
page.on("console", (m) => { if (m.type() === "error") problems.push(`console: ${m.text()}`); });
let passed = 0, failed = 0;
async function check(name, fn) {
  try { await fn(); passed++; console.log(`ok   ${name}`); }
  catch (e) { failed++; console.log(`FAIL ${name}: ${e.message.split("\n")[0]}`); }
}
function eq(a, b) { if (a !== b) throw new Error(`${JSON.stringify(a)} !== ${JSON.stringify(b)}`); }
const text = (sel) => page.locator(sel).innerText();
const ready = () => page.waitForSelector("body[data-ready='1']", { timeout: 10000 });
async function open(path) { await page.goto(base + path); await ready(); }

await check("fleet sorted by percent used", async () => {
  await open("/");
  const ids = await page.locator("#fleet-table tbody tr").evaluateAll((rows) => rows.map((r) => r.dataset.tenantId));
  eq(ids.join(","), "umbrella,initech,globex,acme,newco,hooli");
  eq(await page.locator("#fleet-table tr[data-tenant-id=hooli] .badge").innerText(), "Unavailable");
});
await check("fleet search with one match opens it", async () => {
  await page.fill("#fleet-search", "glo");
  await page.waitForURL(/\/tenants\/globex$/);
  await ready();
  eq(await text("#tenant-title"), "Tenant globex");
});
await check("usage figures and bar", async () => {
  await open("/tenants/initech");
  eq(await text("#current-spend"), "$580.00");
  eq(await text("#max-budget"), "$500.00");
  eq(await text("#percent-used"), "116.0%");
  eq(await text("#budget-bar-label"), "116.0%");
  eq(await text("#grace-indicator"), "Grace Period: Active");
  eq(await page.locator("#budget-bar").evaluate((e) => getComputedStyle(e).backgroundColor), "rgb(220, 53, 69)");
  eq(await page.locator("#budget-bar").evaluate((e) => e.style.width), "100%");
  eq(await page.locator("[role=progressbar]").getAttribute("aria-valuenow"), "116.0");
  if (!/^Resets on \d{4}-\d\d-\d\d \(\d+ days?\)$/.test(await text("#reset-line"))) throw new Error(await text("#reset-line"));
  if (!/^Updated \d+ s ago$/.test(await text("#updated-ago"))) throw new Error(await text("#updated-ago"));
});
await check("chart lines", async () => {
  eq(await page.locator("#spend-chart").getAttribute("data-lines"), "alert,budget,grace,forecast");
});
await check("alerts: 10 rows, then older pages without gaps or duplicates", async () => {
  eq(await page.locator("#alerts-table tbody tr").count(), 10);
  await page.click("#show-older-alerts");
  await page.waitForFunction(() => document.querySelectorAll("#older-alerts-table tbody tr").length === 10);
  await page.click("#load-more-alerts");
  await page.waitForFunction(() => document.querySelectorAll("#older-alerts-table tbody tr").length === 15);
  eq(await page.locator("#load-more-alerts").isVisible(), false);
  const ids = await page.locator("tr[data-alert-id]").evaluateAll((rows) => rows.map((r) => r.dataset.alertId));
  eq(new Set(ids).size, 25);
  eq(ids.join(","), Array.from({ length: 25 }, (_, i) => `initech-a${i + 1}`).join(","));
  eq(await page.locator("#alerts-table tbody tr").first().getAttribute("class"), "alert-budget-exceeded");
  eq(await page.locator("#alerts-table tbody tr td:nth-child(2)").nth(3).innerText(), "120% Blocked");
});
await check("budget input: ArrowUp from 500 gives 550; 500, 1000, 123.45 valid", async () => {
  await open("/tenants/acme");
  const input = page.locator("#max-budget-input");
  eq(await input.inputValue(), "500");
  await input.focus();
  await page.keyboard.press("ArrowUp");
  eq(await input.inputValue(), "550");
  await page.keyboard.press("ArrowDown");
  eq(await input.inputValue(), "500");
  for (const v of ["500", "1000", "123.45"]) {
    await input.fill(v);
    eq(await page.locator("#max-budget-error").isVisible(), false);
    eq(await page.locator("#save-button").isDisabled(), false);
  }
  eq(await page.locator("#config-form").evaluate((f) => f.noValidate), true);
});
await check("validation messages and disabled save", async () => {
  const input = page.locator("#max-budget-input");
  await input.fill("");
  eq(await text("#max-budget-error"), "Max budget must be greater than $0");
  eq(await page.locator("#save-button").isDisabled(), true);
  await input.fill("10000001");
  eq(await text("#max-budget-error"), "Max budget must be at most $10,000,000");
  await input.fill("500");
  eq(await page.locator("#save-button").isDisabled(), false);
});
await check("live block text and period note", async () => {
  await page.locator("#grace-threshold-input").fill("120");
  eq(await text("#block-amount"), "Will block at $600.00 (120% of $500.00)");
  eq(await text("#grace-threshold-value"), "120%");
  eq(await page.locator("#reset-move-note").isVisible(), false);
  await page.selectOption("#budget-duration-select", "60d");
  const d = new Date(Date.now() + 60 * 86400000).toISOString().slice(0, 10);
  eq(await text("#reset-move-note"), `Next reset will move to ${d}`);
  await page.selectOption("#budget-duration-select", "30d");
  eq(await page.locator("#reset-move-note").isVisible(), false);
  await page.locator("#grace-threshold-input").fill("110");
});
await check("save succeeds and the page refreshes", async () => {
  await page.locator("#max-budget-input").fill("750");
  await page.click("#save-button");
  await page.waitForSelector("#form-message.success");
  eq(await text("#form-message"), "Budget configuration updated successfully");
  await page.waitForFunction(() => document.querySelector("#max-budget")?.textContent === "$750.00");
  await page.waitForFunction(() => document.querySelector("#audit-log")?.textContent.includes("Max budget $500.00 → $750.00"));
});
await check("server field violations shown at the fields", async () => {
  await page.locator("#max-budget-input").fill("999");
  await page.click("#save-button");
  await page.waitForSelector("#form-message.error");
  eq(await text("#max-budget-error"), "Max budget must be at most $10,000,000");
  eq(await text("#budget-duration-error"), "Budget period must be one of 30d, 60d, 90d");
});
await check("ABORTED keeps what was typed", async () => {
  await page.locator("#max-budget-input").fill("777");
  await page.click("#save-button");
  await page.waitForFunction(() => document.querySelector("#form-message")?.textContent.startsWith("This budget"));
  eq(await text("#form-message"), "This budget was changed by someone else. Reload to see the latest values.");
  eq(await page.locator("#max-budget-input").inputValue(), "777");
});
await check("status unavailable keeps the rest working", async () => {
  await open("/tenants/hooli");
  eq(await text("#status-error"), "Budget data unavailable");
  eq(await page.locator("#max-budget-input").inputValue(), "750");
  eq(await page.locator("#no-alerts").innerText(), "No alerts yet");
});
await check("insufficient data", async () => {
  await open("/tenants/newco");
  eq(await text("#insufficient-data"), "Insufficient data (3 days so far; the chart appears after 7 days)");
});
await check("not found", async () => {
  await open("/tenants/gone");
  eq(await text("#page-error"), "Tenant gone not found");
});
await check("picker switches tenant", async () => {
  await page.fill("#tenant-picker-input", "umb");
  await page.waitForSelector("#tenant-picker-results a");
  await page.press("#tenant-picker-input", "Enter");
  await page.waitForURL(/\/tenants\/umbrella$/);
  await ready();
  eq(await text("#grace-indicator"), "Blocked");
  eq(await page.locator("#budget-bar").evaluate((e) => getComputedStyle(e).backgroundColor), "rgb(139, 0, 0)");
  await page.goBack();
  await ready();
  eq(await text("#tenant-title"), "Tenant gone");
});
await check("no console errors (CSP included)", async () => {
  eq(problems.join("\n"), "");
});
await browser.close();
server?.kill();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
