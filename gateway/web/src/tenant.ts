// The tenant page ("/tenants/{id}"): budget usage, spend trend, spend by model, alert history (with each
// alert's notification deliveries), the configuration form, the notification targets and the
// audit log. Each section loads and fails on its own.

import { Code } from "./rpc";
import type {
  Alert,
  AuditEvent,
  BudgetConfig,
  BudgetStatus,
  GetSpendHistoryResponse,
} from "./gen/budget/v1/budget";
import { BudgetState, type Role } from "./gen/budget/v1/budget";
import { api, describeError, errorCode, isCanceled, noAccessText, toDate } from "./api";
import { renderChart } from "./chart";
import { modelsView, renderModels } from "./models";
import { fill, h, say } from "./dom";
import { createConfigForm } from "./form";
import { exportView, lifecycleView } from "./lifecycle";
import { notificationsView } from "./notifications";
import { formatMoney, formatPercent } from "./money";
import { isoMinute, isoSecond, resetLine, updatedAgo } from "./dates";
import {
  actionLabel,
  barColor,
  configChanges,
  deliveryClass,
  deliveryText,
  eventClass,
  eventName,
  kindLabel,
  stateClass,
  stateIndicator,
  stateLabel,
} from "./labels";
import type { Page } from "./page";

const STATUS_REFRESH_MS = 60_000;
const ALERT_PAGE = 10;
const AUDIT_PAGE = 20;
/** Days of spend history the chart shows. */
const HISTORY_DAYS = 30;

function section(id: string, title: string, ...children: (Node | string)[]): HTMLElement {
  return h(
    "section",
    { id, class: "card", "aria-labelledby": `${id}-heading` },
    h("h2", { id: `${id}-heading` }, title),
    ...children,
  );
}

function metric(label: string, id: string): [HTMLElement, HTMLElement] {
  const value = h("dd", { id }, "—");
  return [h("div", { class: "metric" }, h("dt", {}, label), value), value];
}

// ---------------------------------------------------------------------------
// Budget usage.

function usageView() {
  const [spendBox, spend] = metric("Current Spend ($)", "current-spend");
  const [maxBox, max] = metric("Max Budget ($)", "max-budget");
  const [pctBox, pct] = metric("Percentage Used (%)", "percent-used");
  const [daysBox, days] = metric("Days Until Reset", "days-until-reset");
  const bar = h("div", { id: "budget-bar", class: "bar-fill" });
  const track = h(
    "div",
    {
      id: "budget-progress",
      class: "bar-track",
      role: "progressbar",
      "aria-label": "Share of budget used",
      "aria-valuemin": "0",
      "aria-valuemax": "100",
      "aria-valuenow": "0",
    },
    bar,
  );
  const label = h("span", { id: "budget-bar-label", class: "bar-label" });
  const state = h("span", { id: "budget-state", class: "badge" });
  const indicator = h("strong", { id: "grace-indicator", hidden: true });
  const reset = h("p", { id: "reset-line" });
  const updated = h("p", { id: "updated-ago", class: "muted" });
  const error = h("p", { id: "status-error", class: "error", role: "alert", hidden: true });
  const errorDetail = h("p", { id: "status-error-detail", class: "muted", hidden: true });
  const body = h(
    "div",
    { id: "usage-body", hidden: true },
    h("dl", { class: "metrics" }, spendBox, maxBox, pctBox, daysBox),
    track,
    h("div", { class: "bar-caption" }, label, state, indicator),
    reset,
    updated,
  );
  const loading = h("p", { class: "muted" }, "Loading budget…");
  let fetchTime: Date | undefined;

  function tick(): void {
    if (fetchTime) updated.textContent = updatedAgo(fetchTime, new Date());
  }

  return {
    element: section("usage", "Budget Usage", loading, error, errorDetail, body),
    show(s: BudgetStatus): void {
      loading.remove();
      say(error, "");
      say(errorDetail, "");
      body.hidden = false;
      spend.textContent = formatMoney(s.spendMicros);
      max.textContent = formatMoney(s.maxBudgetMicros);
      pct.textContent = formatPercent(s.percentUsed);
      days.textContent = String(s.daysUntilReset);
      const percentText = formatPercent(s.percentUsed);
      bar.style.width = `${Math.min(Math.max(s.percentUsed, 0), 100)}%`;
      bar.style.backgroundColor = barColor(s.state);
      bar.dataset.state = stateClass(s.state);
      track.setAttribute("aria-valuenow", s.percentUsed.toFixed(1));
      track.setAttribute("aria-valuemax", String(Math.max(100, Math.ceil(s.percentUsed))));
      track.setAttribute("aria-valuetext", `${percentText} of budget used (${stateLabel(s.state)})`);
      label.textContent = percentText;
      // One text label per state: the grace indicator in grace and when blocked, the state badge otherwise.
      const flag = s.state === BudgetState.GRACE || s.state === BudgetState.BLOCKED ? stateIndicator(s.state) : "";
      say(indicator, flag);
      indicator.className = `badge state-${stateClass(s.state)}`;
      say(state, flag ? "" : stateLabel(s.state));
      state.className = `badge state-${stateClass(s.state)}`;
      const resetAt = toDate(s.resetTime);
      reset.textContent = resetAt ? resetLine(resetAt, s.daysUntilReset) : "Reset date unknown";
      fetchTime = toDate(s.fetchTime);
      tick();
    },
    /** GetBudgetStatus failed: say so, keep the last figures if there were any. */
    fail(err: unknown): void {
      loading.remove();
      say(error, "Budget data unavailable");
      // UNAVAILABLE is the service's own "Budget data unavailable"; anything else says more.
      say(errorDetail, errorCode(err) === Code.Unavailable ? "" : describeError(err));
    },
    tick,
  };
}

