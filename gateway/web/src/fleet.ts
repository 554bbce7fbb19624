// The fleet page ("/": every tenant, fullest budget first) and the tenant picker shown on every page.

import type { TenantSummary } from "./gen/budget/v1/budget";
import { api, describeError, isCanceled, listAllTenants } from "./api";
import { debounce, fill, h, say } from "./dom";
import { formatMoney, formatPercent } from "./money";
import { stateClass, stateLabel } from "./labels";
import type { Page } from "./page";

export function tenantPath(tenantId: string): string {
  return `/tenants/${encodeURIComponent(tenantId)}`;
}

/** What the picker lists: a tenant summary, or just an id. */
type TenantName = Pick<TenantSummary, "tenantId" | "displayName">;

function tenantName(t: TenantName): string {
  return t.displayName && t.displayName !== t.tenantId ? `${t.displayName} (${t.tenantId})` : t.tenantId;
}

/** Fullest first; tenants whose spend could not be read go last, by id. */
function byPercentUsed(a: TenantSummary, b: TenantSummary): number {
  if (a.statusAvailable !== b.statusAvailable) return a.statusAvailable ? -1 : 1;
  return b.percentUsed - a.percentUsed || a.tenantId.localeCompare(b.tenantId);
}

function stateBadge(t: TenantSummary): HTMLElement {
  const state = t.statusAvailable ? t.state : 0;
  return h("span", { class: `badge state-${stateClass(state)}` }, stateLabel(state));
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
  const body = h("tbody");
  const table = h(
    "table",
    { id: "fleet-table", class: "stack" },
    h("caption", { class: "visually-hidden" }, "Tenants by share of budget used, fullest first"),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { scope: "col" }, "Tenant"),
        h("th", { scope: "col", class: "num" }, "Spend"),
        h("th", { scope: "col", class: "num" }, "Max budget"),
        h("th", { scope: "col", class: "num" }, "Used"),
        h("th", { scope: "col" }, "State"),
      ),
    ),
    body,
  );

  let seq = 0;
  async function load(filter: string, first: boolean): Promise<void> {
    const mine = ++seq;
    try {
      const tenants = await listAllTenants(filter, ctl.signal);
      if (mine !== seq) return;
      say(error, "");
      if (tenants.length === 1) {
        // One tenant to show: the fleet view has nothing to compare, so open it.
        go(tenantPath(tenants[0]!.tenantId), first);
        return;
      }
      tenants.sort(byPercentUsed);
      fill(body, ...tenants.map(fleetRow));
      table.hidden = tenants.length === 0;
      count.textContent =
        tenants.length === 0
          ? filter
            ? `No tenant matches “${filter}”`
            : "No tenants yet"
          : `${tenants.length} tenants`;
    } catch (err) {
      if (isCanceled(err) || mine !== seq) return;
      say(error, describeError(err));
      count.textContent = "";
      table.hidden = true;
    }
    document.body.dataset.ready = "1";
  }

  const onInput = debounce(() => void load(search.value.trim(), false), 250);
  search.addEventListener("input", onInput);

  fill(
    root,
    h("h1", { tabindex: "-1" }, "Tenants"),
    h("p", { class: "crumbs" }, h("a", { id: "archive-link", href: "/archive" }, "Archive of deleted tenants")),
    h(
      "form",
      { role: "search", "aria-label": "Tenant search", class: "fleet-search", onsubmit: (e) => e.preventDefault() },
      h("label", { for: "fleet-search" }, "Search tenants by id or name"),
      search,
    ),
    count,
    error,
    table,
  );
  void load("", true);
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
