// The fleet page "/": tenants fullest first with their states, search, the tenant picker,
// the narrow (375 px) layout without horizontal scrolling, and the fleet overview (counts by
// state that filter the table, totals, runs out before reset) with sortable columns.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  assertAccessible,
  assertNoProblems,
  closePage,
  isoDate,
  launchBrowser,
  newPage,
  open,
  screenshot,
  startStack,
  text,
  waitReady,
} from "./harness.mjs";

let stack;
let browser;

before(async () => {
  [stack, browser] = await Promise.all([startStack(), launchBrowser()]);
  await stack.seedDemo();
  // One more "acme" so a search can match several tenants, by id and by display name.
  await stack.seedTenant({ id: "acme-eu", display_name: "Acme Europe", max_budget_usd: 400, spend_usd: 80 });
});

after(async () => {
  await browser?.close();
  await stack?.stop();
});

function fleetRows(page) {
  return page.locator("#fleet-table tbody tr").evaluateAll((trs) =>
    trs.map((tr) => ({
      id: tr.dataset.tenantId,
      state: tr.dataset.state,
      cells: [...tr.cells].map((td) => td.innerText.trim()),
      badgeBg: getComputedStyle(tr.querySelector(".badge")).backgroundColor,
      href: tr.querySelector("a")?.getAttribute("href"),
    })),
  );
}

/** Types into the fleet search and waits for the list to settle (the search is debounced). */
async function search(page, value, expectedCount) {
  await page.fill("#fleet-search", value);
  await page.waitForFunction((want) => document.getElementById("fleet-count")?.textContent === want, expectedCount);
}

test("all tenants, fullest first, with spend, budget, percent and state", async () => {
  const page = await newPage(browser);
  try {
    await open(page, stack, "/");
    assert.equal(await text(page, "h1"), "Tenants");
    const rows = await fleetRows(page);
    assert.deepEqual(
      rows.map((r) => [r.id, r.state, ...r.cells]),
      [
        ["umbrella", "blocked", "Umbrella Corporation (umbrella)", "$348.00", "$300.00", "116.0%", "Blocked"],
        ["initech", "grace", "Initech (initech)", "$208.00", "$200.00", "104.0%", "Grace period"],
        ["globex", "warning", "Globex (globex)", "$880.00", "$1,000.00", "88.0%", "Warning"],
        ["acme", "ok", "Acme Corp (acme)", "$210.00", "$500.00", "42.0%", "OK"],
        ["acme-eu", "ok", "Acme Europe (acme-eu)", "$80.00", "$400.00", "20.0%", "OK"],
        ["hooli", "ok", "Hooli (hooli)", "$15.00", "$500.00", "3.0%", "OK"],
      ],
    );
    assert.equal(await text(page, "#fleet-count"), "6 tenants");
    // Each state's badge has its own colour; blocked is the story's dark red.
    const bg = Object.fromEntries(rows.map((r) => [r.state, r.badgeBg]));
    assert.equal(bg.blocked, "rgb(139, 0, 0)");
    assert.equal(new Set(Object.values(bg)).size, 4, `one colour per state: ${JSON.stringify(bg)}`);
    assert.equal(rows[0].href, "/tenants/umbrella");
    await screenshot(page, "fleet");
    assertNoProblems(page);
  } finally {
    await closePage(page);
  }
});

test("search filters by id or name prefix; one match opens the tenant; no match says so", async () => {
  const page = await newPage(browser);
  try {
    await open(page, stack, "/");
    await search(page, "acme", "2 tenants");
    assert.deepEqual((await fleetRows(page)).map((r) => r.id), ["acme", "acme-eu"]);
    // Display names match case-insensitively, and a single match opens that tenant.
    await page.fill("#fleet-search", "ACME E");
    await page.waitForURL(/\/tenants\/acme-eu$/);
    await waitReady(page);
    assert.equal(await text(page, "#tenant-title"), "Tenant acme-eu");

    await open(page, stack, "/");
    await search(page, "nobody", "No tenant matches “nobody”");
    assert.equal(await page.isVisible("#fleet-table"), false);
    await search(page, "", "6 tenants");
    assert.equal((await fleetRows(page)).length, 6);

    // A row's link opens the tenant page without a reload.
    await page.evaluate(() => (window.__sameDocument = true));
    await page.click("#fleet-table tr[data-tenant-id=initech] a");
    await page.waitForURL(/\/tenants\/initech$/);
    await waitReady(page);
    assert.equal(await page.evaluate(() => window.__sameDocument), true, "client-side navigation");
    assert.equal(await text(page, "#grace-indicator"), "Grace Period: Active");
    assertNoProblems(page);
  } finally {
    await closePage(page);
  }
});

