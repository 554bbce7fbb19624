// The Budget Configuration form: defaults, period labels and reset note, validation at each
// field (client and server), the live block amount, saving (page, audit log, litellm-sim key),
// the stale-etag conflict, and keyboard-only use with labelled inputs.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  COLORS,
  assertAccessible,
  assertNoProblems,
  closePage,
  decodeProto,
  encodeProto,
  frame,
  isoDate,
  launchBrowser,
  newPage,
  open,
  startStack,
  style,
  text,
  unframe,
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

const SAVED = "Budget configuration updated successfully";
const CONFLICT = "This budget was changed by someone else. Reload to see the latest values.";
const MSG = {
  positive: "Max budget must be greater than $0",
  tooLarge: "Max budget must be at most $10,000,000",
  alert: "Alert threshold must be between 50% and 100%",
  grace: "Grace threshold must be between 100% and 150%",
  duration: "Budget period must be one of 30d, 60d, 90d",
};

/** A fresh tenant (500 / 80 / 110 / 30d unless `seed` says otherwise) and a page open on it. */
async function tenantPage(prefix, seed = {}) {
  const id = uniqueId(prefix);
  const { virtual_key: key } = await stack.seedTenant({ id, max_budget_usd: 500, ...seed });
  const page = await newPage(browser);
  await open(page, stack, `/tenants/${id}`);
  return { id, key, page };
}

/** Sets a range input with the keyboard: focus, then arrow presses from its current value. */
async function slide(page, selector, target) {
  const input = page.locator(selector);
  await input.focus();
  const now = Number(await input.inputValue());
  const key = target > now ? "ArrowRight" : "ArrowLeft";
  for (let i = 0; i < Math.abs(target - now); i++) await page.keyboard.press(key);
  assert.equal(await input.inputValue(), String(target));
}

/** The text of the error slot of a field, checking it sits in the field and describes its input. */
async function fieldError(page, inputSel, errorId) {
  return page.locator(inputSel).evaluate((input, id) => {
    const error = document.getElementById(id);
    return {
      text: error.hidden ? "" : error.innerText.trim(),
      sameField: input.closest(".field") === error.closest(".field") && error.closest(".field") !== null,
      describes: (input.getAttribute("aria-describedby") ?? "").split(/\s+/).includes(id),
      invalid: input.getAttribute("aria-invalid") === "true",
    };
  }, errorId);
}

async function expectBudgetError(page, message) {
  const e = await fieldError(page, "#max-budget-input", "max-budget-error");
  assert.equal(e.text, message);
  assert.ok(e.sameField, "the message sits in the budget field");
  assert.ok(e.describes, "the input's aria-describedby names the message");
  assert.equal(e.invalid, message !== "", "aria-invalid follows the message");
}

/** UTC calendar arithmetic for the reset notes. */
function firstOfNextMonth(now) {
  return isoDate(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)));
}
function plusDays(now, days) {
  return isoDate(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + days)));
}

