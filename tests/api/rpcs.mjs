// Every BudgetService RPC once: a fixture of tenants to call them on, and the table of calls in
// an order that works (reads first; suspend before resume; delete last), each with its request
// and a check of its answer. `assertCoversService` fails when the service has an RPC the table
// does not call, so a new RPC needs a row here before any client test passes.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  AlertType,
  BudgetState,
  BudgetService,
  Crossing,
  ExportKind,
  NotificationKind,
  Role,
} from "./gen/budget/v1/budget_pb.js";
import { methods } from "./clients.mjs";

let counter = 0;
/** A tenant id unique within this process (and across processes, by the pid). */
export function uniqueId(prefix) {
  counter += 1;
  return `${prefix}-${process.pid.toString(36)}-${counter}`;
}

const DAY_MS = 86_400_000;
const isoDate = (d) => d.toISOString().slice(0, 10);

/**
 * Seeds what one run of the table needs, through e2e-stack's control API and litellm-sim: a
 * tenant with spend (85 of 100 USD: WARNING), 20 days of history and two alerts; a second tenant
 * to delete; a LiteLLM key made outside the service, to attach; and a free id to create.
 */
export async function seedFixture(stack, prefix) {
  const tenantId = uniqueId(prefix);
  await stack.seedTenant({
    id: tenantId,
    display_name: `Tenant ${tenantId}`,
    max_budget_usd: 100,
    spend_usd: 85,
    history_days: 20,
    alerts: [
      { kind: "threshold", spend_usd: 80.5, threshold_percent: 80, message: "80% of the budget used", minutes_ago: 90 },
      { kind: "projected_limit", spend_usd: 60, threshold_percent: 100, message: "on track to run out", minutes_ago: 600 },
    ],
  });
  const doomedId = `${tenantId}-old`;
  await stack.seedTenant({ id: doomedId, max_budget_usd: 10 });
  const outsideKey = await generateSimKey(stack, `${tenantId}-outside`);
  return {
    tenantId,
    doomedId,
    newId: `${tenantId}-new`,
    outsideKeyHash: createHash("sha256").update(outsideKey).digest("hex"),
    outsideAlias: `${tenantId}-outside`,
  };
}

/** A key made in LiteLLM (litellm-sim) directly, as an operator would; returns the raw key. */
async function generateSimKey(stack, alias) {
  const answer = await fetch(`${stack.sim_url}/key/generate`, {
    method: "POST",
    headers: { authorization: `Bearer ${stack.sim_master_key}`, "content-type": "application/json" },
    body: JSON.stringify({ key_alias: alias, max_budget: 1.0, budget_duration: "30d" }),
  });
  if (!answer.ok) throw new Error(`/key/generate answered ${answer.status}`);
  return (await answer.json()).key;
}

/**
 * The calls, in order. `request(fx)` is the input message's init; `check(answer, fx)` asserts
 * the call did what it says. `readOnly`: changes nothing. `repeatable`: the same request again
 * gives the same answer, so the JSON comparison sends it once per client (the others change what
 * they answer).
 */
