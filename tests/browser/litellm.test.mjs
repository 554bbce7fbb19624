// LiteLLM's figures on the page: "Budget data unavailable" while LiteLLM (litellm-sim) fails, with
// the config form, alerts and audit log still working; the figures coming back once it answers
// again; a save LiteLLM refuses; a key LiteLLM no longer knows; and the page's 60-second refresh.
//
// Seeding reads each new tenant's status once (so the fleet view shows it), which fills the
// service's status cache; this file's stack keeps statuses for 1 s only, so that after a short
// wait the page's read really goes to LiteLLM.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import {
  COLORS,
  assertNoProblems,
  closePage,
  launchBrowser,
  newPage,
  open,
  screenshot,
  startStack,
  style,
  text,
  uniqueId,
} from "./harness.mjs";

const CACHE_TTL_SECS = 1;
let stack;
let browser;

before(async () => {
  [stack, browser] = await Promise.all([startStack({ cacheTtlSecs: CACHE_TTL_SECS }), launchBrowser()]);
});

after(async () => {
  await stack?.sim.clearFaults().catch(() => {});
  await browser?.close();
  await stack?.stop();
});

/** A fresh tenant whose cached status has expired. */
async function seedAndExpire(seed) {
  const result = await stack.seedTenant(seed);
  await sleep(CACHE_TTL_SECS * 1000 + 300);
  return result;
}

for (const fault of ["status_500", "malformed_json", "connection_reset"]) {
  test(`${fault} from /key/info: Budget data unavailable; config, alerts and audit log still render`, async () => {
    const id = uniqueId("unavail");
    await seedAndExpire({
      id,
      display_name: "Unavailable Inc",
      max_budget_usd: 750,
      alert_threshold_percent: 70,
      grace_threshold_percent: 120,
      budget_duration: "60d",
      spend_usd: 100,
      history_days: 10,
      alerts: [{ kind: "threshold", spend_usd: 530, threshold_percent: 70, message: "70% reached", minutes_ago: 30 }],
    });
    await stack.sim.addFault({ path_prefix: "/key/info", fault });
    const page = await newPage(browser);
    try {
      await open(page, stack, `/tenants/${id}`);
      assert.equal(await text(page, "#status-error"), "Budget data unavailable");
      assert.equal(await page.isVisible("#usage-body"), false, "no stale or empty figures are shown");
      // The form is prefilled from the database and can be used.
      assert.equal(await page.inputValue("#max-budget-input"), "750");
      assert.equal(await page.inputValue("#alert-threshold-input"), "70");
      assert.equal(await page.inputValue("#grace-threshold-input"), "120");
      assert.equal(await page.inputValue("#budget-duration-select"), "60d");
      assert.equal(await page.isEnabled("#max-budget-input"), true);
      assert.equal(await page.isEnabled("#save-button"), true);
      assert.equal(await text(page, "#block-amount"), "Will block at $900.00 (120% of $750.00)");
      // Alerts and the audit log come from the database.
      assert.equal(await page.locator("#alerts-table tbody tr").count(), 1);
      assert.equal(await page.locator("#alerts-table tbody tr td").nth(1).innerText(), "70% Threshold");
      assert.match(await text(page, "#audit-log"), /Tenant created/);
      if (fault === "status_500") await screenshot(page, "unavailable");
      // gRPC-web carries the failure in a 200 response, so nothing failed at the HTTP level.
      assertNoProblems(page);

      // Failures are not cached: once LiteLLM answers again, a reload shows the figures.
      await stack.sim.clearFaults();
      await open(page, stack, `/tenants/${id}`);
      assert.equal(await page.isVisible("#status-error"), false);
      assert.equal(await text(page, "#current-spend"), "$100.00");
      assert.equal(await text(page, "#percent-used"), "13.3%");
      assert.equal(await style(page, "#budget-bar", "background-color"), COLORS.ok);
    } finally {
      await closePage(page);
      await stack.sim.clearFaults();
    }
  });
}

test("a save while LiteLLM fails is refused with a message, and the typed values stay", async (t) => {
  const id = uniqueId("savefail");
  const { virtual_key: key } = await seedAndExpire({ id, max_budget_usd: 500, spend_usd: 100 });
  const page = await newPage(browser);
  try {
    await open(page, stack, `/tenants/${id}`);
    await stack.sim.addFault({ path_prefix: "/key/update", fault: "status_500" });
    await page.fill("#max-budget-input", "650");
    await page.click("#save-button");
    await page.waitForSelector("#form-message.error");
    const message = await text(page, "#form-message");
    t.diagnostic(`message: ${message}`);
    // The service's own sentence: it was reached, LiteLLM refused, nothing was saved.
    assert.equal(message, "LiteLLM unavailable; nothing was saved");
    assert.equal(await page.inputValue("#max-budget-input"), "650");
    await stack.sim.clearFaults();
    // Nothing half-saved: LiteLLM and the stored config still say 500.
    assert.equal((await stack.sim.key(key)).max_budget, 550);
    await open(page, stack, `/tenants/${id}`);
    assert.equal(await page.inputValue("#max-budget-input"), "500");
    assert.equal(await text(page, "#max-budget"), "$500.00");
  } finally {
    await closePage(page);
    await stack.sim.clearFaults();
  }
});

test("a key LiteLLM no longer knows shows the lost-key notice (found by its ErrorInfo reason, through the gateway)", async () => {
  const id = uniqueId("lostkey");
  await seedAndExpire({ id, max_budget_usd: 500, spend_usd: 100 });
  await stack.sim.addFault({ path_prefix: "/key/info", fault: "not_found" });
  const page = await newPage(browser);
  try {
    await open(page, stack, `/tenants/${id}`);
    await page.waitForSelector("#key-lost:not([hidden])");
    assert.match(await text(page, "#key-lost"), /LiteLLM no longer knows this tenant's key/);
    assertNoProblems(page);
  } finally {
    await closePage(page);
    await stack.sim.clearFaults();
  }
});

test("the usage figures refresh by themselves every 60 s", async () => {
  const id = uniqueId("refresh");
  const { virtual_key: key } = await seedAndExpire({ id, max_budget_usd: 1000, spend_usd: 500 });
  const page = await newPage(browser);
  try {
    // The page's clock is Playwright's, so a minute can pass at once.
    await page.clock.install();
    await open(page, stack, `/tenants/${id}`);
    assert.equal(await text(page, "#current-spend"), "$500.00");
    assert.equal(await style(page, "#budget-bar", "background-color"), COLORS.ok);

    await stack.sim.setSpend(key, 850);
    await sleep(CACHE_TTL_SECS * 1000 + 300);
    await page.clock.fastForward(30_000);
    await sleep(300);
    assert.equal(await text(page, "#current-spend"), "$500.00", "no refresh before the minute is up");
    assert.match(await text(page, "#updated-ago"), /^Updated 3\d s ago$/);

    await page.clock.fastForward(30_000);
    await page.waitForFunction(() => document.getElementById("current-spend").textContent === "$850.00");
    assert.equal(await text(page, "#percent-used"), "85.0%");
    assert.equal(await style(page, "#budget-bar", "background-color"), COLORS.warning);
    assert.equal(await text(page, "#budget-state"), "Warning");
    // (#updated-ago counts from the server's fetch time, so with this page's clock a minute ahead
    // of the server's it cannot be checked here.)
    assertNoProblems(page);
  } finally {
    await closePage(page);
  }
});
