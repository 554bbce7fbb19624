// Budget Usage: bar colour and label per state, metrics, reset line, custom thresholds,
// an unknown tenant, insufficient data and the spend chart with its threshold lines.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  COLORS,
  assertAccessible,
  assertNoProblems,
  closePage,
  daysUntil,
  isoDate,
  launchBrowser,
  newPage,
  open,
  screenshot,
  startStack,
  style,
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

/** Waits until the fill's rendered width is its final share of the track (it animates). */
async function barShare(page) {
  await page.waitForFunction(() => {
    const bar = document.getElementById("budget-bar");
    const want = parseFloat(bar.style.width) / 100;
    const got = bar.getBoundingClientRect().width / bar.parentElement.clientWidth;
    return Math.abs(got - want) < 0.01;
  });
  return page.locator("#budget-bar").evaluate((bar) => bar.getBoundingClientRect().width / bar.parentElement.clientWidth);
}

/** The reset line and days the page should show for `key`, given the sim's budget_reset_at. */
async function expectedReset(key) {
  const snap = await stack.sim.key(key);
  assert.ok(snap.budget_reset_at, "the sim's key has a reset time");
  return new Date(snap.budget_reset_at);
}

const STATES = [
  {
    name: "ok",
    budget: 500,
    spend: 210,
    percent: "42.0%",
    color: COLORS.ok,
    badge: "OK",
    indicator: null,
    spendText: "$210.00",
    maxText: "$500.00",
  },
  {
    name: "warning",
    budget: 1000,
    spend: 880,
    percent: "88.0%",
    color: COLORS.warning,
    badge: "Warning",
    indicator: null,
    spendText: "$880.00",
    maxText: "$1,000.00",
  },
  {
    name: "grace",
    budget: 200,
    spend: 208,
    percent: "104.0%",
    color: COLORS.grace,
    badge: null,
    indicator: "Grace Period: Active",
    spendText: "$208.00",
    maxText: "$200.00",
  },
  {
    name: "blocked",
    budget: 300,
    spend: 348,
    percent: "116.0%",
    color: COLORS.blocked,
    badge: null,
    indicator: "Blocked",
    spendText: "$348.00",
    maxText: "$300.00",
  },
];

describe("budget usage per state", () => {
  for (const s of STATES) {
    test(`${s.name}: ${s.percent} is ${s.color} with its label, metrics and reset line`, async () => {
      const id = uniqueId(s.name);
      const { virtual_key: key } = await stack.seedTenant({
        id,
        display_name: `State ${s.name}`,
        max_budget_usd: s.budget,
        spend_usd: s.spend,
        history_days: 45,
      });
      const page = await newPage(browser);
      try {
        const before = new Date();
        await open(page, stack, `/tenants/${id}`);
        const afterLoad = new Date();

        assert.equal(await style(page, "#budget-bar", "background-color"), s.color);
        assert.equal(await page.getAttribute("#budget-bar", "data-state"), s.name);
        assert.equal(await text(page, "#budget-bar-label"), s.percent);
        assert.equal(await page.getAttribute("#budget-progress", "aria-valuenow"), s.percent.replace("%", ""));

        // The text label next to the colour: the state badge, or the grace / blocked indicator.
        if (s.badge) {
          assert.equal(await text(page, "#budget-state"), s.badge);
          assert.equal(await page.isVisible("#grace-indicator"), false);
        } else {
          assert.equal(await text(page, "#grace-indicator"), s.indicator);
          assert.equal(await page.isVisible("#budget-state"), false);
        }

        // Width: the true share, capped at the full track.
        const percent = (s.spend / s.budget) * 100;
        const share = await barShare(page);
        assert.ok(Math.abs(share - Math.min(percent, 100) / 100) < 0.01, `bar share ${share} for ${percent}%`);

        assert.equal(await text(page, "#current-spend"), s.spendText);
        assert.equal(await text(page, "#max-budget"), s.maxText);
        assert.equal(await text(page, "#percent-used"), s.percent);

        const reset = await expectedReset(key);
        const days = await text(page, "#days-until-reset");
        const allowed = new Set([daysUntil(reset, before), daysUntil(reset, afterLoad)].map(String));
        assert.ok(allowed.has(days), `days until reset ${days}, expected one of ${[...allowed]}`);
        const unit = days === "1" ? "day" : "days";
        assert.equal(await text(page, "#reset-line"), `Resets on ${isoDate(reset)} (${days} ${unit})`);
        // "30d" is monthly: LiteLLM resets on the 1st.
        assert.equal(reset.getUTCDate(), 1);
        assert.equal(reset.getUTCHours(), 0);

        assert.match(await text(page, "#updated-ago"), /^Updated \d+ s ago$/);
        await screenshot(page, s.name);
        await assertAccessible(page, `a tenant page in the ${s.name} state`);
        assertNoProblems(page);
      } finally {
        await closePage(page);
      }
    });
  }

  test("the bar of a 116 % tenant fills the track while its label says 116.0 %", async () => {
    const id = uniqueId("capped");
    await stack.seedTenant({ id, max_budget_usd: 300, spend_usd: 348 });
    const page = await newPage(browser);
    try {
      await open(page, stack, `/tenants/${id}`);
      assert.equal(await page.locator("#budget-bar").evaluate((e) => e.style.width), "100%");
      assert.ok(Math.abs((await barShare(page)) - 1) < 0.002, "the fill spans the whole track");
      assert.equal(await text(page, "#budget-bar-label"), "116.0%");
      assert.equal(await text(page, "#percent-used"), "116.0%");
    } finally {
      await closePage(page);
    }
  });

  test("a 90-day period shows the sim's reset date", async () => {
    const id = uniqueId("ninety");
    const { virtual_key: key } = await stack.seedTenant({ id, max_budget_usd: 900, spend_usd: 90, budget_duration: "90d" });
    const page = await newPage(browser);
    try {
      await open(page, stack, `/tenants/${id}`);
      const reset = await expectedReset(key);
      const days = await text(page, "#days-until-reset");
      assert.ok(Number(days) >= 89 && Number(days) <= 90, `days ${days}`);
      assert.equal(await text(page, "#reset-line"), `Resets on ${isoDate(reset)} (${days} days)`);
      assert.equal(days, String(daysUntil(reset, new Date())));
      assert.equal(await style(page, "#budget-bar", "background-color"), COLORS.ok);
    } finally {
      await closePage(page);
    }
  });
});