export const calls = [
  {
    method: "WhoAmI",
    readOnly: true,
    repeatable: true,
    request: () => ({}),
    check: (a) => assert.equal(a.role, Role.PLATFORM_ADMIN),
  },
  {
    method: "GetBudgetStatus",
    readOnly: true,
    repeatable: true,
    request: (fx) => ({ tenantId: fx.tenantId }),
    check: (a, fx) => {
      assert.equal(a.status.tenantId, fx.tenantId);
      assert.equal(a.status.spendMicros, 85_000_000n);
      assert.equal(a.status.state, BudgetState.WARNING);
      assert.ok(a.status.resetTime && a.status.fetchTime);
    },
  },
  {
    method: "GetBudgetConfig",
    readOnly: true,
    repeatable: true,
    request: (fx) => ({ tenantId: fx.tenantId }),
    check: (a) => {
      assert.equal(a.config.maxBudgetMicros, 100_000_000n);
      assert.ok(a.config.etag && a.config.updateTime);
    },
  },
  {
    method: "GetSpendHistory",
    readOnly: true,
    repeatable: true,
    request: (fx) => ({ tenantId: fx.tenantId, days: 30 }),
    check: (a) => {
      assert.equal(a.days.length, 30);
      assert.ok(a.days.some((d) => d.spendMicros > 0n));
    },
  },
  {
    method: "PreviewBudgetConfig",
    readOnly: true,
    repeatable: true,
    request: (fx) => ({
      tenantId: fx.tenantId,
      config: { maxBudgetMicros: 100_000_000n, alertThresholdPercent: 80, graceThresholdPercent: 150, budgetDuration: "30d" },
    }),
    check: (a, fx) => {
      assert.equal(a.preview.tenantId, fx.tenantId);
      assert.equal(a.preview.spendMicros, 85_000_000n);
      assert.equal(a.preview.alert.crossing, Crossing.REACHED, "$85 is past 80 % of $100");
      assert.equal(a.preview.block.amountMicros, 150_000_000n);
      assert.equal(a.preview.periodChanges, false);
    },
  },
  {
    method: "ListAlerts",
    readOnly: true,
    repeatable: true,
    request: (fx) => ({ tenantId: fx.tenantId, pageSize: 100 }),
    check: (a) => {
      const types = a.alerts.map((x) => x.type);
      assert.ok(types.includes(AlertType.THRESHOLD) && types.includes(AlertType.PROJECTED_LIMIT), "the seeded alerts");
      assert.equal(a.totalSize, a.alerts.length);
    },
  },
  {
    method: "ListTenants",
    readOnly: true,
    repeatable: true,
    request: (fx) => ({ filter: fx.tenantId, includeDeleted: true }),
    check: (a, fx) => assert.deepEqual(a.tenants.map((t) => t.tenantId), [fx.tenantId, fx.doomedId]),
  },
  {
    method: "GetFleetSummary",
    readOnly: true,
    // Other tests' tenants share the stack, so the figures move between calls.
    repeatable: false,
    request: () => ({}),
    check: (a) => {
      // The fixture's tenant is evaluated at 85 of 100 USD: WARNING.
      assert.ok(a.warningCount >= 1 && a.evaluatedCount >= 1, JSON.stringify({ w: a.warningCount, e: a.evaluatedCount }));
      assert.ok(a.totalSpendMicros >= 85_000_000n && a.totalBudgetMicros >= 100_000_000n);
      assert.ok(a.runsOut.length <= 10 && a.runsOut.length <= a.runsOutCount);
    },
  },
  {
    method: "ListAuditEvents",
    readOnly: true,
    repeatable: true,
    request: (fx) => ({ tenantId: fx.tenantId }),
    check: (a) => assert.equal(a.events[0]?.action, "tenant_created"),
  },
  {
    method: "ExportTenantData",
    readOnly: true,
    repeatable: true,
    request: (fx) => ({
      tenantId: fx.tenantId,
      kind: ExportKind.ALERTS,
      startDate: isoDate(new Date(Date.now() - 7 * DAY_MS)),
      endDate: isoDate(new Date(Date.now() + DAY_MS)),
    }),
    check: (a) => {
      assert.match(a.filename, /\.csv$/);
      const lines = new TextDecoder().decode(a.csv).trim().split("\r\n");
      assert.ok(lines.length >= 3, "a header and the alerts");
    },
  },
  {
    method: "SetNotificationTargets",
    repeatable: false,
    request: (fx) => ({
      tenantId: fx.tenantId,
      targets: [
        {
          kind: NotificationKind.WEBHOOK,
          url: "https://hooks.invalid/budget",
          secret: "a-signing-secret-of-some-length",
          description: "On-call pager",
        },
      ],
    }),
    check: (a) => {
      assert.equal(a.targets.length, 1);
      assert.equal(a.targets[0].urlOrigin, "https://hooks.invalid");
      assert.equal(a.targets[0].hasSecret, true);
      assert.equal(a.targets[0].url, "", "URLs are never returned");
    },
  },
  {
    method: "ListNotificationTargets",
    readOnly: true,
    repeatable: true,
    request: (fx) => ({ tenantId: fx.tenantId }),
    check: (a) => assert.equal(a.targets[0]?.kind, NotificationKind.WEBHOOK),
  },
  {
    method: "UpdateBudgetConfig",
    repeatable: false,
    request: (fx) => ({
      tenantId: fx.tenantId,
      config: { maxBudgetMicros: 120_000_000n },
      updateMask: { paths: ["max_budget_micros"] },
    }),
    check: (a) => {
      assert.equal(a.config.maxBudgetMicros, 120_000_000n);
      assert.equal(a.config.alertThresholdPercent, 80, "the mask keeps the other settings");
    },
  },
  {
    method: "GrantTemporaryIncrease",
    repeatable: true,
    request: (fx) => ({
      tenantId: fx.tenantId,
      amountMicros: 5_000_000n,
      expireTime: timestampFromDate(new Date(Math.ceil(Date.now() / 1000) * 1000 + 7 * DAY_MS)),
      reason: "launch week",
    }),
    check: (a) => {
      assert.equal(a.increase.amountMicros, 5_000_000n);
      assert.equal(a.increase.reason, "launch week");
    },
  },
  {
    method: "SuspendTenant",
    repeatable: true,
    request: (fx) => ({ tenantId: fx.tenantId, reason: "runaway agent" }),
    check: (a) => assert.equal(a.tenant.suspended, true),
  },
  {
    method: "ResumeTenant",
    repeatable: true,
    request: (fx) => ({ tenantId: fx.tenantId }),
    check: (a) => assert.equal(a.tenant.suspended, false),
  },
  {
    method: "RotateTenantKey",
    repeatable: false,
    request: (fx) => ({ tenantId: fx.tenantId }),
    check: (a) => assert.match(a.virtualKey, /^sk-/),
  },
  {
    method: "AttachTenantKey",
    repeatable: false,
    request: (fx) => ({ tenantId: fx.tenantId, keyHash: fx.outsideKeyHash }),
    check: (a, fx) => assert.equal(a.tenant.keyAlias, fx.outsideAlias),
  },
  {
    method: "CreateTenant",
    repeatable: false,
    request: (fx) => ({
      tenantId: fx.newId,
      displayName: "Created by an API client",
      config: { maxBudgetMicros: 50_000_000n, alertThresholdPercent: 75, graceThresholdPercent: 120, budgetDuration: "30d" },
    }),
    check: (a, fx) => {
      assert.equal(a.tenant.tenantId, fx.newId);
      assert.equal(a.config.graceThresholdPercent, 120);
      assert.match(a.virtualKey, /^sk-/);
    },
  },
  {
    method: "DeleteTenant",
    repeatable: false,
    request: (fx) => ({ tenantId: fx.doomedId }),
    check: (a, fx) => assert.equal(a.tenant.tenantId, fx.doomedId),
  },
];