test("one view's API calls share one trace; opening another view starts a new one", async () => {
  const page = await newPage(browser);
  const seen = [];
  page.on("request", (r) => {
    if (new URL(r.url()).pathname.startsWith("/budget.v1.BudgetService/")) seen.push(r.headers()["traceparent"]);
  });
  const traceIds = () => new Set(seen.splice(0).map((tp) => /^00-([0-9a-f]{32})-[0-9a-f]{16}-01$/.exec(tp ?? "")?.[1]));
  try {
    await open(page, stack, "/");
    const fleet = traceIds();
    assert.equal(fleet.size, 1, "every call of the fleet page carries one well-formed traceparent");
    assert.ok(![...fleet].includes(undefined), "every call carries a W3C traceparent");

    await page.click("#fleet-table tr[data-tenant-id=acme] a");
    await page.waitForURL(/\/tenants\/acme$/);
    await waitReady(page);
    const tenant = traceIds();
    assert.equal(tenant.size, 1, "the tenant page's calls share one trace");
    assert.ok(![...tenant].includes(undefined));
    assert.notDeepEqual([...tenant], [...fleet], "a new view is a new trace");
    assertNoProblems(page);
  } finally {
    await closePage(page);
  }
});

test("the fleet page's two search regions have distinct names", async () => {
  const page = await newPage(browser);
  try {
    await open(page, stack, "/");
    const names = await page.evaluate(() =>
      [...document.querySelectorAll('[role="search"]')].map((el) => el.getAttribute("aria-label")),
    );
    assert.deepEqual(names.toSorted(), ["Tenant search", "Tenant switcher"]);
    await assertAccessible(page, "the fleet page");
    // The check sees the critical violation: the picker's aria-expanded without its role.
    // (Unnamed duplicate landmarks are axe's best-practice rule, outside the WCAG tags: asserted above.)
    await page.evaluate(() => document.getElementById("tenant-picker-input").removeAttribute("role"));
    await assert.rejects(
      assertAccessible(page, "the fleet page"),
      /\[critical\] aria-allowed-attr: .*\n\s+#tenant-picker-input: .*aria-expanded/,
    );
    assertNoProblems(page);
  } finally {
    await closePage(page);
  }
});

/** The tenant picker's combobox state as a screen reader sees it. */
function pickerState(page) {
  return page.evaluate(() => {
    const input = document.getElementById("tenant-picker-input");
    const list = document.getElementById(input.getAttribute("aria-controls"));
    const options = [...list.querySelectorAll("[role=option]")];
    const activeId = input.getAttribute("aria-activedescendant");
    return {
      focused: document.activeElement.id,
      role: input.getAttribute("role"),
      autocomplete: input.getAttribute("aria-autocomplete"),
      expanded: input.getAttribute("aria-expanded"),
      listbox: list.getAttribute("role"),
      options: options.map((o) => o.textContent),
      active: activeId ? document.getElementById(activeId)?.textContent ?? "(missing)" : null,
      selected: options.map((o) => o.getAttribute("aria-selected")),
    };
  });
}