describe("custom thresholds move the bands", () => {
  const cases = [
    { alert: 60, grace: 110, budget: 1000, spend: 550, color: COLORS.ok, state: "ok", label: "55.0%" },
    { alert: 60, grace: 110, budget: 1000, spend: 650, color: COLORS.warning, state: "warning", label: "65.0%" },
    { alert: 95, grace: 110, budget: 1000, spend: 900, color: COLORS.ok, state: "ok", label: "90.0%" },
    { alert: 80, grace: 130, budget: 1000, spend: 1200, color: COLORS.grace, state: "grace", label: "120.0%" },
    { alert: 80, grace: 100, budget: 1000, spend: 1000, color: COLORS.blocked, state: "blocked", label: "100.0%" },
  ];
  for (const c of cases) {
    test(`alert ${c.alert} % / grace ${c.grace} %: ${c.label} is ${c.state}`, async () => {
      const id = uniqueId("bands");
      await stack.seedTenant({
        id,
        max_budget_usd: c.budget,
        alert_threshold_percent: c.alert,
        grace_threshold_percent: c.grace,
        spend_usd: c.spend,
      });
      const page = await newPage(browser);
      try {
        await open(page, stack, `/tenants/${id}`);
        assert.equal(await style(page, "#budget-bar", "background-color"), c.color);
        assert.equal(await page.getAttribute("#budget-bar", "data-state"), c.state);
        assert.equal(await text(page, "#budget-bar-label"), c.label);
        if (c.state === "grace") assert.equal(await text(page, "#grace-indicator"), "Grace Period: Active");
        if (c.state === "blocked") assert.equal(await text(page, "#grace-indicator"), "Blocked");
      } finally {
        await closePage(page);
      }
    });
  }
});

