// Every page and state of the dashboard, checked twice: at desktop width (1280 px) with axe-core's
// WCAG 2.2 AA rules, and at a phone's width (375 px) with the same rules plus "nothing scrolls
// sideways" (the document is no wider than the viewport and no element reaches beyond it).
//
// States: sign-in (and its error), the fleet page (and the picker open), a tenant page per budget
// state, with alerts of every kind, with budget data unavailable (a LiteLLM fault) and with a key
// LiteLLM no longer knows, the form with client-side and server-side errors, the export range
// error, notification targets (stored, new with errors, refused by the service), the lifecycle
// dialogs (suspend, resume, rotate), the new key, the temporary increase (its error and its
// banner), the delete confirmation, the archive, a tenant admin's page and the not-found page.
//
// This file's stack keeps statuses for 1 s only (as litellm.test.mjs), so that a LiteLLM fault
// reaches the page's status read.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import {
  assertAccessible,
  assertFitsWidth,
  assertNoProblems,
  closePage,
  decodeProto,
  encodeProto,
  frame,
  launchBrowser,
  newPage,
  open,
  screenshot,
  startStack,
  text,
  unframe,
  uniqueId,
} from "./harness.mjs";

const CACHE_TTL_SECS = 1;
const WIDTHS = [
  { width: 1280, height: 900 },
  { width: 375, height: 812 },
];

let stack;
let browser;

before(async () => {
  [stack, browser] = await Promise.all([startStack({ cacheTtlSecs: CACHE_TTL_SECS }), launchBrowser()]);
  await stack.seedDemo();
});

after(async () => {
  await stack?.sim.clearFaults().catch(() => {});
  await browser?.close();
  await stack?.stop();
});

/** Checks the page as it is now: axe at every width, and no sideways scrolling when narrow. */
async function check(page, state, width) {
  const context = `${state} at ${width} px`;
  await assertAccessible(page, context);
  if (width < 400) await assertFitsWidth(page, context);
  await screenshot(page, `a11y-${state.replace(/[^a-z0-9]+/gi, "-").toLowerCase()}-${width}`);
}

/**
 * A test that opens a fresh page at each width, lets `states` bring the page into each state
 * (calling `at(name)` in each) and checks it there.
 */
function scenario(name, states, { token, allow = [] } = {}) {
  test(name, async () => {
    for (const size of WIDTHS) {
      const page = await newPage(browser, { ...size, ...(token === undefined ? {} : { token: await token() }) });
      try {
        await states(page, (state) => check(page, state, size.width), size.width);
        assertNoProblems(page, allow);
      } finally {
        await closePage(page);
      }
    }
  });
}

/** A fresh tenant (500 $ budget unless `seed` says otherwise); returns its id and virtual key. */
async function tenant(prefix, seed = {}) {
  const id = uniqueId(prefix);
  const { virtual_key: key } = await stack.seedTenant({ id, max_budget_usd: 500, spend_usd: 100, history_days: 10, ...seed });
  return { id, key };
}

// ---------------------------------------------------------------------------
// Sign-in, fleet, not found.

scenario(
  "the sign-in page, and the same page saying the token was not accepted",
  async (page, at) => {
    await page.goto(`${stack.gateway_url}/signin`);
    await page.waitForSelector("#signin-form");
    await at("sign-in");
    await page.fill("#token", "not-a-token");
    await Promise.all([page.waitForURL("**/session"), page.click("#signin-button")]);
    assert.equal(await text(page, "#signin-error"), "That token was not accepted.");
    await at("sign-in with an error");
  },
  // The refused sign-in answers 401 with the form.
  { token: () => null, allow: [/HTTP 401 .*\/session$/] },
);

scenario("the fleet page, with the tenant picker open", async (page, at) => {
  await open(page, stack, "/");
  await at("fleet");
  await page.fill("#tenant-picker-input", "a");
  await page.waitForSelector("#tenant-picker-results:not([hidden]) [role='option']");
  await at("fleet with the picker open");
});

scenario("the not-found page", async (page, at) => {
  await open(page, stack, "/no/such/page");
  assert.equal(await text(page, "h1"), "Page not found");
  await at("not found");
});

// ---------------------------------------------------------------------------
// Tenant page states.

for (const [state, seed] of [
  ["ok", { spend_usd: 100 }],
  ["warning", { spend_usd: 420 }],
  ["grace", { spend_usd: 520 }],
  ["blocked", { spend_usd: 600 }],
]) {
  scenario(`a tenant page in the ${state} state`, async (page, at) => {
    const { id } = await tenant(state, { ...seed, history_days: 40 });
    await open(page, stack, `/tenants/${id}`);
    await at(`tenant ${state}`);
  });
}