test("the tenant picker switches tenants (Enter on the only match, arrows through several)", async () => {
  const page = await newPage(browser);
  try {
    await open(page, stack, "/tenants/acme");
    assert.equal(await text(page, "#percent-used"), "42.0%");
    await assertAccessible(page, "a tenant page (OK state)");
    await page.fill("#tenant-picker-input", "glo");
    await page.waitForSelector("#tenant-picker-results:not([hidden]) a");
    assert.deepEqual(await page.locator("#tenant-picker-results a").allInnerTexts(), ["Globex (globex)"]);
    await page.press("#tenant-picker-input", "Enter");
    await page.waitForURL(/\/tenants\/globex$/);
    await waitReady(page);
    assert.equal(await text(page, "#tenant-title"), "Tenant globex");
    assert.equal(await text(page, "#percent-used"), "88.0%");
    assert.equal(await page.inputValue("#tenant-picker-input"), "", "the picker clears after switching");

    // Several matches: ArrowDown into the list, ArrowDown again, Enter opens the active option.
    // A real combobox: focus stays in the input, aria-activedescendant names the active option.
    await page.fill("#tenant-picker-input", "acme");
    await page.waitForFunction(() => document.querySelectorAll("#tenant-picker-results a").length === 2);
    await page.press("#tenant-picker-input", "ArrowDown");
    await page.keyboard.press("ArrowDown");
    assert.deepEqual(await pickerState(page), {
      focused: "tenant-picker-input",
      role: "combobox",
      autocomplete: "list",
      expanded: "true",
      listbox: "listbox",
      options: ["Acme Corp (acme)", "Acme Europe (acme-eu)"],
      active: "Acme Europe (acme-eu)",
      selected: ["false", "true"],
    });
    await assertAccessible(page, "a tenant page with the picker open");
    await page.keyboard.press("ArrowUp");
    assert.equal((await pickerState(page)).active, "Acme Corp (acme)");
    await page.keyboard.press("ArrowUp");
    assert.equal((await pickerState(page)).active, null, "ArrowUp from the first option leaves the list");
    await page.keyboard.press("ArrowDown");
    await page.keyboard.press("ArrowDown");
    await page.keyboard.press("ArrowDown");
    assert.equal((await pickerState(page)).active, "Acme Europe (acme-eu)", "the last option stays active");
    await page.keyboard.press("Escape");
    assert.equal((await pickerState(page)).expanded, "false");
    assert.equal((await pickerState(page)).active, null);
    await page.fill("#tenant-picker-input", "acme");
    await page.waitForFunction(() => document.getElementById("tenant-picker-input").getAttribute("aria-expanded") === "true");
    await page.keyboard.press("ArrowDown");
    await page.keyboard.press("ArrowDown");
    assert.equal((await pickerState(page)).active, "Acme Europe (acme-eu)");
    await page.keyboard.press("Enter");
    await page.waitForURL(/\/tenants\/acme-eu$/);
    await waitReady(page);
    assert.equal(await text(page, "#max-budget"), "$400.00");

    // A whole id and Enter at once (before the list has loaded) opens it too.
    await page.fill("#tenant-picker-input", "umbrella");
    await page.press("#tenant-picker-input", "Enter");
    await page.waitForURL(/\/tenants\/umbrella$/, { timeout: 5_000 });
    await waitReady(page);
    assert.equal(await text(page, "#grace-indicator"), "Blocked");
    await page.goBack();
    await page.waitForURL(/\/tenants\/acme-eu$/);
    await waitReady(page);

    // Back returns to the previous tenant.
    await page.goBack();
    await page.waitForURL(/\/tenants\/globex$/);
    await waitReady(page);
    assert.equal(await text(page, "#max-budget"), "$1,000.00");
    assertNoProblems(page);
  } finally {
    await closePage(page);
  }
});