describe("defaults and period", () => {
  test("prefilled from GetBudgetConfig: 500 / 80% / 110% / Monthly", async () => {
    const { page } = await tenantPage("defaults", { alert_threshold_percent: 80, grace_threshold_percent: 110, budget_duration: "30d" });
    try {
      assert.equal(await page.inputValue("#max-budget-input"), "500");
      assert.equal(await page.inputValue("#alert-threshold-input"), "80");
      assert.equal(await text(page, "#alert-threshold-value"), "80%");
      assert.equal(await page.inputValue("#grace-threshold-input"), "110");
      assert.equal(await text(page, "#grace-threshold-value"), "110%");
      assert.equal(await page.inputValue("#budget-duration-select"), "30d");
      assert.equal(
        await page.locator("#budget-duration-select").evaluate((s) => s.selectedOptions[0].textContent),
        "Monthly (resets on the 1st)",
      );
      assert.equal(await text(page, "#block-amount"), "Will block at $550.00 (110% of $500.00)");
      assert.equal(await page.isEnabled("#save-button"), true);
      assert.equal(await text(page, "#save-button"), "Save Budget Config");
      assert.equal(await page.isVisible("#reset-move-note"), false, "no note while the period is unchanged");
      assertNoProblems(page);
    } finally {
      await closePage(page);
    }
  });

  test("prefilled with a tenant's own values: 123.45 / 65% / 135% / 90 days", async () => {
    const { page } = await tenantPage("custom", {
      max_budget_usd: 123.45,
      alert_threshold_percent: 65,
      grace_threshold_percent: 135,
      budget_duration: "90d",
    });
    try {
      assert.equal(await page.inputValue("#max-budget-input"), "123.45");
      assert.equal(await text(page, "#alert-threshold-value"), "65%");
      assert.equal(await text(page, "#grace-threshold-value"), "135%");
      assert.equal(await page.inputValue("#budget-duration-select"), "90d");
      // 123.45 x 1.35 = 166.6575 -> $166.66.
      assert.equal(await text(page, "#block-amount"), "Will block at $166.66 (135% of $123.45)");
    } finally {
      await closePage(page);
    }
  });

  test("period labels, and the next-reset note for each period", async () => {
    const { page } = await tenantPage("period");
    try {
      const options = await page.locator("#budget-duration-select option").evaluateAll((os) => os.map((o) => [o.value, o.textContent]));
      assert.deepEqual(options, [
        ["30d", "Monthly (resets on the 1st)"],
        ["60d", "60 days"],
        ["90d", "90 days"],
      ]);
      const now = new Date();
      await page.selectOption("#budget-duration-select", "60d");
      assert.equal(await text(page, "#reset-move-note"), `Next reset will move to ${plusDays(now, 60)}`);
      await page.selectOption("#budget-duration-select", "90d");
      assert.equal(await text(page, "#reset-move-note"), `Next reset will move to ${plusDays(now, 90)}`);
      await page.selectOption("#budget-duration-select", "30d");
      assert.equal(await page.isVisible("#reset-move-note"), false, "back to the saved period: no note");
    } finally {
      await closePage(page);
    }
  });

  test("from 60 days to Monthly the note names the 1st of next month", async () => {
    const { page } = await tenantPage("monthly", { budget_duration: "60d" });
    try {
      await page.selectOption("#budget-duration-select", "30d");
      assert.equal(await text(page, "#reset-move-note"), `Next reset will move to ${firstOfNextMonth(new Date())}`);
    } finally {
      await closePage(page);
    }
  });
});