// ---------------------------------------------------------------------------
// Alert history.

function alertTable(id: string, alerts: Alert[], caption: string): HTMLElement {
  return h(
    "table",
    { id, class: "alerts stack" },
    h("caption", { class: "visually-hidden" }, caption),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { scope: "col" }, "Timestamp"),
        h("th", { scope: "col" }, "Event"),
        h("th", { scope: "col", class: "num" }, "Spend"),
        h("th", { scope: "col", class: "num" }, "Max Budget"),
        h("th", { scope: "col", class: "num" }, "Percentage"),
        h("th", { scope: "col" }, "Notifications"),
      ),
    ),
    h("tbody", {}, ...alerts.map(alertRow)),
  );
}

function alertRow(a: Alert): HTMLElement {
  const at = toDate(a.createTime);
  return h(
    "tr",
    { class: eventClass(a.type), "data-alert-id": a.alertId, title: a.message || false },
    h("td", { "data-label": "Timestamp" }, at ? isoSecond(at) : "—"),
    h("td", { "data-label": "Event" }, eventName(a.type, a.thresholdPercent)),
    h("td", { "data-label": "Spend", class: "num" }, formatMoney(a.spendMicros)),
    h("td", { "data-label": "Max Budget", class: "num" }, formatMoney(a.maxBudgetMicros)),
    h("td", { "data-label": "Percentage", class: "num" }, formatPercent(a.percent)),
    h(
      "td",
      { "data-label": "Notifications", class: "deliveries" },
      a.deliveries.length === 0
        ? "—"
        : h(
            "ul",
            {},
            ...a.deliveries.map((d) =>
              h(
                "li",
                { class: `delivery-${deliveryClass(d.status)}`, "data-target-id": d.targetId },
                `${kindLabel(d.kind)}: ${deliveryText(d)}`,
              ),
            ),
          ),
    ),
  );
}

function alertsView(tenantId: string, signal: AbortSignal) {
  const body = h("div", {}, h("p", { class: "muted" }, "Loading alerts…"));
  const older = h("div", { id: "older-alerts", hidden: true });
  const showOlder = h(
    "button",
    { id: "show-older-alerts", type: "button", hidden: true, "aria-expanded": "false", "aria-controls": "older-alerts" },
    "Show older alerts",
  );
  let firstPageToken = "";

  /** Pages back from `token`, appending to one table, until the server says there is no more. */
  function openOlder(): void {
    const rows = h("tbody");
    const more = h("button", { id: "load-more-alerts", type: "button" }, "Load more");
    const note = h("p", { id: "older-alerts-error", class: "error", role: "alert", hidden: true });
    let token = firstPageToken;
    let loading = false;
    async function loadPage(): Promise<void> {
      if (loading || !token) return;
      loading = true;
      more.disabled = true;
      try {
        const res = await api.listAlerts({ tenantId, pageSize: ALERT_PAGE, pageToken: token }, { signal });
        rows.append(...res.alerts.map(alertRow));
        token = res.nextPageToken;
        say(note, "");
      } catch (err) {
        if (isCanceled(err)) return;
        say(note, describeError(err, tenantId));
      } finally {
        loading = false;
        more.disabled = false;
        more.hidden = !token;
      }
    }
    const table = alertTable("older-alerts-table", [], "Older alerts, newest first");
    table.querySelector("tbody")!.replaceWith(rows);
    more.addEventListener("click", () => void loadPage());
    fill(older, h("h3", {}, "Older alerts"), table, note, more);
    void loadPage();
  }

  showOlder.addEventListener("click", () => {
    const opening = older.hidden;
    older.hidden = !opening;
    showOlder.setAttribute("aria-expanded", String(opening));
    showOlder.textContent = opening ? "Hide older alerts" : "Show older alerts";
    if (opening && older.childElementCount === 0) openOlder();
  });

  return {
    element: section("alerts", "Alert history", body, showOlder, older),
    async load(): Promise<void> {
      try {
        const res = await api.listAlerts({ tenantId, pageSize: ALERT_PAGE }, { signal });
        firstPageToken = res.nextPageToken;
        fill(
          body,
          res.alerts.length === 0
            ? h("p", { id: "no-alerts", class: "muted" }, "No alerts yet")
            : alertTable("alerts-table", res.alerts, "Latest budget alerts, newest first"),
          res.totalSize > res.alerts.length
            ? h("p", { id: "alerts-count", class: "muted" }, `Showing the latest ${res.alerts.length} of ${res.totalSize} alerts`)
            : null,
        );
      } catch (err) {
        if (isCanceled(err)) throw err;
        firstPageToken = "";
        fill(body, h("p", { id: "alerts-error", class: "error", role: "alert" }, describeError(err, tenantId)));
      }
      // New alerts shift every page: start the older section afresh.
      fill(older);
      older.hidden = true;
      showOlder.hidden = !firstPageToken;
      showOlder.setAttribute("aria-expanded", "false");
      showOlder.textContent = "Show older alerts";
    },
  };
}

