// Entry point: who is signed in, the header, History API routing between the fleet page and
// tenant pages.

import "./styles.css";
import { api, errorCode, startViewTrace } from "./api";
import { Code } from "./rpc";
import { h } from "./dom";
import { createTenantPicker, showFleet, tenantPath } from "./fleet";
import { signedInText } from "./labels";
import type { WhoAmIResponse } from "./gen/budget/v1/budget";
import { showTenant, startTenantReads } from "./tenant";
import { showArchive } from "./lifecycle";
import type { Page } from "./page";

const main = document.getElementById("main")!;
let current: Page | undefined;
/** Who the session belongs to; undefined when WhoAmI failed (the pages then say what fails). */
let me: WhoAmIResponse | undefined;

/** The one tenant the caller may see, or undefined for every tenant. */
function onlyTenant(): string | undefined {
  return me?.tenantId || undefined;
}

/** The tenant a tenant page's path names, undefined for other pages. */
function tenantOf(path: string): string | undefined {
  const tenant = /^\/tenants\/([^/]+)\/?$/.exec(path);
  if (!tenant) return undefined;
  try {
    return decodeURIComponent(tenant[1]!);
  } catch {
    return tenant[1]!;
  }
}

function route(): void {
  current?.stop();
  delete document.body.dataset.ready;
  const path = window.location.pathname;
  const tenant = tenantOf(path);
  const own = onlyTenant();
  if ((path === "/" || path === "/index.html") && own !== undefined) {
    // A caller limited to one tenant has no fleet: its tenant is the home page.
    go(tenantPath(own), true);
    return;
  }
  if (path === "/" || path === "/index.html") {
    document.title = "Tenants · LLM budget";
    current = showFleet(main, go);
  } else if (path === "/archive") {
    current = showArchive(main);
  } else if (tenant !== undefined) {
    current = showTenant(main, tenant, own === undefined, me?.role);
  } else {
    document.title = "Not found · LLM budget";
    current = undefined;
    main.replaceChildren(
      h("h1", { tabindex: "-1" }, "Page not found"),
      h("p", {}, h("a", { href: "/" }, own === undefined ? "Show all tenants" : `Show tenant ${own}`)),
    );
    document.body.dataset.ready = "1";
  }
  main.querySelector<HTMLElement>("h1")?.focus({ preventScroll: true });
}

/** Shows `path` without reloading the page, as a trace of its own unless it only replaces the
 * current entry (a redirect or a filter change belongs to the view that made it). */
function go(path: string, replace = false): void {
  if (!replace) startViewTrace();
  if (replace) window.history.replaceState(null, "", path);
  else if (path !== window.location.pathname) window.history.pushState(null, "", path);
  window.scrollTo(0, 0);
  route();
}

/** "Signed in as NAME (role)" and the sign-out button: a plain form, so it works without the API. */
function sessionBox(): HTMLElement {
  return h(
    "div",
    { id: "session", class: "session" },
    me ? h("span", { id: "signed-in-as" }, signedInText(me.name, me.role)) : null,
    h(
      "form",
      { id: "sign-out-form", method: "post", action: "/signout" },
      h("button", { id: "sign-out", type: "submit" }, "Sign out"),
    ),
  );
}

// Same-origin links are handled here; modified clicks (new tab, ...) keep the browser's behaviour.
document.addEventListener("click", (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const link = (e.target as Element | null)?.closest?.("a");
  if (!link || link.target || link.hasAttribute("download") || link.origin !== window.location.origin) return;
  if (link.hash && link.pathname === window.location.pathname) return;
  e.preventDefault();
  go(link.pathname);
});
window.addEventListener("popstate", () => {
  startViewTrace();
  route();
});

async function start(): Promise<void> {
  // A tenant page's reads need not wait for WhoAmI: they go out with it.
  const first = tenantOf(window.location.pathname);
  if (first !== undefined) startTenantReads(first);
  try {
    me = await api.whoAmI({});
  } catch (err) {
    // UNAUTHENTICATED: the browser is already on its way to the sign-in page.
    if (errorCode(err) === Code.Unauthenticated) return;
    me = undefined;
  }
  document.getElementById("picker-slot")!.replaceWith(createTenantPicker((path) => go(path), onlyTenant()));
  document.querySelector("header.top")!.append(sessionBox());
  route();
  api.early.clear();
}

void start();