describe("validation", () => {
  test("max budget messages at the field; Save disabled while invalid; valid amounts accepted", async () => {
    const { page } = await tenantPage("validate");
    try {
      for (const bad of ["0", "", "-5", "0.001"]) {
        await page.fill("#max-budget-input", bad);
        await expectBudgetError(page, MSG.positive);
        assert.equal(await page.isDisabled("#save-button"), true, `Save disabled for ${JSON.stringify(bad)}`);
        assert.equal(await text(page, "#block-amount"), "Will block at — (enter a valid maximum budget)");
      }
      await page.fill("#max-budget-input", "10000000.01");
      await expectBudgetError(page, MSG.tooLarge);
      assert.equal(await page.isDisabled("#save-button"), true);
      await assertAccessible(page, "the form with an error at the budget field");
      await page.fill("#max-budget-input", "25000000");
      await expectBudgetError(page, MSG.tooLarge);

      for (const [good, block] of [
        ["500", "Will block at $550.00 (110% of $500.00)"],
        ["1000", "Will block at $1,100.00 (110% of $1,000.00)"],
        ["123.45", "Will block at $135.80 (110% of $123.45)"], // 135.795, half away from zero
        ["10000000", "Will block at $11,000,000.00 (110% of $10,000,000.00)"],
        ["0.01", "Will block at $0.01 (110% of $0.01)"],
      ]) {
        await page.fill("#max-budget-input", good);
        await expectBudgetError(page, "");
        assert.equal(await page.isEnabled("#save-button"), true, `Save enabled for ${good}`);
        assert.equal(await text(page, "#block-amount"), block);
      }
      assertNoProblems(page);
    } finally {
      await closePage(page);
    }
  });

  test("Enter on an invalid form does not save", async () => {
    const { page, key } = await tenantPage("nosave");
    try {
      await page.fill("#max-budget-input", "0");
      await page.press("#max-budget-input", "Enter");
      await page.waitForTimeout(300);
      assert.equal(await page.isVisible("#form-message"), false);
      assert.equal((await stack.sim.key(key)).max_budget, 550);
    } finally {
      await closePage(page);
    }
  });

  test("ArrowUp from 500 gives 550, ArrowDown steps back; the ±50 buttons do the same", async () => {
    const { page } = await tenantPage("arrows");
    try {
      const input = page.locator("#max-budget-input");
      await input.focus();
      await page.keyboard.press("ArrowUp");
      assert.equal(await input.inputValue(), "550");
      assert.equal(await text(page, "#block-amount"), "Will block at $605.00 (110% of $550.00)");
      await page.keyboard.press("ArrowDown");
      await page.keyboard.press("ArrowDown");
      assert.equal(await input.inputValue(), "450");
      await page.click("button[aria-label='Increase by $50']");
      assert.equal(await input.inputValue(), "500");
      await page.click("button[aria-label='Decrease by $50']");
      assert.equal(await input.inputValue(), "450");
      // From 123.45 the step keeps the cents; it never goes below $0.01.
      await input.fill("123.45");
      await input.press("ArrowUp");
      assert.equal(await input.inputValue(), "173.45");
      await input.fill("20");
      await input.press("ArrowDown");
      assert.equal(await input.inputValue(), "0.01");
      await expectBudgetError(page, "");
    } finally {
      await closePage(page);
    }
  });

  test("the browser's own validity agrees with the form: whole and cent amounts are valid", async () => {
    const { page } = await tenantPage("validity");
    try {
      const input = page.locator("#max-budget-input");
      const validity = () =>
        input.evaluate((el) => ({ valid: el.validity.valid, step: el.validity.stepMismatch, css: el.matches(":invalid") }));
      for (const good of ["500", "1000", "1234.56", "0.01", "550", "10000000"]) {
        await input.fill(good);
        assert.deepEqual(await validity(), { valid: true, step: false, css: false }, `${good} is valid`);
      }
      for (const bad of ["0", "0.001", "10000000.01"]) {
        await input.fill(bad);
        assert.equal((await validity()).valid, false, `${bad} is invalid to the browser too`);
      }
      // The ±$50 moves keep the amount valid to the browser.
      await input.fill("1234.56");
      await input.press("ArrowUp");
      assert.equal(await input.inputValue(), "1284.56");
      await page.click("button[aria-label='Decrease by $50']");
      assert.equal(await input.inputValue(), "1234.56");
      assert.equal((await validity()).valid, true);
      await assertAccessible(page, "a tenant page with a cent amount typed");
      assertNoProblems(page);
    } finally {
      await closePage(page);
    }
  });

  test("threshold messages: the sliders cannot leave their ranges; forced values are caught at the field", async () => {
    const { page } = await tenantPage("sliders");
    try {
      // The browser clamps a range input to its min/max, so the UI alone cannot go out of range.
      const clamped = await page.evaluate(() => {
        const a = document.getElementById("alert-threshold-input");
        const g = document.getElementById("grace-threshold-input");
        a.value = "40";
        g.value = "170";
        return [a.value, g.value];
      });
      assert.deepEqual(clamped, ["50", "150"]);
      // With the limits removed (as a tampered page might), the form says why at each field.
      await page.evaluate(() => {
        for (const [id, value] of [["alert-threshold-input", "40"], ["grace-threshold-input", "95"]]) {
          const el = document.getElementById(id);
          el.min = "0";
          el.max = "200";
          el.value = value;
          el.dispatchEvent(new Event("input", { bubbles: true }));
        }
      });
      const alert = await fieldError(page, "#alert-threshold-input", "alert-threshold-error");
      assert.deepEqual(alert, { text: MSG.alert, sameField: true, describes: true, invalid: true });
      const grace = await fieldError(page, "#grace-threshold-input", "grace-threshold-error");
      assert.deepEqual(grace, { text: MSG.grace, sameField: true, describes: true, invalid: true });
      assert.equal(await page.isDisabled("#save-button"), true);
    } finally {
      await closePage(page);
    }
  });

  test("the server's field violations are shown at their fields", async () => {
    const { page, key } = await tenantPage("server");
    try {
      // The form only sends values it accepts; rewrite one save on its way to the real service so
      // every field is out of range there, and check where the page puts the service's answer.
      let rewritten = false;
      await page.route("**/budget.v1.BudgetService/UpdateBudgetConfig", async (route) => {
        const request = decodeProto(unframe(route.request().postDataBuffer()));
        const configField = request.find((f) => f.no === 2);
        const config = decodeProto(configField.value).filter((f) => ![2, 3, 4, 5].includes(f.no));
        config.push(
          { no: 2, wire: 0, value: 0n }, // max_budget_micros
          { no: 3, wire: 0, value: 40n }, // alert_threshold_percent
          { no: 4, wire: 0, value: 170n }, // grace_threshold_percent
          { no: 5, wire: 2, value: Buffer.from("45d") }, // budget_duration
        );
        configField.value = encodeProto(config);
        rewritten = true;
        await route.continue({ postData: frame(encodeProto(request)) });
      });
      await page.click("#save-button");
      await page.waitForSelector("#form-message.error");
      assert.ok(rewritten);
      assert.equal(await text(page, "#form-message"), "Please correct the highlighted fields");
      for (const [input, error, message] of [
        ["#max-budget-input", "max-budget-error", MSG.positive],
        ["#alert-threshold-input", "alert-threshold-error", MSG.alert],
        ["#grace-threshold-input", "grace-threshold-error", MSG.grace],
        ["#budget-duration-select", "budget-duration-error", MSG.duration],
      ]) {
        assert.deepEqual(await fieldError(page, input, error), { text: message, sameField: true, describes: true, invalid: true }, input);
      }
      // Nothing changed, and editing a field clears its server message.
      assert.equal((await stack.sim.key(key)).max_budget, 550);
      await page.unroute("**/budget.v1.BudgetService/UpdateBudgetConfig");
      await page.fill("#max-budget-input", "600");
      assert.equal((await fieldError(page, "#max-budget-input", "max-budget-error")).text, "");
      assert.equal((await fieldError(page, "#alert-threshold-input", "alert-threshold-error")).text, MSG.alert);
    } finally {
      await closePage(page);
    }
  });
});

