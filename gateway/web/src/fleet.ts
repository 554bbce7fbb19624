// The fleet page ("/": the fleet overview, then every tenant, fullest budget first, sortable by
// any column, a page at a time) and the tenant picker shown on every page.

import { FleetState, type TenantSummary } from "./gen/budget/v1/budget";
import { api, Code, describeError, errorCode, getFleetSummary, isCanceled } from "./api";
import { debounce, fill, h, say } from "./dom";
import { formatMoney, formatPercent } from "./money";
import { stateClass } from "./labels";
import {
  type FleetOverview,
  type FleetStateKey,
  fleetStateClass,
  fleetStateLabel,
  overviewFromSummary,
  renderFleetOverview,
} from "./fleet-overview";
import type { Page } from "./page";

export function tenantPath(tenantId: string): string {
  return `/tenants/${encodeURIComponent(tenantId)}`;
}

/** What the picker lists: a tenant summary, or just an id. */
type TenantName = Pick<TenantSummary, "tenantId" | "displayName">;

function tenantName(t: TenantName): string {
  return t.displayName && t.displayName !== t.tenantId ? `${t.displayName} (${t.tenantId})` : t.tenantId;
}

/** Where the row's tenant stands in the fleet (what the overview's counts filter by). */
function rowState(t: TenantSummary): FleetStateKey {
  if (t.suspended) return "suspended";
  if (!t.statusAvailable) return "unavailable";
  return stateClass(t.state) as FleetStateKey;
}

function stateBadge(t: TenantSummary): HTMLElement {
  const state = rowState(t);
  return h("span", { class: `badge state-${fleetStateClass(state)}` }, fleetStateLabel(state));
}

function fleetRow(t: TenantSummary): HTMLElement {
  const na = "—";
  return h(
    "tr",
    { "data-tenant-id": t.tenantId, "data-state": t.statusAvailable ? stateClass(t.state) : "unknown" },
    h("td", { "data-label": "Tenant" }, h("a", { href: tenantPath(t.tenantId) }, tenantName(t))),
    h("td", { "data-label": "Spend", class: "num" }, t.statusAvailable ? formatMoney(t.spendMicros) : na),
    h("td", { "data-label": "Max budget", class: "num" }, formatMoney(t.maxBudgetMicros)),
    h("td", { "data-label": "Used", class: "num" }, t.statusAvailable ? formatPercent(t.percentUsed) : na),
    h("td", { "data-label": "State" }, stateBadge(t)),
  );
}

/** The table's sortable columns: heading and ListTenants' order_by name. Numbers and states
 * sort highest (most severe) first on the first click, the tenant id from a to z. */
const COLUMNS = [
  ["Tenant", "tenant_id"],
  ["Spend", "spend_micros"],
  ["Max budget", "max_budget_micros"],
  ["Used", "percent_used"],
  ["State", "state"],
] as const;

type SortKey = (typeof COLUMNS)[number][1];

/** The state filter as ListTenants takes it. */
const FLEET_STATE_VALUES: Record<FleetStateKey, FleetState> = {
  ok: FleetState.OK,
  warning: FleetState.WARNING,
  grace: FleetState.GRACE,
  blocked: FleetState.BLOCKED,
  suspended: FleetState.SUSPENDED,
  unavailable: FleetState.UNAVAILABLE,
};

/** Tenants per ListTenants page; the next page loads on request. */
const PAGE_SIZE = 50;

/** "6 tenants", "1 tenant in Grace period", "50 tenants so far"; what the list under it shows. */
export function fleetCountText(n: number, state: FleetStateKey | undefined, more: boolean): string {
  const tenants = `${n} ${n === 1 ? "tenant" : "tenants"}`;
  const inState = state ? ` in state ${fleetStateLabel(state)}` : "";
  return `${tenants}${inState}${more ? " so far" : ""}`;
}