/** Fails unless the table calls exactly the service's methods, each once. */
export function assertCoversService() {
  const called = calls.map((c) => c.method).sort();
  const declared = BudgetService.methods.map((m) => m.name).sort();
  assert.deepEqual(called, declared, "every BudgetService RPC has exactly one row in tests/api/rpcs.mjs");
}

/** The request message of a row for a fixture. */
export const requestOf = (row, fx) => create(methods.get(row.method).input, row.request(fx));

/**
 * Makes every call of the table through `client` on the fixture `fx` (from seedFixture, used
 * once), checking each answer; with `onAnswer(row, answer)` a test looks at each answer too.
 */
export async function callEveryRpc(client, fx, onAnswer = () => {}) {
  for (const row of calls) {
    const method = methods.get(row.method);
    let answer;
    try {
      answer = await client.call(method, requestOf(row, fx));
    } catch (error) {
      throw new Error(`${client.name}: ${row.method} failed: ${error.message}`, { cause: error });
    }
    assert.equal(answer.$typeName, method.output.typeName, `${client.name}: ${row.method} answers its own type`);
    try {
      row.check(answer, fx);
    } catch (error) {
      throw new Error(`${client.name}: ${row.method}: ${error.message}`, { cause: error });
    }
    await onAnswer(row, answer);
  }
}