describe("missing data", () => {
  test("a tenant with 3 days of history gets the insufficient-data message instead of a chart", async () => {
    const id = uniqueId("hooli");
    await stack.seedTenant({ id, display_name: "Hooli-like", max_budget_usd: 500, spend_usd: 15, history_days: 3 });
    const page = await newPage(browser);
    try {
      await open(page, stack, `/tenants/${id}`);
      assert.equal(
        await text(page, "#insufficient-data"),
        "Insufficient data (3 days so far; the chart appears after 7 days)",
      );
      assert.equal(await page.locator("#spend-chart").count(), 0);
      assert.equal(await text(page, "#percent-used"), "3.0%");
      await screenshot(page, "insufficient-data");
      assertNoProblems(page);
    } finally {
      await closePage(page);
    }
  });

  test("45 days of history: the chart is drawn with alert, budget and grace lines and the forecast", async () => {
    const id = uniqueId("chart");
    await stack.seedTenant({ id, max_budget_usd: 1000, spend_usd: 880, history_days: 45 });
    const page = await newPage(browser);
    try {
      await open(page, stack, `/tenants/${id}`);
      const chart = page.locator("#spend-chart");
      const lines = (await chart.getAttribute("data-lines")).split(",");
      for (const line of ["alert", "budget", "grace", "forecast"]) assert.ok(lines.includes(line), `data-lines ${lines}`);
      assert.equal(await chart.getAttribute("data-days"), "30");
      assert.ok(Number(await chart.getAttribute("data-cumulative-points")) > 1, "the period's burn-up line has points");

      // The canvas is drawn, and in the threshold colours: yellow (alert), red (100 %), dark red (grace).
      const pixels = await chart.locator("canvas").first().evaluate((canvas) => {
        const { width, height } = canvas;
        const data = canvas.getContext("2d").getImageData(0, 0, width, height).data;
        const near = (i, [r, g, b]) =>
          Math.abs(data[i] - r) < 24 && Math.abs(data[i + 1] - g) < 24 && Math.abs(data[i + 2] - b) < 24 && data[i + 3] > 200;
        const counts = { width, height, painted: 0, alert: 0, budget: 0, grace: 0 };
        for (let i = 0; i < data.length; i += 4) {
          if (data[i + 3] > 0) counts.painted++;
          if (near(i, [255, 193, 7])) counts.alert++;
          if (near(i, [220, 53, 69])) counts.budget++;
          if (near(i, [139, 0, 0])) counts.grace++;
        }
        return counts;
      });
      assert.ok(pixels.width > 200 && pixels.height > 150, `canvas ${pixels.width}x${pixels.height}`);
      assert.ok(pixels.painted > 2000, `painted pixels: ${pixels.painted}`);
      for (const line of ["alert", "budget", "grace"]) assert.ok(pixels[line] > 50, `${line} line pixels: ${pixels[line]}`);

      const legend = await text(page, "#chart-legend");
      assert.match(legend, /Alert threshold 80% \(\$800\.00\)/);
      assert.match(legend, /Budget 100% \(\$1,000\.00\)/);
      assert.match(legend, /Grace threshold \(blocked\) 110% \(\$1,100\.00\)/);
      assert.match(legend, /Forecast: \$[\d,]+\.\d\d by \d{4}-\d\d-\d\d/);
      assertNoProblems(page);
    } finally {
      await closePage(page);
    }
  });

  /** The chart's y-max (data-y-max) and the pixel rows of its canvas that hold each threshold colour. */
  async function chartView(page) {
    const chart = page.locator("#spend-chart");
    const yMax = Number(await chart.getAttribute("data-y-max"));
    const rows = await chart.locator("canvas").first().evaluate((canvas) => {
      const { width, height } = canvas;
      const data = canvas.getContext("2d").getImageData(0, 0, width, height).data;
      const near = (i, [r, g, b]) =>
        Math.abs(data[i] - r) < 24 && Math.abs(data[i + 1] - g) < 24 && Math.abs(data[i + 2] - b) < 24 && data[i + 3] > 200;
      const colours = { alert: [255, 193, 7], budget: [220, 53, 69], grace: [139, 0, 0] };
      const found = { height };
      for (const [name, rgb] of Object.entries(colours)) {
        const counts = new Map();
        for (let i = 0; i < data.length; i += 4) {
          if (near(i, rgb)) counts.set(Math.floor(i / 4 / width), (counts.get(Math.floor(i / 4 / width)) ?? 0) + 1);
        }
        // The line's row: the one with the most pixels of its colour.
        found[name] = [...counts].sort((a, b) => b[1] - a[1])[0]?.[0] ?? -1;
      }
      return found;
    });
    return { yMax, rows };
  }

  test("a forecast far above the budget (globex-like): the view fits the budget and lines, the forecast's end is labelled", async () => {
    const id = uniqueId("beyond");
    // A 90-day period that began today: the recent daily rate runs the forecast far past the budget.
    await stack.seedTenant({ id, max_budget_usd: 1000, spend_usd: 880, history_days: 45, budget_duration: "90d" });
    const page = await newPage(browser);
    try {
      await open(page, stack, `/tenants/${id}`);
      const legend = await text(page, "#chart-legend");
      const match = legend.match(/Forecast: \$([\d,]+\.\d\d) by (\d{4}-\d\d-\d\d)/);
      assert.ok(match, legend);
      const forecast = Number(match[1].replaceAll(",", ""));
      const { yMax, rows } = await chartView(page);
      // The block amount ($1,100) is the highest line: the view runs just above it, not to the forecast.
      assert.ok(forecast > 2 * 1100, `forecast ${forecast}`);
      assert.ok(yMax >= 1100 && yMax <= 1.5 * 1100, `y-max ${yMax}`);
      // Every threshold line is drawn inside the plot, in order: grace above budget above alert.
      for (const line of ["alert", "budget", "grace"]) {
        assert.ok(rows[line] > 0 && rows[line] < rows.height, `${line} row ${rows[line]} of ${rows.height}`);
      }
      assert.ok(rows.grace < rows.budget && rows.budget < rows.alert, JSON.stringify(rows));
      // The budget line sits in the upper part of the chart, not squashed at the bottom.
      assert.ok(rows.budget < rows.height * 0.5, JSON.stringify(rows));
      assert.equal(await text(page, "#forecast-beyond"), `Forecast $${match[1]} by ${match[2]} ↑`);
      assert.equal(await page.isVisible("#forecast-beyond"), true);
      await assertAccessible(page);
      assertNoProblems(page);
    } finally {
      await closePage(page);
    }
  });

  test("a forecast inside the view: no forecast label, the view still fits the lines", async () => {
    const id = uniqueId("fits");
    await stack.seedTenant({ id, max_budget_usd: 1000, spend_usd: 500, history_days: 45, projected_max_percent: 90 });
    const page = await newPage(browser);
    try {
      await open(page, stack, `/tenants/${id}`);
      assert.match(await text(page, "#chart-legend"), /Forecast: \$[\d,]+\.\d\d by/);
      const { yMax } = await chartView(page);
      assert.ok(yMax >= 1100 && yMax <= 1.5 * 1100, `y-max ${yMax}`);
      assert.equal(await page.locator("#forecast-beyond").count(), 0);
      assertNoProblems(page);
    } finally {
      await closePage(page);
    }
  });

  test("an unknown tenant: one not-found message, no empty sections", async () => {
    const page = await newPage(browser);
    try {
      await open(page, stack, "/tenants/no-such-tenant");
      assert.equal(await text(page, "#page-error"), "Tenant no-such-tenant not found");
      for (const id of ["usage", "trend", "alerts", "config", "audit"]) {
        assert.equal(await page.isVisible(`#${id}`), false, `#${id} is hidden`);
      }
      assertNoProblems(page);
    } finally {
      await closePage(page);
    }
  });
});