describe("block amount and saving", () => {
  test("the block amount follows typing: 800 at 125% blocks at $1,000.00", async () => {
    const { page } = await tenantPage("typing");
    try {
      const input = page.locator("#max-budget-input");
      await input.click();
      await page.keyboard.press("Control+a");
      await page.keyboard.type("8");
      assert.equal(await text(page, "#block-amount"), "Will block at $8.80 (110% of $8.00)");
      await page.keyboard.type("0");
      assert.equal(await text(page, "#block-amount"), "Will block at $88.00 (110% of $80.00)");
      await page.keyboard.type("0");
      assert.equal(await text(page, "#block-amount"), "Will block at $880.00 (110% of $800.00)");
      await slide(page, "#grace-threshold-input", 125);
      assert.equal(await text(page, "#grace-threshold-value"), "125%");
      assert.equal(await text(page, "#block-amount"), "Will block at $1,000.00 (125% of $800.00)");
      // Dragging the thumb with the mouse moves it too.
      const box = await page.locator("#grace-threshold-input").boundingBox();
      await page.mouse.click(box.x + box.width - 2, box.y + box.height / 2);
      assert.equal(await text(page, "#grace-threshold-value"), "150%");
      assert.equal(await text(page, "#block-amount"), "Will block at $1,200.00 (150% of $800.00)");
      await page.fill("#grace-threshold-input", "125");
      assert.equal(await text(page, "#block-amount"), "Will block at $1,000.00 (125% of $800.00)");
    } finally {
      await closePage(page);
    }
  });

  test("Save updates the page, the audit log and litellm-sim's key", async () => {
    const { page, key } = await tenantPage("save", { spend_usd: 520, history_days: 45 });
    try {
      // 520 of 500 with grace 110%: the grace period.
      assert.equal(await style(page, "#budget-bar", "background-color"), COLORS.grace);
      assert.equal(await text(page, "#percent-used"), "104.0%");
      const before = await stack.sim.key(key);
      assert.equal(before.max_budget, 550);
      assert.equal(before.soft_budget, 400);

      await page.fill("#max-budget-input", "800");
      await slide(page, "#alert-threshold-input", 60);
      await slide(page, "#grace-threshold-input", 125);
      assert.equal(await text(page, "#block-amount"), "Will block at $1,000.00 (125% of $800.00)");
      await page.click("text=Save Budget Config");
      await page.waitForSelector("#form-message.success");
      assert.equal(await text(page, "#form-message"), SAVED);

      // The usage figures refresh at once (the status cache is dropped on save): 520 of 800 is
      // 65%, past the new 60% alert threshold.
      await page.waitForFunction(() => document.getElementById("max-budget").textContent === "$800.00");
      assert.equal(await text(page, "#percent-used"), "65.0%");
      assert.equal(await style(page, "#budget-bar", "background-color"), COLORS.warning);
      assert.equal(await text(page, "#budget-state"), "Warning");
      // The form shows the saved values; the chart's lines moved.
      assert.equal(await page.inputValue("#max-budget-input"), "800");
      assert.equal(await text(page, "#alert-threshold-value"), "60%");
      // The chart is redrawn once every section has reloaded.
      await page.waitForFunction(() => document.getElementById("chart-legend")?.textContent.includes("Alert threshold 60% ($480.00)"));
      assert.match(await text(page, "#chart-legend"), /Grace threshold \(blocked\) 125% \(\$1,000\.00\)/);

      // The audit log's newest entry is this change.
      const latest = page.locator("#audit-log ol.audit > li").first();
      assert.match(await latest.locator(".audit-head").innerText(), /Budget updated$/);
      assert.deepEqual(await latest.locator(".audit-changes li").allInnerTexts(), [
        "Max budget $500.00 → $800.00",
        "Alert threshold 80% → 60%",
        "Grace threshold 110% → 125%",
      ]);
      assert.equal(await page.locator("#audit-log ol.audit > li").count(), 2, "creation and this update");

      // LiteLLM's key: max_budget = the block amount, soft_budget = the alert amount.
      const after = await stack.sim.key(key);
      assert.equal(after.max_budget, 1000);
      assert.equal(after.soft_budget, 480);
      assert.equal(after.budget_duration, "30d");
      assert.equal(after.budget_reset_at, before.budget_reset_at, "the period did not change, nor did the reset");

      // A reload shows the same saved values.
      await open(page, stack, new URL(page.url()).pathname);
      assert.equal(await page.inputValue("#max-budget-input"), "800");
      assert.equal(await page.inputValue("#alert-threshold-input"), "60");
      assert.equal(await page.inputValue("#grace-threshold-input"), "125");
      assertNoProblems(page);
    } finally {
      await closePage(page);
    }
  });

  test("changing the period moves LiteLLM's reset to the date the note announced", async () => {
    const { page, key } = await tenantPage("repoint", { spend_usd: 50 });
    try {
      await page.selectOption("#budget-duration-select", "60d");
      const note = await text(page, "#reset-move-note");
      const announced = /^Next reset will move to (\d{4}-\d\d-\d\d)$/.exec(note)?.[1];
      assert.ok(announced, note);
      await page.click("#save-button");
      await page.waitForSelector("#form-message.success");
      const snap = await stack.sim.key(key);
      assert.equal(snap.budget_duration, "60d");
      assert.equal(isoDate(new Date(snap.budget_reset_at)), announced);
      await page.waitForFunction(
        (date) => document.getElementById("reset-line").textContent.startsWith(`Resets on ${date} `),
        announced,
      );
      assert.match(await text(page, "#reset-line"), /\((59|60) days\)$/);
      assert.equal(await page.isVisible("#reset-move-note"), false, "saved: no pending move");
      assert.deepEqual(await page.locator("#audit-log ol.audit > li").first().locator(".audit-changes li").allInnerTexts(), [
        "Budget period Monthly (resets on the 1st) → 60 days",
      ]);
    } finally {
      await closePage(page);
    }
  });

  test("a stale etag: the second save is refused, the typed values stay, Reload fetches the latest", async () => {
    const { id, key, page: first } = await tenantPage("stale");
    const second = await newPage(browser);
    try {
      await open(second, stack, `/tenants/${id}`);
      // The second page saves first.
      await second.fill("#max-budget-input", "600");
      await second.click("#save-button");
      await second.waitForSelector("#form-message.success");
      assert.equal((await stack.sim.key(key)).max_budget, 660);

      // The first page still holds the old etag.
      await first.fill("#max-budget-input", "700");
      await slide(first, "#grace-threshold-input", 115);
      await first.click("#save-button");
      await first.waitForSelector("#form-message.error");
      assert.equal(await text(first, "#form-message"), CONFLICT);
      assert.equal(await first.inputValue("#max-budget-input"), "700");
      assert.equal(await first.inputValue("#grace-threshold-input"), "115");
      assert.equal(await text(first, "#block-amount"), "Will block at $805.00 (115% of $700.00)");
      assert.equal(await first.isVisible("#reload-config"), true);
      assert.equal((await stack.sim.key(key)).max_budget, 660, "the refused save changed nothing");

      await first.click("#reload-config");
      await first.waitForFunction(() => document.getElementById("max-budget-input").value === "600");
      assert.equal(await first.inputValue("#grace-threshold-input"), "110");
      assert.equal(await first.isVisible("#form-message"), false);
      assert.equal(await first.isVisible("#reload-config"), false);

      // Now the first page's save goes through.
      await first.fill("#max-budget-input", "700");
      await first.click("#save-button");
      await first.waitForSelector("#form-message.success");
      assert.equal((await stack.sim.key(key)).max_budget, 770);
      assertNoProblems(first);
      assertNoProblems(second);
    } finally {
      await closePage(first);
      await closePage(second);
    }
  });
});