// ---------------------------------------------------------------------------
// Audit log.

function auditRow(e: AuditEvent): HTMLElement {
  const at = toDate(e.createTime);
  const changes = e.detail ? e.detail.split("; ") : e.newConfig ? configChanges(e.oldConfig, e.newConfig) : [];
  const action = actionLabel(e.action);
  return h(
    "li",
    { "data-event-id": e.eventId },
    h(
      "p",
      { class: "audit-head" },
      h("strong", { class: "audit-actor" }, e.actor || "unknown"),
      " · ",
      h("time", { datetime: at?.toISOString() ?? false }, at ? isoMinute(at) : "—"),
      " · ",
      action,
    ),
    changes.length > 0
      ? h("ul", { class: "audit-changes" }, ...changes.map((c) => h("li", {}, c)))
      : h("p", { class: "muted" }, "No setting changed"),
  );
}

function auditView(tenantId: string, signal: AbortSignal) {
  const body = h("div", { id: "audit-log" }, h("p", { class: "muted" }, "Loading changes…"));
  return {
    element: section("audit", "Configuration changes", body),
    async load(): Promise<void> {
      try {
        const res = await api.listAuditEvents({ tenantId, pageSize: AUDIT_PAGE }, { signal });
        fill(
          body,
          res.events.length === 0
            ? h("p", { id: "no-audit", class: "muted" }, "No configuration changes yet")
            : h("ol", { class: "audit" }, ...res.events.map(auditRow)),
        );
      } catch (err) {
        if (isCanceled(err)) throw err;
        fill(body, h("p", { id: "audit-error", class: "error", role: "alert" }, describeError(err, tenantId)));
      }
    },
  };
}

// ---------------------------------------------------------------------------
// The page.

/**
 * The first reads of a tenant page, sent by main.ts while WhoAmI is still on its way (api.early):
 * the page's own identical calls take these answers. A request here that no longer matches the
 * page's only costs one extra call.
 */
export function startTenantReads(tenantId: string): void {
  api.early.start("getBudgetStatus", { tenantId });
  api.early.start("getBudgetConfig", { tenantId });
  api.early.start("getSpendHistory", { tenantId, days: HISTORY_DAYS });
  api.early.start("listAlerts", { tenantId, pageSize: ALERT_PAGE });
  api.early.start("listNotificationTargets", { tenantId });
  api.early.start("listAuditEvents", { tenantId, pageSize: AUDIT_PAGE });
}

/**
 * The page for `tenantId`. `allTenants` is false for a caller limited to one tenant, who has no
 * fleet page to go back to.
 */
