// The fleet overview above the fleet table: how many tenants are in each state (each count a
// filter of the table), the fleet's spend against its budgets this period, and the tenants the
// service's forecast expects to run out before their reset, soonest first.
//
// Everything here works on the plain `FleetOverview`; `overviewFromSummary` is the one place
// that reads the API's message. The run-out dates are the service's forecast (computed by its
// evaluator), never recomputed here.

import type { GetFleetSummaryResponse } from "./gen/budget/v1/budget";
import { toDate } from "./api";
import { h } from "./dom";
import { isoDate } from "./dates";
import { formatMoney, formatPercent } from "./money";

/** Where a tenant stands in the fleet; every tenant is in exactly one. */
export type FleetStateKey = "ok" | "warning" | "grace" | "blocked" | "suspended" | "unavailable";

/** The states in the order the overview shows them, least severe first. */
export const FLEET_STATES: readonly FleetStateKey[] = ["ok", "warning", "grace", "blocked", "suspended", "unavailable"];

/** A tenant the forecast expects to reach its budget before its reset. */
export interface RunOut {
  tenantId: string;
  displayName: string;
  runOut: Date;
  reset: Date | undefined;
}

/** What the overview shows. */
export interface FleetOverview {
  counts: Record<FleetStateKey, number>;
  /** Tenants the totals cover (evaluated at least once). */
  evaluated: number;
  totalSpendMicros: bigint;
  totalBudgetMicros: bigint;
  /** How many tenants run out before their reset; `runsOut` lists the soonest of them. */
  runsOutCount: number;
  runsOut: RunOut[];
}

/** The API's answer as the overview's view model. */
export function overviewFromSummary(res: GetFleetSummaryResponse): FleetOverview {
  return {
    counts: {
      ok: res.okCount,
      warning: res.warningCount,
      grace: res.graceCount,
      blocked: res.blockedCount,
      suspended: res.suspendedCount,
      unavailable: res.unavailableCount,
    },
    evaluated: res.evaluatedCount,
    totalSpendMicros: res.totalSpendMicros,
    totalBudgetMicros: res.totalBudgetMicros,
    runsOutCount: res.runsOutCount,
    runsOut: res.runsOut.flatMap((t) => {
      const runOut = toDate(t.runOutTime);
      return runOut ? [{ tenantId: t.tenantId, displayName: t.displayName, runOut, reset: toDate(t.resetTime) }] : [];
    }),
  };
}

/** The words for each fleet state, as the state badges say them. */
const FLEET_STATE_LABELS: Record<FleetStateKey, string> = {
  ok: "OK",
  warning: "Warning",
  grace: "Grace period",
  blocked: "Blocked",
  suspended: "Suspended",
  unavailable: "Unavailable",
};

export function fleetStateLabel(state: FleetStateKey): string {
  return FLEET_STATE_LABELS[state];
}

/** The badge class of a fleet state (the table's badges use the same). */
export function fleetStateClass(state: FleetStateKey): string {
  return state === "unavailable" ? "unknown" : state === "suspended" ? "blocked" : state;
}

/** "$1,234.00 of $3,000.00 (41.1%)"; no percent when there is no budget to compare with. */
export function totalsText(spendMicros: bigint, budgetMicros: bigint): string {
  const base = `${formatMoney(spendMicros)} of ${formatMoney(budgetMicros)}`;
  if (budgetMicros <= 0n) return base;
  return `${base} (${formatPercent((Number(spendMicros) / Number(budgetMicros)) * 100)})`;
}

/** "across 5 tenants", said of the tenants the totals cover. */
export function coverageText(evaluated: number): string {
  return evaluated === 1 ? "across 1 tenant" : `across ${evaluated} tenants`;
}

/** "runs out 2026-12-10, resets 2027-01-01". */
export function runOutText(r: RunOut): string {
  return r.reset ? `runs out ${isoDate(r.runOut)}, resets ${isoDate(r.reset)}` : `runs out ${isoDate(r.runOut)}`;
}

/** The heading of the run-out list: how many, and whether the list names them all. */
export function runsOutHeading(count: number, listed: number): string {
  if (count === 0) return "No tenant is expected to run out before its reset";
  const what = count === 1 ? "1 tenant runs out before its reset" : `${count} tenants run out before their reset`;
  return listed < count ? `${what} (soonest ${listed} shown)` : what;
}

/**
 * The overview's DOM. `selected` is the state the table shows (undefined: all); clicking a count
 * calls `onSelect` with its state, or with undefined when it was already selected.
 */
export function renderFleetOverview(
  o: FleetOverview,
  selected: FleetStateKey | undefined,
  onSelect: (state: FleetStateKey | undefined) => void,
  tenantHref: (tenantId: string) => string,
): HTMLElement {
  const total = FLEET_STATES.reduce((n, s) => n + o.counts[s], 0);
  const countButton = (state: FleetStateKey | undefined, label: string, n: number, cls: string) =>
    h(
      "button",
      {
        type: "button",
        class: "fleet-count",
        "data-state": state ?? "all",
        "aria-pressed": String(state === selected),
        onclick: () => onSelect(state === selected ? undefined : state),
      },
      h("span", { class: `badge state-${cls}` }, label),
      " ",
      h("span", { class: "fleet-count-n" }, String(n)),
    );
  return h(
    "section",
    { id: "fleet-overview", class: "fleet-overview", "aria-label": "Fleet overview" },
    h(
      "div",
      { class: "fleet-counts", role: "group", "aria-label": "Show tenants by state" },
      countButton(undefined, "All", total, "unknown"),
      ...FLEET_STATES.map((s) => countButton(s, fleetStateLabel(s), o.counts[s], fleetStateClass(s))),
    ),
    h(
      "p",
      { id: "fleet-totals" },
      h("strong", {}, "Spend this period: "),
      totalsText(o.totalSpendMicros, o.totalBudgetMicros),
      " ",
      h("span", { class: "muted" }, coverageText(o.evaluated)),
    ),
    h(
      "div",
      { id: "fleet-runs-out" },
      h("h2", { class: "fleet-runs-out-title" }, runsOutHeading(o.runsOutCount, o.runsOut.length)),
      o.runsOut.length === 0
        ? null
        : h(
            "ol",
            { class: "fleet-runs-out-list" },
            ...o.runsOut.map((r) =>
              h(
                "li",
                { "data-tenant-id": r.tenantId },
                h("a", { href: tenantHref(r.tenantId) }, r.displayName || r.tenantId),
                " ",
                runOutText(r),
              ),
            ),
          ),
    ),
  );
}
