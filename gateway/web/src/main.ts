// Entry point: the header, History API routing between the fleet page and tenant pages.

import "./styles.css";
import { h } from "./dom";
import { createTenantPicker, showFleet } from "./fleet";
import { showTenant } from "./tenant";

/** What a route leaves running (calls, timers, charts); stopped when the route changes. */
export interface Page {
  stop(): void;
}

const main = document.getElementById("main")!;
let current: Page | undefined;

function route(): void {
  current?.stop();
  delete document.body.dataset.ready;
  const path = window.location.pathname;
  const tenant = /^\/tenants\/([^/]+)\/?$/.exec(path);
  if (path === "/" || path === "/index.html") {
    document.title = "Tenants · LLM budget";
    current = showFleet(main, go);
  } else if (tenant) {
    let id: string;
    try {
      id = decodeURIComponent(tenant[1]!);
    } catch {
      id = tenant[1]!;
    }
    current = showTenant(main, id);
  } else {
    document.title = "Not found · LLM budget";
    current = undefined;
    main.replaceChildren(
      h("h1", { tabindex: "-1" }, "Page not found"),
      h("p", {}, h("a", { href: "/" }, "Show all tenants")),
    );
    document.body.dataset.ready = "1";
  }
  main.querySelector<HTMLElement>("h1")?.focus({ preventScroll: true });
}

/** Shows `path` without reloading the page. */
function go(path: string, replace = false): void {
  if (replace) window.history.replaceState(null, "", path);
  else if (path !== window.location.pathname) window.history.pushState(null, "", path);
  window.scrollTo(0, 0);
  route();
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
window.addEventListener("popstate", route);

document.getElementById("picker-slot")!.replaceWith(createTenantPicker((path) => go(path)));
route();