/** The "/" page. `go` navigates (replacing the history entry when asked). */
export function showFleet(root: HTMLElement, go: (path: string, replace?: boolean) => void): Page {
  const ctl = new AbortController();
  const search = h("input", {
    id: "fleet-search",
    type: "search",
    autocomplete: "off",
    spellcheck: "false",
    "aria-describedby": "fleet-count",
  });
  const count = h("p", { id: "fleet-count", class: "muted", "aria-live": "polite" }, "Loading tenants…");
  const error = h("p", { id: "fleet-error", class: "error", role: "alert", hidden: true });
  const overviewSlot = h("div", { id: "fleet-overview-slot" });
  const body = h("tbody");
  const more = h("button", { id: "fleet-more", type: "button", hidden: true }, "Show more tenants");
  const caption = h("caption", { class: "visually-hidden" });
  const headRow = h("tr");
  const table = h("table", { id: "fleet-table", class: "stack" }, caption, h("thead", {}, headRow), body);

  let state: FleetStateKey | undefined;
  let sort: { key: SortKey; desc: boolean } = { key: "percent_used", desc: true };
  let overview: FleetOverview | undefined;
  let shown = 0;
  let nextToken = "";

  function drawHead(): void {
    caption.textContent = `Tenants by ${sort.key}${sort.desc ? ", highest first" : ""}`;
    fill(
      headRow,
      ...COLUMNS.map(([label, key]) => {
        const active = key === sort.key;
        const mark = active ? (sort.desc ? " ▼" : " ▲") : "";
        return h(
          "th",
          {
            scope: "col",
            class: key === "tenant_id" || key === "state" ? undefined : "num",
            "aria-sort": active ? (sort.desc ? "descending" : "ascending") : undefined,
          },
          h(
            "button",
            {
              type: "button",
              class: "sort",
              "data-sort": key,
              onclick: () => {
                sort = { key, desc: active ? !sort.desc : key !== "tenant_id" };
                void load(false);
              },
            },
            label,
            h("span", { "aria-hidden": "true" }, mark),
          ),
        );
      }),
    );
  }

  function drawOverview(): void {
    if (!overview) return;
    fill(
      overviewSlot,
      renderFleetOverview(
        overview,
        state,
        (s) => {
          state = s;
          drawOverview();
          void load(false);
        },
        tenantPath,
      ),
    );
  }

  async function loadOverview(): Promise<void> {
    try {
      overview = overviewFromSummary(await getFleetSummary(ctl.signal));
      drawOverview();
    } catch (err) {
      // Only platform admins see the fleet's figures; the table is everyone's.
      if (isCanceled(err) || errorCode(err) === Code.PermissionDenied) return;
      fill(overviewSlot, h("p", { id: "fleet-overview-error", class: "error" }, describeError(err)));
    }
  }

  let seq = 0;
  /** Loads the first page for the search, state and order (or, with `append`, the next one). */
  async function load(append: boolean, first = false): Promise<void> {
    const mine = ++seq;
    const filter = search.value.trim();
    drawHead();
    try {
      const res = await api.listTenants(
        {
          pageSize: PAGE_SIZE,
          pageToken: append ? nextToken : "",
          filter,
          orderBy: `${sort.key}${sort.desc ? " desc" : ""}`,
          state: state ? FLEET_STATE_VALUES[state] : FleetState.UNSPECIFIED,
        },
        { signal: ctl.signal },
      );
      if (mine !== seq) return;
      say(error, "");
      const tenants = res.tenants;
      if (!append && !state && !res.nextPageToken && tenants.length === 1) {
        // One tenant to show: the fleet view has nothing to compare, so open it.
        go(tenantPath(tenants[0]!.tenantId), first);
        return;
      }
      nextToken = res.nextPageToken;
      shown = (append ? shown : 0) + tenants.length;
      if (append) body.append(...tenants.map(fleetRow));
      else fill(body, ...tenants.map(fleetRow));
      table.hidden = shown === 0;
      more.hidden = !nextToken;
      count.textContent =
        shown > 0
          ? fleetCountText(shown, state, !!nextToken)
          : filter
            ? `No tenant matches “${filter}”`
            : state
              ? `No tenant in state ${fleetStateLabel(state)}`
              : "No tenants yet";
    } catch (err) {
      if (isCanceled(err) || mine !== seq) return;
      say(error, describeError(err));
      count.textContent = "";
      table.hidden = true;
      more.hidden = true;
    }
    if (!first) document.body.dataset.ready = "1";
  }

  const onInput = debounce(() => void load(false), 250);
  search.addEventListener("input", onInput);
  more.addEventListener("click", () => void load(true));

  fill(
    root,
    h("h1", { tabindex: "-1" }, "Tenants"),
    h("p", { class: "crumbs" }, h("a", { id: "archive-link", href: "/archive" }, "Archive of deleted tenants")),
    overviewSlot,
    h(
      "form",
      { role: "search", "aria-label": "Tenant search", class: "fleet-search", onsubmit: (e) => e.preventDefault() },
      h("label", { for: "fleet-search" }, "Search tenants by id or name"),
      search,
    ),
    count,
    error,
    table,
    more,
  );
  // The page is drawn once both have answered, so `data-ready` means everything is there.
  void Promise.all([loadOverview(), load(false, true)]).then(() => {
    if (!ctl.signal.aborted) document.body.dataset.ready = "1";
  });
  return { stop: () => ctl.abort() };
}

/**
 * The header's search-as-you-type tenant switcher, an ARIA combobox: typing lists matching tenants
 * (options that are links); Enter opens the only match (or an exact id); arrows move the active
 * option (`aria-activedescendant`, focus stays in the input) and Enter opens it; Escape closes it.
 * A caller limited to `onlyTenant` is offered that tenant alone, without asking the service.
 */