describe("keyboard and labels", () => {
  test("every input and select has a label; every button has a name", async () => {
    const { page } = await tenantPage("labels", {
      alerts: Array.from({ length: 12 }, (_, i) => ({ kind: "threshold", spend_usd: 400, threshold_percent: 80, message: `a${i}`, minutes_ago: i + 1 })),
    });
    try {
      const controls = await page.evaluate(() =>
        [...document.querySelectorAll("input, select, textarea")].map((el) => ({
          id: el.id,
          label:
            [...(el.labels ?? [])].map((l) => l.textContent.trim()).join(" ") ||
            el.getAttribute("aria-label") ||
            (el.getAttribute("aria-labelledby") ?? "")
              .split(/\s+/)
              .map((id) => document.getElementById(id)?.textContent.trim() ?? "")
              .join(" "),
        })),
      );
      const ids = controls.map((c) => c.id);
      for (const id of ["tenant-picker-input", "max-budget-input", "alert-threshold-input", "grace-threshold-input", "budget-duration-select"]) {
        assert.ok(ids.includes(id), `${id} is on the page`);
      }
      for (const c of controls) assert.ok(c.label.trim().length > 0, `${c.id || "an input"} has a label`);
      // The labels say what the story calls the fields; the sliders' labels carry their value.
      const byId = Object.fromEntries(controls.map((c) => [c.id, c.label]));
      assert.equal(byId["max-budget-input"], "Maximum Budget ($)");
      assert.equal(byId["alert-threshold-input"], "Alert Threshold 80%");
      assert.equal(byId["grace-threshold-input"], "Grace Threshold 110%");
      assert.equal(byId["budget-duration-select"], "Budget Period");
      // Playwright's label lookup finds the same inputs.
      assert.equal(await page.getByLabel("Maximum Budget ($)").getAttribute("id"), "max-budget-input");
      assert.equal(await page.getByLabel("Budget Period").getAttribute("id"), "budget-duration-select");
      assert.equal(await page.getByRole("slider", { name: /Alert Threshold/ }).getAttribute("id"), "alert-threshold-input");
      assert.equal(await page.getByRole("slider", { name: /Grace Threshold/ }).getAttribute("id"), "grace-threshold-input");

      const unnamed = await page.evaluate(() =>
        [...document.querySelectorAll("button")]
          .filter((b) => !b.hidden && !(b.getAttribute("aria-label") || b.textContent.trim()))
          .map((b) => b.outerHTML),
      );
      assert.deepEqual(unnamed, []);
      assert.equal(await page.getByRole("progressbar").getAttribute("aria-label"), "Share of budget used");
    } finally {
      await closePage(page);
    }
  });

  test("the form can be filled and saved with the keyboard alone", async () => {
    const { page, key } = await tenantPage("keyboard", { spend_usd: 100 });
    try {
      // Start at the page heading (focused on load) and Tab forward, collecting the stops.
      assert.equal(await page.evaluate(() => document.activeElement?.id), "tenant-title");
      const stops = [];
      const focused = () =>
        page.evaluate(() => {
          const el = document.activeElement;
          return { id: el?.id ?? "", tag: el?.tagName ?? "", label: el?.getAttribute("aria-label") ?? el?.textContent.trim().slice(0, 30), outline: el ? getComputedStyle(el).outlineStyle : "" };
        });
      for (let i = 0; i < 40; i++) {
        await page.keyboard.press("Tab");
        const f = await focused();
        stops.push(f);
        if (f.id === "max-budget-input") break;
      }
      assert.equal(stops.at(-1).id, "max-budget-input", `Tab reaches the budget input: ${JSON.stringify(stops)}`);
      assert.ok(stops.some((s) => s.label === "Decrease by $50"), "the −50 button is a Tab stop before it");
      assert.notEqual(stops.at(-1).outline, "none", "the keyboard focus is visible");

      await page.keyboard.press("Control+a");
      await page.keyboard.type("900");
      await page.keyboard.press("Tab"); // +50
      assert.equal((await focused()).label, "Increase by $50");
      await page.keyboard.press("Tab");
      assert.equal((await focused()).id, "alert-threshold-input");
      for (let i = 0; i < 5; i++) await page.keyboard.press("ArrowLeft");
      await page.keyboard.press("Tab");
      assert.equal((await focused()).id, "grace-threshold-input");
      for (let i = 0; i < 10; i++) await page.keyboard.press("ArrowRight");
      await page.keyboard.press("Tab");
      assert.equal((await focused()).id, "budget-duration-select");
      await page.keyboard.press("ArrowDown");
      assert.equal(await page.inputValue("#budget-duration-select"), "60d");
      assert.match(await text(page, "#reset-move-note"), /^Next reset will move to \d{4}-\d\d-\d\d$/);
      await page.keyboard.press("Tab");
      assert.equal((await focused()).id, "save-button");
      assert.notEqual((await focused()).outline, "none", "the Save button shows its focus");
      assert.equal(await text(page, "#block-amount"), "Will block at $1,080.00 (120% of $900.00)");
      await page.keyboard.press("Enter");
      await page.waitForSelector("#form-message.success");
      assert.equal(await text(page, "#form-message"), SAVED);

      const snap = await stack.sim.key(key);
      assert.equal(snap.max_budget, 1080);
      assert.equal(snap.soft_budget, 675);
      assert.equal(snap.budget_duration, "60d");

      // Enter inside the budget field submits too (implicit submission).
      await page.locator("#max-budget-input").focus();
      await page.keyboard.press("ArrowUp");
      await page.keyboard.press("Enter");
      await page.waitForFunction(() => document.getElementById("max-budget").textContent === "$950.00");
      assert.equal((await stack.sim.key(key)).max_budget, 1140);
      assertNoProblems(page);
    } finally {
      await closePage(page);
    }
  });

  test("keyboard only, from the page heading: Tab, Shift+Tab, Space, Enter and arrows change the budget and thresholds and save", async () => {
    const { id, key, page } = await tenantPage("walk", { spend_usd: 100 });
    try {
      const focused = () =>
        page.evaluate(() => {
          const el = document.activeElement;
          return {
            id: el?.id ?? "",
            name: el?.getAttribute("aria-label") ?? el?.textContent.trim().slice(0, 40) ?? "",
            outline: el ? getComputedStyle(el).outlineStyle : "none",
          };
        });
      const press = async (k, want) => {
        await page.keyboard.press(k);
        const f = await focused();
        if (want !== undefined) assert.ok(f.id === want || f.name === want, `${k} lands on ${want}, not ${JSON.stringify(f)}`);
        return f;
      };
      // The page load puts the focus on the heading; from there on only keys.
      assert.equal((await focused()).id, "tenant-title");
      const stops = [];
      for (let i = 0; i < 60 && stops.at(-1)?.id !== "max-budget-input"; i++) stops.push(await press("Tab"));
      assert.equal(stops.at(-1).id, "max-budget-input", `Tab reaches the budget input: ${JSON.stringify(stops)}`);
      for (const s of stops) assert.notEqual(s.outline, "none", `the focus is visible on ${JSON.stringify(s)}`);

      // Type a new amount, then step it with the ±$50 buttons: Space on −50, Enter on +50.
      await page.keyboard.press("Control+a");
      await page.keyboard.type("700");
      assert.equal(await text(page, "#block-amount"), "Will block at $770.00 (110% of $700.00)");
      await press("Shift+Tab", "Decrease by $50");
      await press("Space");
      assert.equal(await page.inputValue("#max-budget-input"), "650");
      await press("Tab", "max-budget-input");
      await press("Tab", "Increase by $50");
      await press("Enter");
      assert.equal(await page.inputValue("#max-budget-input"), "700");

      // The sliders move with the arrow keys; Shift+Tab goes back a field and Tab returns.
      await press("Tab", "alert-threshold-input");
      for (let i = 0; i < 10; i++) await page.keyboard.press("ArrowLeft");
      assert.equal(await text(page, "#alert-threshold-value"), "70%");
      await press("Tab", "grace-threshold-input");
      for (let i = 0; i < 15; i++) await page.keyboard.press("ArrowRight");
      assert.equal(await text(page, "#grace-threshold-value"), "125%");
      await press("Shift+Tab", "alert-threshold-input");
      await press("Tab", "grace-threshold-input");
      await press("Tab", "budget-duration-select");
      await press("Tab", "save-button");
      assert.equal(await text(page, "#block-amount"), "Will block at $875.00 (125% of $700.00)");
      await press("Space");
      await page.waitForSelector("#form-message.success");
      assert.equal(await text(page, "#form-message"), SAVED);

      // The page shows the saved values: usage figures, form, audit log.
      await page.waitForFunction(() => document.getElementById("max-budget").textContent === "$700.00");
      assert.equal(await text(page, "#percent-used"), "14.3%");
      assert.equal(await page.inputValue("#max-budget-input"), "700");
      assert.equal(await page.inputValue("#alert-threshold-input"), "70");
      assert.equal(await page.inputValue("#grace-threshold-input"), "125");
      await page.waitForFunction(() => document.querySelectorAll("#audit-log ol.audit > li").length === 2);
      assert.deepEqual(await page.locator("#audit-log ol.audit > li").first().locator(".audit-changes li").allInnerTexts(), [
        "Max budget $500.00 → $700.00",
        "Alert threshold 80% → 70%",
        "Grace threshold 110% → 125%",
      ]);
      // The keyboard focus stayed in the form: Shift+Tab from Save is the period again.
      assert.equal((await focused()).id, "save-button");
      await press("Shift+Tab", "budget-duration-select");

      // LiteLLM's key: max_budget = the block amount, soft_budget = the alert amount.
      const snap = await stack.sim.key(key);
      assert.equal(snap.max_budget, 875);
      assert.equal(snap.soft_budget, 490);
      assert.equal(snap.budget_duration, "30d");
      // The service kept them: a fresh page reads the same config.
      await open(page, stack, `/tenants/${id}`);
      assert.equal(await page.inputValue("#max-budget-input"), "700");
      assert.equal(await page.inputValue("#alert-threshold-input"), "70");
      assert.equal(await page.inputValue("#grace-threshold-input"), "125");
      assert.equal(await page.inputValue("#budget-duration-select"), "30d");
      assertNoProblems(page);
    } finally {
      await closePage(page);
    }
  });
});