scenario("a tenant page with alerts of every kind, and the older alerts open", async (page, at) => {
  const kinds = ["threshold", "projected_limit", "budget_exceeded", "blocked"];
  const { id } = await tenant("alerts", {
    spend_usd: 560,
    alerts: Array.from({ length: 14 }, (_, i) => ({
      kind: kinds[i % 4],
      spend_usd: 400 + i * 10,
      threshold_percent: [80, 100, 100, 110][i % 4],
      message: `alert ${i}`,
      minutes_ago: 14 - i,
    })),
  });
  await open(page, stack, `/tenants/${id}`);
  await at("tenant with alerts");
  await page.click("#show-older-alerts");
  await page.waitForSelector("#older-alerts-table tbody tr");
  await at("tenant with older alerts");
});

test("a tenant page when LiteLLM fails: Budget data unavailable, and the lost-key notice", async () => {
  for (const size of WIDTHS) {
    for (const [fault, selector, state] of [
      ["status_500", "#status-error", "budget data unavailable"],
      ["not_found", "#key-lost:not([hidden])", "the key LiteLLM lost"],
    ]) {
      const { id } = await tenant(fault.replace("_", "-"));
      await sleep(CACHE_TTL_SECS * 1000 + 300);
      await stack.sim.addFault({ path_prefix: "/key/info", fault });
      const page = await newPage(browser, size);
      try {
        await open(page, stack, `/tenants/${id}`);
        await page.waitForSelector(selector);
        await check(page, state, size.width);
        if (fault === "not_found") {
          // Attaching without a hash: the message at the field.
          await page.click("#attach-button");
          assert.equal(await text(page, "#attach-key-hash-error"), "Enter the key's sha256: 64 hex digits.");
          await check(page, "attach key with an error", size.width);
        }
        assertNoProblems(page);
      } finally {
        await closePage(page);
        await stack.sim.clearFaults();
      }
    }
  }
});

// ---------------------------------------------------------------------------
// The form.

scenario("the form with client-side errors, then with the service's errors at each field", async (page, at) => {
  const { id } = await tenant("form-errors");
  await open(page, stack, `/tenants/${id}`);
  await page.fill("#max-budget-input", "0");
  await page.waitForSelector("#max-budget-error:not([hidden])");
  await at("form with a client-side error");
  await page.fill("#max-budget-input", "20000000");
  await page.waitForSelector("#max-budget-error:not([hidden])");
  await at("form with a too-large budget");

  // The form sends only what it accepts: rewrite one save on its way to the real service so each
  // field is out of range there (as form.test.mjs), and check the page with the service's answer.
  await page.fill("#max-budget-input", "600");
  await page.route("**/budget.v1.BudgetService/UpdateBudgetConfig", async (route) => {
    const request = decodeProto(unframe(route.request().postDataBuffer()));
    const configField = request.find((f) => f.no === 2);
    const config = decodeProto(configField.value).filter((f) => ![2, 3, 4, 5].includes(f.no));
    config.push(
      { no: 2, wire: 0, value: 0n },
      { no: 3, wire: 0, value: 40n },
      { no: 4, wire: 0, value: 170n },
      { no: 5, wire: 2, value: Buffer.from("45d") },
    );
    configField.value = encodeProto(config);
    await route.continue({ postData: frame(encodeProto(request)) });
  });
  await page.click("#save-button");
  await page.waitForSelector("#form-message.error");
  await page.waitForSelector("#budget-duration-error:not([hidden])");
  await at("form with the service's errors");
  await page.unroute("**/budget.v1.BudgetService/UpdateBudgetConfig");
});

scenario("a saved form, its audit entry and the export range error", async (page, at) => {
  const { id } = await tenant("saved");
  await open(page, stack, `/tenants/${id}`);
  await page.fill("#max-budget-input", "650");
  await page.click("#save-button");
  await page.waitForSelector("#form-message.success");
  await page.waitForFunction(() => document.querySelectorAll("#audit-log ol.audit > li").length === 2);
  await at("form saved");
  await page.fill("#export-start", "2026-05-10");
  await page.fill("#export-end", "2026-05-01");
  await page.waitForSelector("#export-error:not([hidden])");
  await at("export range error");
});

// ---------------------------------------------------------------------------
// Notifications.

