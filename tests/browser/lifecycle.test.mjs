// Tenant lifecycle on the tenant page: CSV export downloads, the emergency stop (Suspend) and
// its confirmation dialog used with the keyboard alone.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { assertNoProblems, closePage, launchBrowser, newPage, open, screenshot, startStack, text } from "./harness.mjs";

let stack;
let browser;

before(async () => {
  [stack, browser] = await Promise.all([startStack(), launchBrowser()]);
});

after(async () => {
  await browser?.close();
  await stack?.stop();
});

test("the export buttons download CSV files with their header rows", async () => {
  await stack.seedTenant({ id: "export-co", max_budget_usd: 500, spend_usd: 120 });
  const page = await newPage(browser);
  try {
    await open(page, stack, "/tenants/export-co");
    assert.match(await page.inputValue("#export-start"), /^\d{4}-\d{2}-\d{2}$/);
    for (const [id, header] of [
      ["#export-daily-spend", "date,model,spend_usd"],
      ["#export-alerts", "alert_id,created_at,type,spend_usd,max_budget_usd,percent,threshold_percent,message"],
      ["#export-audit-events", "event_id,created_at,actor,action,"],
    ]) {
      const [download] = await Promise.all([page.waitForEvent("download"), page.click(id)]);
      assert.match(download.suggestedFilename(), /^export-co-.*\.csv$/);
      const body = await readFile(await download.path(), "utf8");
      assert.ok(body.startsWith(header), `${id}: ${body.slice(0, 120)}`);
      assert.ok(body.includes("\r\n"), "CRLF line ends");
    }
    await screenshot(page, "lifecycle-export");
    assertNoProblems(page);
  } finally {
    await closePage(page);
  }
});

test("Suspend shows the suspended banner", async () => {
  await stack.seedTenant({ id: "stop-co", max_budget_usd: 500, spend_usd: 50 });
  const page = await newPage(browser);
  try {
    await open(page, stack, "/tenants/stop-co");
    assert.ok(await page.locator("#suspended-banner").isHidden());
    await page.click("#suspend-button");
    await page.fill("#suspend-dialog-input", "runaway agent");
    await page.click("#suspend-dialog-confirm");
    await page.waitForSelector("#lifecycle-message:not([hidden])");
    assert.equal(await text(page, "#lifecycle-message"), "Suspended.");
    await page.waitForSelector("#suspended-banner:not([hidden])");
    assert.equal(await text(page, "#suspended-banner"), "Suspended: LiteLLM refuses this tenant's calls");
    assert.ok(await page.locator("#resume-button").isVisible());
    await screenshot(page, "lifecycle-suspended");
  } finally {
    await closePage(page);
  }
});

test("the suspend dialog with the keyboard: Escape cancels and gives the focus back, Enter without a reason is refused, Enter with one suspends; Resume the same way", async () => {
  const { virtual_key: key } = await stack.seedTenant({ id: "keys-co", max_budget_usd: 500, spend_usd: 50 });
  const page = await newPage(browser);
  try {
    await open(page, stack, "/tenants/keys-co");
    const focused = () => page.evaluate(() => document.activeElement?.id ?? "");
    // From the heading, Tab to the Suspend button.
    for (let i = 0; i < 80 && (await focused()) !== "suspend-button"; i++) await page.keyboard.press("Tab");
    assert.equal(await focused(), "suspend-button");

    await page.keyboard.press("Enter");
    await page.waitForSelector("#suspend-dialog[open]");
    assert.equal(await focused(), "suspend-dialog-input", "the reason field has the focus");
    await page.keyboard.type("not this one");
    await page.keyboard.press("Escape");
    await page.waitForSelector("#suspend-dialog", { state: "detached" });
    assert.equal(await focused(), "suspend-button", "the focus is back on Suspend");
    assert.ok(await page.locator("#suspended-banner").isHidden());
    assert.equal((await stack.sim.key(key)).blocked, false, "nothing was suspended");

    await page.keyboard.press("Space");
    await page.waitForSelector("#suspend-dialog[open]");
    await page.keyboard.press("Enter");
    assert.equal(await text(page, "#suspend-dialog-error"), "Give a reason to suspend the tenant.");
    assert.equal(await page.getAttribute("#suspend-dialog-input", "aria-invalid"), "true");
    assert.equal(await focused(), "suspend-dialog-input");
    // Tab order inside the dialog: the field, Suspend now, Cancel; it does not leave the dialog.
    await page.keyboard.press("Tab");
    assert.equal(await focused(), "suspend-dialog-confirm");
    await page.keyboard.press("Tab");
    assert.equal(await focused(), "suspend-dialog-cancel");
    await page.keyboard.press("Shift+Tab");
    await page.keyboard.press("Shift+Tab");
    assert.equal(await focused(), "suspend-dialog-input");
    await page.keyboard.type("runaway agent");
    await page.keyboard.press("Enter");
    await page.waitForSelector("#suspended-banner:not([hidden])");
    assert.equal(await text(page, "#suspended-banner"), "Suspended: LiteLLM refuses this tenant's calls");
    assert.equal((await stack.sim.key(key)).blocked, true, "LiteLLM's key is blocked");
    // The focus moved on to Resume, which replaced Suspend; Enter opens its dialog, whose confirm
    // button has the focus; Enter resumes and the focus goes back to Suspend.
    await page.waitForFunction(() => document.activeElement?.id === "resume-button");
    await page.keyboard.press("Enter");
    await page.waitForSelector("#resume-dialog[open]");
    assert.equal(await focused(), "resume-dialog-confirm");
    await page.keyboard.press("Enter");
    await page.waitForSelector("#suspended-banner", { state: "hidden" });
    await page.waitForFunction(() => document.activeElement?.id === "suspend-button");
    assert.equal((await stack.sim.key(key)).blocked, false, "LiteLLM's key is unblocked");
    assertNoProblems(page);
  } finally {
    await closePage(page);
  }
});