test("at 375 px wide neither the fleet nor a tenant page scrolls sideways", async () => {
  const page = await newPage(browser, { width: 375, height: 812 });
  try {
    const overflow = () =>
      page.evaluate(() => ({
        scroll: document.documentElement.scrollWidth,
        client: document.documentElement.clientWidth,
        wide: [...document.querySelectorAll("body *")]
          .filter((el) => el.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
          .map((el) => el.id || el.tagName)
          .slice(0, 5),
      }));
    await open(page, stack, "/");
    let o = await overflow();
    assert.ok(o.scroll <= 375, `fleet scrollWidth ${o.scroll}: ${o.wide}`);
    // The table turns into labelled rows.
    assert.equal(await page.locator("#fleet-table thead").evaluate((t) => t.getBoundingClientRect().height <= 1), true);
    await screenshot(page, "narrow-fleet");

    for (const id of ["globex", "umbrella"]) {
      await open(page, stack, `/tenants/${id}`);
      o = await overflow();
      assert.ok(o.scroll <= 375, `${id} scrollWidth ${o.scroll}: ${o.wide}`);
      const chart = await page.locator("#spend-chart canvas").first().boundingBox();
      assert.ok(chart.x >= 0 && chart.x + chart.width <= 375, `the chart fits: ${JSON.stringify(chart)}`);
    }
    await screenshot(page, "narrow");
    assertNoProblems(page);
  } finally {
    await closePage(page);
  }
});

// Last in this file: it adds two tenants that the tests above do not expect.
test("the fleet overview: counts filter the table, totals, runs out before reset, sortable columns", async () => {
  // Spend spread evenly over the period so far, just under the budget: the service's forecast
  // has each reach its budget within minutes (at most 1.5 hours, on a month's last day), so
  // before the reset on the 1st; burn-fast, with a smaller share left, first.
  await stack.seedTenant({ id: "burn-fast", display_name: "Burn Fast", max_budget_usd: 400, spend_usd: 399.6, history_days: 45 });
  await stack.seedTenant({ id: "burn-slow", display_name: "Burn Slow", max_budget_usd: 1000, spend_usd: 998, history_days: 45 });
  const page = await newPage(browser);
  try {
    await open(page, stack, "/");
    const counts = () =>
      page.locator("#fleet-overview .fleet-count").evaluateAll((bs) =>
        bs.map((b) => [b.dataset.state, b.innerText.replace(/\s+/g, " ").trim(), b.getAttribute("aria-pressed")]),
      );
    assert.deepEqual(await counts(), [
      ["all", "All 8", "true"],
      ["ok", "OK 3", "false"],
      ["warning", "Warning 3", "false"],
      ["grace", "Grace period 1", "false"],
      ["blocked", "Blocked 1", "false"],
      ["suspended", "Suspended 0", "false"],
      ["unavailable", "Unavailable 0", "false"],
    ]);
    // 210 + 880 + 208 + 348 + 15 + 80 + 399.60 + 998 of 500 + 1000 + 200 + 300 + 500 + 400 + 400 + 1000.
    assert.equal(await text(page, "#fleet-totals"), "Spend this period: $3,138.60 of $4,300.00 (73.0%) across 8 tenants");

    assert.equal(await text(page, "#fleet-runs-out h2"), "2 tenants run out before their reset");
    const runsOut = await page.locator("#fleet-runs-out li").evaluateAll((lis) =>
      lis.map((li) => [li.dataset.tenantId, li.innerText, li.querySelector("a").getAttribute("href")]),
    );
    const now = await stack.sim.now();
    const reset = isoDate(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)));
    assert.deepEqual(
      runsOut.map(([id, , href]) => [id, href]),
      [
        ["burn-fast", "/tenants/burn-fast"],
        ["burn-slow", "/tenants/burn-slow"],
      ],
    );
    for (const [id, line] of runsOut) {
      const m = /^Burn (Fast|Slow) runs out (\d{4}-\d{2}-\d{2}), resets (\d{4}-\d{2}-\d{2})$/.exec(line);
      assert.ok(m, `${id}: ${line}`);
      assert.ok(m[2] >= isoDate(now) && m[2] < reset, `${id} runs out before its reset: ${line}`);
      assert.equal(m[3], reset);
    }
    await screenshot(page, "fleet-overview");

    // A count filters the table (server-side); pressing it again shows every tenant.
    await page.click("#fleet-overview .fleet-count[data-state=warning]");
    await page.waitForFunction(() => document.getElementById("fleet-count")?.textContent === "3 tenants in state Warning");
    assert.deepEqual(
      (await fleetRows(page)).map((r) => [r.id, r.cells[3], r.cells[4]]),
      [
        ["burn-fast", "99.9%", "Warning"],
        ["burn-slow", "99.8%", "Warning"],
        ["globex", "88.0%", "Warning"],
      ],
    );
    assert.equal(await page.getAttribute("#fleet-overview .fleet-count[data-state=warning]", "aria-pressed"), "true");
    await assertAccessible(page, "the fleet page filtered by state");
    await page.click("#fleet-overview .fleet-count[data-state=warning]");
    await page.waitForFunction(() => document.getElementById("fleet-count")?.textContent === "8 tenants");

    // Columns sort on the server: Spend, highest first, then lowest first.
    const spendHeader = page.locator("#fleet-table th:has(button[data-sort=spend_micros])");
    await page.click("#fleet-table button[data-sort=spend_micros]");
    await page.waitForFunction(() => document.querySelector("#fleet-table tbody tr")?.dataset.tenantId === "burn-slow");
    const bySpend = ["burn-slow", "globex", "burn-fast", "umbrella", "acme", "initech", "acme-eu", "hooli"];
    assert.deepEqual((await fleetRows(page)).map((r) => r.id), bySpend);
    assert.equal(await spendHeader.getAttribute("aria-sort"), "descending");
    assert.equal(await page.locator("#fleet-table th[aria-sort]").count(), 1, "one sorted column");
    await page.click("#fleet-table button[data-sort=spend_micros]");
    await page.waitForFunction(() => document.querySelector("#fleet-table tbody tr")?.dataset.tenantId === "hooli");
    assert.deepEqual((await fleetRows(page)).map((r) => r.id), bySpend.toReversed());
    assert.equal(await spendHeader.getAttribute("aria-sort"), "ascending");
    // A state filter keeps the order chosen.
    await page.click("#fleet-overview .fleet-count[data-state=ok]");
    await page.waitForFunction(() => document.getElementById("fleet-count")?.textContent === "3 tenants in state OK");
    assert.deepEqual((await fleetRows(page)).map((r) => r.id), ["hooli", "acme-eu", "acme"]);
    assertNoProblems(page);
  } finally {
    await closePage(page);
  }

  // The figures are for platform admins; a read-only service token still gets the table.
  const reader = await stack.createToken("fleet-reader", "service");
  const readerPage = await newPage(browser, { token: reader });
  try {
    await open(readerPage, stack, "/");
    assert.equal(await text(readerPage, "#fleet-count"), "8 tenants");
    assert.equal(await readerPage.locator("#fleet-overview").count(), 0);
    assertNoProblems(readerPage);
  } finally {
    await closePage(readerPage);
  }
});