scenario("notification targets: stored, a new one with errors, one the service refuses", async (page, at) => {
  const { id } = await tenant("targets");
  await open(page, stack, `/tenants/${id}`);
  await at("no notification targets");

  // Stored: one webhook with a secret.
  await page.click("#add-target");
  await page.fill("#target-1-url", "https://8.8.8.8/budget-hook");
  await page.fill("#target-1-secret", "a-secret-of-24-characters");
  await page.fill("#target-1-description", "On-call webhook");
  await page.click("#save-targets");
  await page.waitForSelector("#targets-message.success");
  await page.waitForSelector("#notification-targets li.target");
  // Nothing is left to save: the focus moved from Save (disabled now) to Add target.
  assert.equal(await page.evaluate(() => document.activeElement?.id), "add-target");
  await at("a stored notification target");

  // A new target with every client-side error.
  await page.click("#add-target");
  await page.fill("#target-2-url", "not a url");
  await page.fill("#target-2-secret", "short");
  await page.click("#save-targets");
  await page.waitForSelector("#targets-message.error");
  await page.waitForSelector("#target-2-secret-error:not([hidden])");
  await at("a new target with errors");

  // Valid to the page, refused by the service (a private address).
  await page.fill("#target-2-url", "https://10.1.2.3/hook");
  await page.fill("#target-2-secret", "another-secret-of-24-chars");
  await page.click("#save-targets");
  await page.waitForFunction(() => !document.getElementById("target-2-url-error")?.hidden);
  assert.equal(await text(page, "#target-2-url-error"), "Notification URL must not point to a private or local address");
  await at("a target the service refused");
});

// ---------------------------------------------------------------------------
// Lifecycle.

scenario("the suspend dialog (and its reason error), the suspended banner and the resume dialog", async (page, at) => {
  const { id } = await tenant("suspend");
  await open(page, stack, `/tenants/${id}`);
  await page.click("#suspend-button");
  await page.waitForSelector("#suspend-dialog[open]");
  await at("suspend dialog");
  await page.click("#suspend-dialog-confirm");
  assert.equal(await text(page, "#suspend-dialog-error"), "Give a reason to suspend the tenant.");
  await at("suspend dialog without a reason");
  await page.fill("#suspend-dialog-input", "runaway agent");
  await page.click("#suspend-dialog-confirm");
  await page.waitForSelector("#suspended-banner:not([hidden])");
  await page.waitForSelector("#resume-button:not([hidden])");
  await at("suspended");
  await page.click("#resume-button");
  await page.waitForSelector("#resume-dialog[open]");
  await at("resume dialog");
  await page.click("#resume-dialog-confirm");
  await page.waitForSelector("#suspended-banner", { state: "hidden" });
});

scenario("the rotate dialog and the new key", async (page, at) => {
  const { id } = await tenant("rotate");
  await open(page, stack, `/tenants/${id}`);
  await page.click("#rotate-button");
  await page.waitForSelector("#rotate-dialog[open]");
  await at("rotate dialog");
  await page.click("#rotate-dialog-confirm");
  await page.waitForSelector("#new-key:not([hidden])");
  await at("the new key");
});

scenario("the temporary increase: its error, then its banner", async (page, at) => {
  const { id } = await tenant("increase");
  await open(page, stack, `/tenants/${id}`);
  await page.click("#increase-button");
  // Each empty field says what it needs, at the field; the first has the focus.
  assert.equal(await text(page, "#increase-amount-error"), "Enter an amount in dollars greater than 0.");
  assert.equal(await text(page, "#increase-until-error"), "Choose the last day of the increase.");
  assert.equal(await text(page, "#increase-reason-error"), "Give a reason.");
  assert.equal(await page.evaluate(() => document.activeElement?.id), "increase-amount");
  await at("temporary increase with errors");
  const until = new Date(Date.now() + 5 * 86_400_000).toISOString().slice(0, 10);
  await page.fill("#increase-amount", "250");
  await page.fill("#increase-until", until);
  await page.fill("#increase-reason", "Quarter-end batch jobs");
  await page.click("#increase-button");
  await page.waitForSelector("#temporary-increase:not([hidden])");
  await at("temporary increase granted");
});

scenario("the delete confirmation, then the archive with the deleted tenant", async (page, at) => {
  const { id } = await tenant("delete");
  await open(page, stack, "/archive");
  await at("archive");
  await open(page, stack, `/tenants/${id}`);
  await page.fill("#delete-confirm", id);
  assert.equal(await page.isEnabled("#delete-button"), true);
  await at("delete confirmation typed");
  await Promise.all([page.waitForURL("**/archive"), page.click("#delete-button")]);
  await page.waitForSelector(`#archive-table tr[data-tenant-id="${id}"]`);
  await at("archive with a deleted tenant");
});

// ---------------------------------------------------------------------------
// A tenant admin: its own page only.

scenario(
  "a tenant admin's page",
  async (page, at) => {
    await open(page, stack, "/");
    await page.waitForURL("**/tenants/initech");
    await at("tenant admin");
  },
  { token: () => stack.createToken(uniqueId("initech-admin"), "tenant_admin", "initech") },
);