describe("what-if before saving", () => {
  /** GetBudgetStatus as the page's session sees it (Connect JSON from the page itself). */
  async function statusFromPage(page, tenantId) {
    return page.evaluate(async (tenantId) => {
      const res = await fetch("/budget.v1.BudgetService/GetBudgetStatus", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ tenantId }),
      });
      return (await res.json()).status;
    }, tenantId);
  }

  /** The UTC day when spend, growing at the status's daily rate, reaches `amountUsd`. */
  function dayReaching(status, amountUsd) {
    const days = (amountUsd * 1e6 - Number(status.spendMicros)) / Number(status.dailyRateMicros);
    return isoDate(new Date(Date.parse(status.fetchTime) + days * 86_400_000));
  }

  const dollars = (micros) => `$${(Math.round(Number(micros) / 1e4) / 100).toFixed(2)}`;

  test("typing a new budget updates the sentence with the dates of the service's forecast", async () => {
    // 90-day period: it began today, so the last 7 days ran at a steady ~$20 a day; $10 spent.
    const { id, page } = await tenantPage("whatif", { max_budget_usd: 3000, budget_duration: "90d", spend_usd: 10, history_days: 10 });
    try {
      const region = page.locator("#what-if");
      assert.equal(await region.getAttribute("aria-live"), "polite");
      assert.equal(
        await region.evaluate((el) => el.closest("form")?.id === "config-form" && (el.compareDocumentPosition(document.getElementById("save-button")) & Node.DOCUMENT_POSITION_PRECEDING) !== 0),
        true,
        "the sentence sits in the form, under its fields",
      );
      const status = await statusFromPage(page, id);
      const rate = Number(status.dailyRateMicros) / 1e6;
      assert.ok(rate > 19 && rate < 21, `seeded rate ${rate}`);
      const reset = isoDate(new Date(status.resetTime));
      // The stored settings: alert at $2,400 in ~120 days, after the reset in ~90.
      await page.waitForFunction(() => !document.getElementById("what-if").hidden);
      assert.equal(
        await text(page, "#what-if"),
        `At ${dollars(status.dailyRateMicros)} a day you reach neither the alert threshold nor the block amount before the reset on ${reset}.`,
      );

      const previews = [];
      page.on("request", (r) => {
        if (r.url().endsWith("/budget.v1.BudgetService/PreviewBudgetConfig")) previews.push(r);
      });
      const input = page.locator("#max-budget-input");
      await input.click();
      await page.keyboard.press("Control+a");
      await page.keyboard.type("100");
      // $100 at 80 % / 110 %: the alert at $80 in ~3.5 days, blocked at $110 in ~5.
      const expected = `At ${dollars(status.dailyRateMicros)} a day you reach the alert threshold on ${dayReaching(status, 80)} and are blocked on ${dayReaching(status, 110)}.`;
      await page.waitForFunction((want) => document.getElementById("what-if").textContent === want, expected);
      assert.equal(previews.length, 1, "typing 1, 0, 0 quickly asks once, after the pause");

      // Invalid input: nothing is said.
      await page.keyboard.press("Control+a");
      await page.keyboard.type("0");
      await page.waitForFunction(() => document.getElementById("what-if").hidden);
      assert.equal(await text(page, "#what-if"), "");

      // $2,000: the alert at $1,600 in ~80 days, but the block at $2,200 only after the reset.
      await page.keyboard.press("Control+a");
      await page.keyboard.type("2000");
      const later = `At ${dollars(status.dailyRateMicros)} a day you reach the alert threshold on ${dayReaching(status, 1600)} and are not blocked before the reset on ${reset}.`;
      await page.waitForFunction((want) => document.getElementById("what-if").textContent === want, later);

      // A new period is said to move the reset.
      await page.selectOption("#budget-duration-select", "30d");
      await page.waitForFunction(() => / Saving a new period makes LiteLLM move the reset; /.test(document.getElementById("what-if").textContent));

      // Nothing was saved by any of it.
      const after = await statusFromPage(page, id);
      assert.equal(after.maxBudgetMicros, String(3000 * 1e6));
      assert.equal(after.budgetDuration, "90d");
      await assertAccessible(page, "the form with a what-if sentence");
      assertNoProblems(page);
    } finally {
      await closePage(page);
    }
  });
});