export function createTenantPicker(go: (path: string) => void, onlyTenant?: string): HTMLElement {
  const input = h("input", {
    id: "tenant-picker-input",
    type: "search",
    autocomplete: "off",
    spellcheck: "false",
    placeholder: "Tenant id or name",
    role: "combobox",
    "aria-autocomplete": "list",
    "aria-controls": "tenant-picker-results",
    "aria-expanded": "false",
  });
  const list = h("ul", {
    id: "tenant-picker-results",
    class: "picker-results",
    role: "listbox",
    "aria-label": "Matching tenants",
    hidden: true,
  });
  let matches: TenantName[] = [];
  /** The option the arrow keys point at, -1 for none. */
  let active = -1;
  /** The filter `matches` answers. */
  let matchesFor = "";
  let seq = 0;

  const options = (): HTMLAnchorElement[] => [...list.querySelectorAll<HTMLAnchorElement>("[role=option]")];

  function setActive(i: number): void {
    const opts = options();
    active = opts.length === 0 ? -1 : Math.max(-1, Math.min(i, opts.length - 1));
    opts.forEach((o, j) => o.setAttribute("aria-selected", String(j === active)));
    const current = opts[active];
    if (current) {
      input.setAttribute("aria-activedescendant", current.id);
      current.scrollIntoView({ block: "nearest" });
    } else input.removeAttribute("aria-activedescendant");
  }

  function close(): void {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    setActive(-1);
  }

  function open(target: string): void {
    input.value = "";
    close();
    go(tenantPath(target));
  }

  /** The latest lookup, so Enter can wait for the one that answers what was typed. */
  let latest: Promise<void> = Promise.resolve();
  function lookup(): Promise<void> {
    latest = runLookup();
    return latest;
  }

  async function runLookup(): Promise<void> {
    const mine = ++seq;
    const filter = input.value.trim();
    if (!filter) {
      matches = [];
      matchesFor = "";
      close();
      return;
    }
    let items: HTMLElement[];
    try {
      const found =
        onlyTenant === undefined ? (await api.listTenants({ filter, pageSize: 10 })).tenants : ownTenant(onlyTenant, filter);
      if (mine !== seq) return;
      matches = found;
      matchesFor = filter;
      items = matches.map((t, i) =>
        h(
          "li",
          { role: "none" },
          h(
            "a",
            {
              id: `tenant-picker-option-${i}`,
              role: "option",
              "aria-selected": "false",
              tabindex: "-1",
              href: tenantPath(t.tenantId),
              onclick: () => ((input.value = ""), close()),
            },
            tenantName(t),
          ),
        ),
      );
      if (items.length === 0) items = [h("li", { role: "none", class: "muted" }, "No matching tenant")];
    } catch (err) {
      if (mine !== seq) return;
      matches = [];
      matchesFor = "";
      items = [h("li", { role: "none", class: "error" }, describeError(err))];
    }
    fill(list, ...items);
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
    setActive(-1);
  }

  async function submit(): Promise<void> {
    const chosen = active >= 0 ? matches[active] : undefined;
    if (chosen && !list.hidden) return open(chosen.tenantId);
    const typed = input.value.trim();
    if (!typed) return;
    // Enter may come before the debounced lookup of what was typed: look it up first (and wait
    // for any lookup that starts meanwhile, as only the latest one shows its answer).
    if (matchesFor !== typed) {
      let pending = lookup();
      for (;;) {
        await pending;
        if (pending === latest) break;
        pending = latest;
      }
    }
    if (matchesFor !== typed || input.value.trim() !== typed) return;
    const exact = matches.find((t) => t.tenantId === typed.toLowerCase());
    if (exact) open(exact.tenantId);
    else if (matches.length === 1) open(matches[0]!.tenantId);
    else if (matches.length > 1) setActive(0);
  }

  input.addEventListener("input", debounce(() => void lookup(), 200));
  input.addEventListener("keydown", (e) => {
    if ((e.key === "ArrowDown" || e.key === "ArrowUp") && !list.hidden) {
      e.preventDefault();
      setActive(active + (e.key === "ArrowDown" ? 1 : -1));
    } else if (e.key === "Escape") {
      close();
    }
  });

  const form = h(
    "form",
    {
      id: "tenant-picker",
      role: "search",
      "aria-label": "Tenant switcher",
      class: "picker",
      onsubmit: (e) => {
        e.preventDefault();
        void submit();
      },
    },
    h("label", { for: "tenant-picker-input" }, "Switch tenant"),
    input,
    list,
  );
  // Close the list when focus leaves the picker entirely.
  form.addEventListener("focusout", (e) => {
    if (!form.contains(e.relatedTarget as Node | null)) close();
  });
  return form;
}

/** The one tenant a limited caller may open, when `filter` matches its id. */
function ownTenant(tenantId: string, filter: string): TenantName[] {
  return tenantId.includes(filter.toLowerCase()) ? [{ tenantId, displayName: "" }] : [];
}