export function showTenant(root: HTMLElement, tenantId: string, allTenants = true, role?: Role): Page {
  const ctl = new AbortController();
  const { signal } = ctl;
  const timers: ReturnType<typeof setInterval>[] = [];
  let destroyChart = () => {};

  const usage = usageView();
  const alerts = alertsView(tenantId, signal);
  const audit = auditView(tenantId, signal);
  const chartBody = h("div", { class: "chart-body" }, h("p", { class: "muted" }, "Loading spend history…"));
  const chart = section("trend", "Spend trend (last 30 days)", chartBody);
  const modelsBody = h("div", {}, h("p", { class: "muted" }, "Loading spend by model…"));
  const models = section("models", "Spend by model this period", modelsBody);
  const pageError = h("p", { id: "page-error", class: "error banner", role: "alert", hidden: true });
  const form = createConfigForm(tenantId, signal, () => void refreshAfterSave(), () => void loadConfig());
  const configSection = section("config", "Budget Configuration", form.element);
  configSection.querySelector("h2")!.id = "config-heading";
  const notifications = notificationsView(tenantId, signal, () => void audit.load().catch(ignoreCanceled));
  const life = lifecycleView(tenantId, role, () => void refreshAfterSave());
  const exports = exportView(tenantId);

  let status: BudgetStatus | undefined;
  let config: BudgetConfig | undefined;
  let history: GetSpendHistoryResponse | undefined;
  let historyError: unknown;

  /**
   * NOT_FOUND or PERMISSION_DENIED from any read means the whole page has nothing to show: say so
   * once, hide the rest.
   */
  function wholePageError(err: unknown): boolean {
    const code = errorCode(err);
    if (code !== Code.NotFound && code !== Code.PermissionDenied) return false;
    say(pageError, code === Code.PermissionDenied ? noAccessText(tenantId) : describeError(err, tenantId));
    for (const el of [usage.element, chart, models, alerts.element, configSection, notifications.element, audit.element, life.actions, exports, ...life.top]) {
      el.hidden = true;
    }
    return true;
  }

  function drawChart(): void {
    destroyChart();
    if (historyError !== undefined) {
      destroyChart = () => {};
      fill(chartBody, h("p", { id: "chart-error", class: "error", role: "alert" }, describeError(historyError, tenantId)));
      fill(modelsBody, h("p", { class: "error" }, describeError(historyError, tenantId)));
      return;
    }
    if (!history) return;
    fill(modelsBody, renderModels(modelsView(history)));
    destroyChart = renderChart(chartBody, {
      days: history.days,
      daysWithData: history.daysWithData,
      maxBudgetMicros: status?.maxBudgetMicros ?? config?.maxBudgetMicros,
      alertThresholdPercent: status?.alertThresholdPercent ?? config?.alertThresholdPercent,
      graceThresholdPercent: status?.graceThresholdPercent ?? config?.graceThresholdPercent,
      spendMicros: status?.spendMicros,
      projectedSpendMicros: status?.projectedSpendMicros,
      resetTime: toDate(status?.resetTime),
    });
  }

  async function loadStatus(): Promise<void> {
    try {
      status = (await api.getBudgetStatus({ tenantId }, { signal })).status;
      if (status) usage.show(status);
      if (status) life.show(status);
    } catch (err) {
      if (isCanceled(err)) throw err;
      if (!wholePageError(err)) usage.fail(err);
      life.fail(err);
    }
  }

  async function loadConfig(): Promise<void> {
    try {
      config = (await api.getBudgetConfig({ tenantId }, { signal })).config;
      if (config) form.setConfig(config);
    } catch (err) {
      if (isCanceled(err)) throw err;
      if (!wholePageError(err)) form.setLoadError(describeError(err, tenantId));
    }
  }

  async function loadHistory(): Promise<void> {
    try {
      history = await api.getSpendHistory({ tenantId, days: HISTORY_DAYS }, { signal });
      historyError = undefined;
    } catch (err) {
      if (isCanceled(err)) throw err;
      if (!wholePageError(err)) historyError = err;
    }
  }

  async function refreshAfterSave(): Promise<void> {
    await Promise.all([loadStatus(), loadConfig(), alerts.load(), audit.load()]).catch(ignoreCanceled);
    if (!signal.aborted) drawChart();
  }

  fill(
    root,
    allTenants ? h("p", { class: "crumbs" }, h("a", { href: "/" }, "All tenants")) : null,
    h("h1", { id: "tenant-title", tabindex: "-1" }, `Tenant ${tenantId}`),
    pageError,
    ...life.top,
    h(
      "div",
      { class: "layout" },
      h("div", { class: "col" }, usage.element, chart, models, alerts.element, exports),
      h("div", { class: "col" }, configSection, life.actions, notifications.element, audit.element),
    ),
  );
  document.title = `${tenantId} · LLM budget`;

  // The benchmark's "fully drawn": usage figures (or their error), the alert table (or its
  // message), the chart (or its message), the notification targets and the audit log are all
  // on the page.
  const statusDone = loadStatus();
  const chartDone = Promise.all([statusDone, loadConfig(), loadHistory()]).then(() => drawChart());
  Promise.all([statusDone, alerts.load(), chartDone, notifications.load(), audit.load()])
    .then(() => {
      if (!signal.aborted) document.body.dataset.ready = "1";
    })
    .catch(ignoreCanceled);

  timers.push(
    setInterval(() => {
      void loadStatus()
        .then(() => drawChart())
        .catch(ignoreCanceled);
    }, STATUS_REFRESH_MS),
    setInterval(() => usage.tick(), 1000),
  );

  return {
    stop(): void {
      ctl.abort();
      timers.forEach(clearInterval);
      destroyChart();
    },
  };
}

function ignoreCanceled(err: unknown): void {
  if (!isCanceled(err)) throw err;
}