test("the tenant page lists this period's spend by model: the top five and other models, with amounts", async () => {
  const id = uniqueId("models");
  await stack.seedTenant({
    id,
    max_budget_usd: 500,
    spend_usd: 0,
    models: [
      { model: "gpt-4o", usd: 40 },
      { model: "claude-3-5-sonnet", usd: 25 },
      { model: "gpt-4o-mini", usd: 15 },
      { model: "o1", usd: 10 },
      { model: "llama3", usd: 9.7 },
      { model: "mistral-large", usd: 0.2 },
      { model: "gemini-pro", usd: 0.1 },
    ],
  });
  const page = await newPage(browser);
  try {
    await open(page, stack, `/tenants/${id}`);
    assert.equal(await text(page, "#models-heading"), "Spend by model this period");
    const rows = await page.locator("#model-list > li").evaluateAll((items) =>
      items.map((li) => [li.querySelector(".model-name").textContent, li.querySelector(".model-amount").textContent]),
    );
    assert.deepEqual(rows, [
      ["openai/gpt-4o", "$40.00 (40 %)"],
      ["openai/claude-3-5-sonnet", "$25.00 (25 %)"],
      ["openai/gpt-4o-mini", "$15.00 (15 %)"],
      ["openai/o1", "$10.00 (10 %)"],
      ["openai/llama3", "$9.70 (10 %)"],
      ["Other models", "$0.30 (<1 %)"],
    ]);
    const firstOfMonth = `${new Date().toISOString().slice(0, 8)}01`;
    assert.equal(await text(page, "#models-since"), `Since ${firstOfMonth} · $100.00 in total`);
    // The bars repeat the shares, hidden from assistive technology.
    const widths = await page.locator("#model-list .model-fill").evaluateAll((fills) =>
      fills.map((f) => Math.round((f.getBoundingClientRect().width / f.parentElement.clientWidth) * 100)),
    );
    assert.deepEqual(widths, [40, 25, 15, 10, 10, 0]);
    await screenshot(page, "usage-models");
    await assertAccessible(page, "spend by model");
    assertNoProblems(page);
  } finally {
    await closePage(page);
  }
});

test("a tenant without spend says so instead of an empty list of models", async () => {
  const id = uniqueId("nomodels");
  await stack.seedTenant({ id, max_budget_usd: 500, spend_usd: 0 });
  const page = await newPage(browser);
  try {
    await open(page, stack, `/tenants/${id}`);
    assert.equal(await text(page, "#models-empty"), "No spend by model this period yet.");
    assertNoProblems(page);
  } finally {
    await closePage(page);
  }
});
