// Tenant lifecycle on the tenant page: CSV export downloads and the emergency stop (Suspend).

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

test("Suspend shows the suspended banner", async (t) => {
  await stack.seedTenant({ id: "stop-co", max_budget_usd: 500, spend_usd: 50 });
  const page = await newPage(browser);
  try {
    await open(page, stack, "/tenants/stop-co");
    assert.ok(await page.locator("#suspended-banner").isHidden());
    page.on("dialog", (d) => void (d.type() === "prompt" ? d.accept("runaway agent") : d.accept()));
    await page.click("#suspend-button");
    await page.waitForSelector("#lifecycle-message:not([hidden])");
    const said = await text(page, "#lifecycle-message");
    if (said.includes("not available")) {
      t.skip("SuspendTenant answers UNIMPLEMENTED: the service side is not in this build yet");
      return;
    }
    await page.waitForSelector("#suspended-banner:not([hidden])");
    assert.equal(await text(page, "#suspended-banner"), "Suspended: LiteLLM refuses this tenant's calls");
    assert.ok(await page.locator("#resume-button").isVisible());
    await screenshot(page, "lifecycle-suspended");
  } finally {
    await closePage(page);
  }
});
