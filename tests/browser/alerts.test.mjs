// Alert history: event names with the real thresholds, row tints per severity, "No alerts yet",
// and paging through older alerts without duplicates or gaps.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  assertAccessible,
  assertNoProblems,
  closePage,
  launchBrowser,
  newPage,
  open,
  overWhite,
  startStack,
  text,
  uniqueId,
} from "./harness.mjs";

let stack;
let browser;

before(async () => {
  [stack, browser] = await Promise.all([startStack(), launchBrowser()]);
});

after(async () => {
  await browser?.close();
  await stack?.stop();
});

/** Each row of a table as {id, cls, cells, title, bg}. */
function rows(page, selector) {
  return page.locator(`${selector} tbody tr`).evaluateAll((trs) =>
    trs.map((tr) => ({
      id: tr.dataset.alertId,
      cls: tr.className,
      title: tr.title,
      cells: [...tr.cells].map((td) => td.innerText.trim()),
      bg: getComputedStyle(tr).backgroundColor,
    })),
  );
}

test("event names carry the alert's real thresholds; rows are tinted by severity", async () => {
  const id = uniqueId("kinds");
  await stack.seedTenant({
    id,
    max_budget_usd: 400,
    alert_threshold_percent: 75,
    grace_threshold_percent: 120,
    spend_usd: 490,
    alerts: [
      { kind: "blocked", spend_usd: 480, threshold_percent: 120, message: "blocked now", minutes_ago: 5 },
      { kind: "budget_exceeded", spend_usd: 401, threshold_percent: 100, message: "over budget", minutes_ago: 60 },
      { kind: "projected_limit", spend_usd: 350, threshold_percent: 100, message: "projected", minutes_ago: 120 },
      { kind: "threshold", spend_usd: 300, threshold_percent: 75, message: "at 75", minutes_ago: 180 },
    ],
  });
  const page = await newPage(browser);
  try {
    await open(page, stack, `/tenants/${id}`);
    const got = await rows(page, "#alerts-table");
    assert.deepEqual(
      got.map((r) => [r.cls, r.cells[1], r.cells[2], r.cells[3], r.cells[4], r.title]),
      [
        ["alert-blocked", "120% Blocked", "$480.00", "$400.00", "120.0%", "blocked now"],
        ["alert-budget-exceeded", "100% Budget Exceeded", "$401.00", "$400.00", "100.3%", "over budget"],
        ["alert-projected-limit", "Projected Limit", "$350.00", "$400.00", "87.5%", "projected"],
        ["alert-threshold", "75% Threshold", "$300.00", "$400.00", "75.0%", "at 75"],
      ],
    );
    // Newest first, with a UTC timestamp to the second.
    for (const r of got) assert.match(r.cells[0], /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
    const stamps = got.map((r) => r.cells[0]);
    assert.deepEqual([...stamps].sort().reverse(), stamps);

    const [blocked, exceeded, projected, threshold] = got.map((r) => overWhite(r.bg));
    const isYellowish = (c) => c.r > 240 && c.g > 220 && c.b < c.g - 15;
    const isReddish = (c) => c.r > c.g + 10 && Math.abs(c.g - c.b) < 12;
    const lum = (c) => 0.2126 * c.r + 0.7152 * c.g + 0.0722 * c.b;
    assert.ok(isYellowish(threshold), `threshold row ${JSON.stringify(threshold)}`);
    assert.ok(isYellowish(projected), `projected row ${JSON.stringify(projected)}`);
    assert.ok(isReddish(exceeded), `budget exceeded row ${JSON.stringify(exceeded)}`);
    assert.ok(isReddish(blocked), `blocked row ${JSON.stringify(blocked)}`);
    assert.ok(lum(blocked) < lum(exceeded) - 5, "blocked rows are darker than budget-exceeded rows");
    assert.notDeepEqual(threshold, exceeded);
    // Each row's first cell carries a severity stripe in the state colours.
    const stripes = await page
      .locator("#alerts-table tbody tr td:first-child")
      .evaluateAll((tds) => tds.map((td) => getComputedStyle(td).boxShadow));
    assert.match(stripes[0], /rgb\(139, 0, 0\)/);
    assert.match(stripes[1], /rgb\(220, 53, 69\)/);
    assert.match(stripes[2], /rgb\(255, 193, 7\)/);
    assert.match(stripes[3], /rgb\(255, 193, 7\)/);
    assert.equal(await page.isVisible("#show-older-alerts"), false, "4 alerts fit on the first page");
    await assertAccessible(page, "a tenant page with tinted alert rows");
    assertNoProblems(page);
  } finally {
    await closePage(page);
  }
});

test("default thresholds read 80% Threshold and 110% Blocked", async () => {
  const id = uniqueId("defaults");
  await stack.seedTenant({
    id,
    max_budget_usd: 300,
    spend_usd: 348,
    alerts: [
      { kind: "blocked", spend_usd: 330.1, threshold_percent: 110, message: "blocked", minutes_ago: 4 },
      { kind: "threshold", spend_usd: 241, threshold_percent: 80, message: "80", minutes_ago: 120 },
    ],
  });
  const page = await newPage(browser);
  try {
    await open(page, stack, `/tenants/${id}`);
    const got = await rows(page, "#alerts-table");
    assert.deepEqual(
      got.map((r) => r.cells[1]),
      ["110% Blocked", "80% Threshold"],
    );
    assert.equal(got[0].cells[4], "110.0%");
  } finally {
    await closePage(page);
  }
});

test("No alerts yet when the tenant has none", async () => {
  const id = uniqueId("quiet");
  await stack.seedTenant({ id, max_budget_usd: 500, spend_usd: 10 });
  const page = await newPage(browser);
  try {
    await open(page, stack, `/tenants/${id}`);
    assert.equal(await text(page, "#no-alerts"), "No alerts yet");
    assert.equal(await page.locator("#alerts-table").count(), 0);
    assert.equal(await page.isVisible("#show-older-alerts"), false);
    assertNoProblems(page);
  } finally {
    await closePage(page);
  }
});

test("25 alerts: the latest 10, then Show older alerts pages through the other 15 exactly once", async () => {
  const id = uniqueId("many");
  const kinds = ["threshold", "budget_exceeded", "blocked", "projected_limit"];
  const thresholds = { threshold: 80, budget_exceeded: 100, blocked: 110, projected_limit: 100 };
  const alerts = Array.from({ length: 25 }, (_, i) => {
    const kind = kinds[i % kinds.length];
    // alert 1 is the newest; equal spacing so the order is unambiguous.
    return { kind, spend_usd: 100 + i, threshold_percent: thresholds[kind], message: `alert ${i + 1}`, minutes_ago: (i + 1) * 7 };
  });
  await stack.seedTenant({ id, max_budget_usd: 200, spend_usd: 150, alerts });
  const page = await newPage(browser);
  try {
    await open(page, stack, `/tenants/${id}`);
    const first = await rows(page, "#alerts-table");
    assert.deepEqual(
      first.map((r) => r.title),
      Array.from({ length: 10 }, (_, i) => `alert ${i + 1}`),
    );
    assert.equal(await text(page, "#alerts-count"), "Showing the latest 10 of 25 alerts");

    const toggle = page.locator("#show-older-alerts");
    assert.equal(await toggle.innerText(), "Show older alerts");
    assert.equal(await page.isVisible("#older-alerts"), false);
    await toggle.click();
    assert.equal(await toggle.getAttribute("aria-expanded"), "true");
    assert.equal(await toggle.innerText(), "Hide older alerts");
    await page.waitForFunction(() => document.querySelectorAll("#older-alerts-table tbody tr").length === 10);
    assert.equal(await page.isVisible("#load-more-alerts"), true);
    await page.click("#load-more-alerts");
    await page.waitForFunction(() => document.querySelectorAll("#older-alerts-table tbody tr").length === 15);
    await page.waitForSelector("#load-more-alerts", { state: "hidden" });

    const older = await rows(page, "#older-alerts-table");
    assert.deepEqual(
      older.map((r) => r.title),
      Array.from({ length: 15 }, (_, i) => `alert ${i + 11}`),
      "older pages continue where the first stopped, newest first",
    );
    const ids = [...first, ...older].map((r) => r.id);
    assert.equal(new Set(ids).size, 25, "no alert is shown twice");
    // Older rows keep their names and tints.
    assert.equal(older[0].cells[1], "110% Blocked"); // alert 11: i = 10 -> blocked
    assert.equal(older[0].cls, "alert-blocked");
    assert.equal(older[14].cells[1], "80% Threshold"); // alert 25: i = 24 -> threshold

    // Hiding and showing again keeps what was loaded.
    await toggle.click();
    assert.equal(await page.isVisible("#older-alerts"), false);
    await toggle.click();
    assert.equal(await page.locator("#older-alerts-table tbody tr").count(), 15);
    assertNoProblems(page);
  } finally {
    await closePage(page);
  }
});
