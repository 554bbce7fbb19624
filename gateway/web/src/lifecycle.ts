// The tenant page's lifecycle parts (suspended banner, temporary increase, a lost LiteLLM key,
// suspend / resume / grant / rotate / delete), its CSV export links, and the archive of deleted
// tenants. Actions the service does not implement yet say so.

import { Code } from "./rpc";
import { Role, type BudgetStatus } from "./gen/budget/v1/budget";
import { api, describeError, errorCode, isKeyLost, timestampFromDate, toDate } from "./api";
import { fill, h, say } from "./dom";
import { ask } from "./dialog";
import { parseDollars } from "./money";
import { isoDate } from "./dates";
import { increaseText } from "./labels";
import { EXPORT_KINDS, exportHref, exportRange, exportRangeError } from "./exports";
import type { Page } from "./page";

function failure(err: unknown, tenantId: string): string {
  return errorCode(err) === Code.Unimplemented
    ? "This action is not available on this budget service yet."
    : describeError(err, tenantId);
}

/** Each checked input's message slot (field() makes it). */
const errorSlots = new WeakMap<HTMLElement, HTMLElement>();

/** A labelled input with its message slot below it, which the input names in aria-describedby. */
function field(id: string, label: string, input: HTMLElement): HTMLElement {
  const error = h("p", { id: `${id}-error`, class: "field-error", hidden: true });
  errorSlots.set(input, error);
  input.setAttribute("aria-describedby", error.id);
  input.addEventListener("input", () => showError(input, ""));
  return h("div", { class: "field" }, h("label", { for: id }, label), input, error);
}

/** Shows `text` at the input's field (empty clears it) and marks the input invalid while shown. */
function showError(input: HTMLElement, text: string): void {
  const slot = errorSlots.get(input);
  if (slot) say(slot, text);
  if (text) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

/** Shows each [input, message] pair at its field; focuses the first invalid input. True when all are valid. */
function checkFields(checks: [HTMLElement, string][]): boolean {
  for (const [input, text] of checks) showError(input, text);
  const first = checks.find(([, text]) => text);
  first?.[0].focus();
  return first === undefined;
}

function message(id: string): HTMLElement {
  return h("p", { id, role: "status", hidden: true });
}

/** Runs `call` with `button` disabled, reporting into `out`; true when it worked. */
async function act(button: HTMLButtonElement, out: HTMLElement, tenantId: string, call: () => Promise<unknown>, done: string) {
  const focused = document.activeElement === button;
  button.disabled = true;
  try {
    await call();
    out.className = "success";
    say(out, done);
    return true;
  } catch (err) {
    out.className = "error";
    say(out, failure(err, tenantId));
    return false;
  } finally {
    button.disabled = false;
    // Disabling dropped the keyboard focus to the page; give it back.
    if (focused) button.focus();
  }
}

/** Download links for the tenant's CSV exports over a date range (default: the last 30 days). */
export function exportView(tenantId: string): HTMLElement {
  const [from, to] = exportRange(new Date());
  const start = h("input", { id: "export-start", type: "date", value: from, required: true });
  const end = h("input", { id: "export-end", type: "date", value: to, required: true });
  const error = h("p", { id: "export-error", class: "error", role: "alert", hidden: true });
  const links = EXPORT_KINDS.map(([kind, label]) =>
    h("a", { id: `export-${kind}`, class: "button", download: "", "data-kind": kind }, `Download ${label.toLowerCase()} (CSV)`),
  );
  const list = h("p", { class: "export-links" }, ...links);
  function update(): void {
    const problem = exportRangeError(start.value, end.value);
    say(error, problem);
    list.hidden = problem !== "";
    for (const a of links) a.href = exportHref(tenantId, a.dataset.kind!, start.value, end.value);
  }
  start.addEventListener("input", update);
  end.addEventListener("input", update);
  update();
  return h(
    "section",
    { id: "export", class: "card", "aria-labelledby": "export-heading" },
    h("h2", { id: "export-heading" }, "Export (CSV)"),
    h("div", { class: "export-range" }, field("export-start", "From (UTC day)", start), field("export-end", "To (UTC day)", end)),
    error,
    list,
  );
}

/**
 * The lifecycle parts of the tenant page. `role` is the caller's (undefined when WhoAmI failed:
 * everything is offered and the service decides). `changed` reloads the page's data.
 */
export function lifecycleView(tenantId: string, role: Role | undefined, changed: () => void) {
  const platform = role === undefined || role === Role.PLATFORM_ADMIN;
  const maySuspend = platform || role === Role.TENANT_ADMIN;

  const banner = h("p", { id: "suspended-banner", class: "error banner", role: "status", hidden: true });
  const increase = h("p", { id: "temporary-increase", class: "banner", hidden: true });

  // A key LiteLLM no longer knows: say so; platform admins can attach the one in use now.
  const keyHash = h("input", { id: "attach-key-hash", autocomplete: "off", spellcheck: false, required: true });
  const attachOut = message("attach-message");
  const attachButton = h("button", { id: "attach-button", type: "submit" }, "Attach key");
  const keyLost = h(
    "div",
    { id: "key-lost", class: "card", hidden: true },
    h("p", { class: "error" }, "LiteLLM no longer knows this tenant's key." + (platform ? " Attach the key it uses now:" : " Ask a platform admin to attach the key it uses now.")),
    platform
      ? h(
          "form",
          {
            id: "attach-form",
            novalidate: true,
            onsubmit: (e) => {
              e.preventDefault();
              if (!checkFields([[keyHash, /^[0-9a-fA-F]{64}$/.test(keyHash.value.trim()) ? "" : "Enter the key's sha256: 64 hex digits."]])) return;
              void act(attachButton, attachOut, tenantId, () => api.attachTenantKey({ tenantId, keyHash: keyHash.value.trim() }), "Key attached.").then((ok) => ok && changed());
            },
          },
          field("attach-key-hash", "Key hash (sha256 of the key, 64 hex digits)", keyHash),
          attachButton,
        )
      : null,
    attachOut,
  );

  const out = message("lifecycle-message");
  const suspend = h("button", { id: "suspend-button", type: "button", class: "danger", hidden: !maySuspend }, "Suspend (emergency stop)");
  const resume = h("button", { id: "resume-button", type: "button", hidden: true }, "Resume");
  suspend.addEventListener("click", async () => {
    const reason = await ask({
      id: "suspend-dialog",
      title: `Suspend tenant ${tenantId}?`,
      text: "LiteLLM will refuse all its calls until a platform admin resumes it.",
      confirm: "Suspend now",
      danger: true,
      input: { label: "Reason", missing: "Give a reason to suspend the tenant.", maxlength: 200 },
    });
    if (reason === null) return;
    void act(suspend, out, tenantId, () => api.suspendTenant({ tenantId, reason }), "Suspended.").then((ok) => ok && changed());
  });
  resume.addEventListener("click", async () => {
    const yes = await ask({
      id: "resume-dialog",
      title: `Resume tenant ${tenantId}?`,
      text: "LiteLLM will accept its calls again.",
      confirm: "Resume",
    });
    if (yes === null) return;
    void act(resume, out, tenantId, () => api.resumeTenant({ tenantId }), "Resumed.").then((ok) => ok && changed());
  });

  let platformParts: HTMLElement[] = [];
  if (platform) {
    const amount = h("input", { id: "increase-amount", inputmode: "decimal", required: true });
    const until = h("input", { id: "increase-until", type: "date", required: true });
    const reason = h("input", { id: "increase-reason", maxlength: "200", required: true });
    const grant = h("button", { id: "increase-button", type: "submit" }, "Grant temporary increase");
    const grantOut = message("increase-message");
    const grantForm = h(
      "form",
      { id: "increase-form", novalidate: true, "aria-labelledby": "increase-heading" },
      h("h3", { id: "increase-heading" }, "Grant temporary increase"),
      field("increase-amount", "Amount ($)", amount),
      field("increase-until", "Until (UTC day)", until),
      field("increase-reason", "Reason", reason),
      grant,
      grantOut,
    );
    grantForm.addEventListener("submit", (e) => {
      e.preventDefault();
      const micros = parseDollars(amount.value);
      const day = Date.parse(`${until.value}T23:59:59Z`);
      const valid = checkFields([
        [amount, micros === null || micros <= 0n ? "Enter an amount in dollars greater than 0." : ""],
        [until, Number.isNaN(day) ? "Choose the last day of the increase." : ""],
        [reason, reason.value.trim() ? "" : "Give a reason."],
      ]);
      say(grantOut, "");
      if (!valid || micros === null) return;
      void act(grant, grantOut, tenantId, () =>
        api.grantTemporaryIncrease({ tenantId, amountMicros: micros, expireTime: timestampFromDate(new Date(day)), reason: reason.value.trim() }),
        "Increase granted.",
      ).then((ok) => ok && changed());
    });

    const rotate = h("button", { id: "rotate-button", type: "button" }, "Rotate key");
    const newKey = h("div", { id: "new-key", hidden: true });
    rotate.addEventListener("click", async () => {
      const yes = await ask({
        id: "rotate-dialog",
        title: `Replace tenant ${tenantId}'s LiteLLM key?`,
        text: "The old key stops working at once; the new one is shown once.",
        confirm: "Rotate key",
        danger: true,
      });
      if (yes === null) return;
      let key = "";
      void act(rotate, out, tenantId, async () => (key = (await api.rotateTenantKey({ tenantId })).virtualKey), "Key rotated.").then((ok) => {
        if (!ok) return;
        const value = h("input", { id: "new-key-value", readonly: true, value: key, size: 40 });
        fill(newKey, field("new-key-value", "New key (shown once)", value), h("p", { class: "muted" }, "Copy it now (select it, then Ctrl+C or ⌘C): it is not shown again."));
        newKey.hidden = false;
        value.select();
        changed();
      });
    });

    const confirmId = h("input", { id: "delete-confirm", autocomplete: "off" });
    const del = h("button", { id: "delete-button", type: "submit", class: "danger", disabled: true }, "Delete tenant");
    confirmId.addEventListener("input", () => (del.disabled = confirmId.value.trim() !== tenantId));
    const delOut = message("delete-message");
    const delForm = h(
      "form",
      { id: "delete-form" },
      field("delete-confirm", `Type ${tenantId} to delete the tenant and its key`, confirmId),
      del,
      delOut,
    );
    delForm.addEventListener("submit", (e) => {
      e.preventDefault();
      if (confirmId.value.trim() !== tenantId) return;
      void act(del, delOut, tenantId, () => api.deleteTenant({ tenantId }), "Deleted.").then((ok) => ok && window.location.assign("/archive"));
    });
    platformParts = [grantForm, h("p", {}, rotate), newKey, delForm];
  }

  const actions = h(
    "section",
    { id: "lifecycle", class: "card", "aria-labelledby": "lifecycle-heading", hidden: !maySuspend },
    h("h2", { id: "lifecycle-heading" }, "Tenant actions"),
    h("p", { class: "actions" }, suspend, resume),
    out,
    ...platformParts,
  );

  return {
    top: [banner, increase, keyLost],
    actions,
    show(s: BudgetStatus): void {
      keyLost.hidden = true;
      say(banner, s.suspended ? "Suspended: LiteLLM refuses this tenant's calls" : "");
      // The keyboard focus follows Suspend to Resume (and back) when one replaces the other.
      const from = document.activeElement;
      suspend.hidden = !maySuspend || s.suspended;
      resume.hidden = !platform || !s.suspended;
      const to = from === suspend ? resume : from === resume ? suspend : null;
      if (to && (from as HTMLElement).hidden && !to.hidden) to.focus();
      const t = s.temporaryIncrease;
      say(increase, t ? increaseText(t.amountMicros, toDate(t.expireTime), t.reason) : "");
    },
    fail(err: unknown): void {
      keyLost.hidden = !isKeyLost(err);
    },
  };
}

/** "/archive": deleted tenants, read-only, with the day each was deleted. */
export function showArchive(root: HTMLElement): Page {
  const ctl = new AbortController();
  const body = h("div", {}, h("p", { class: "muted" }, "Loading deleted tenants…"));
  fill(
    root,
    h("p", { class: "crumbs" }, h("a", { href: "/" }, "All tenants")),
    h("h1", { tabindex: "-1" }, "Archive: deleted tenants"),
    body,
  );
  document.title = "Archive · LLM budget";
  void (async () => {
    try {
      const deleted = [];
      let pageToken = "";
      for (let page = 0; page < 1000; page++) {
        const res = await api.listTenants({ pageSize: 500, pageToken, includeDeleted: true }, { signal: ctl.signal });
        deleted.push(...res.tenants.filter((t) => t.deleteTime));
        if (!res.nextPageToken || res.nextPageToken === pageToken) break;
        pageToken = res.nextPageToken;
      }
      fill(
        body,
        deleted.length === 0
          ? h("p", { id: "no-archive", class: "muted" }, "No deleted tenants")
          : h(
              "table",
              { id: "archive-table", class: "stack" },
              h("caption", { class: "visually-hidden" }, "Deleted tenants"),
              h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Tenant"), h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Deleted on"))),
              h(
                "tbody",
                {},
                ...deleted.map((t) =>
                  h(
                    "tr",
                    { "data-tenant-id": t.tenantId },
                    h("td", { "data-label": "Tenant" }, t.tenantId),
                    h("td", { "data-label": "Name" }, t.displayName),
                    h("td", { "data-label": "Deleted on" }, isoDate(toDate(t.deleteTime)!)),
                  ),
                ),
              ),
            ),
      );
    } catch (err) {
      if (ctl.signal.aborted) return;
      fill(body, h("p", { id: "archive-error", class: "error", role: "alert" }, failure(err, "")));
    }
    if (!ctl.signal.aborted) document.body.dataset.ready = "1";
  })();
  return { stop: () => ctl.abort() };
}
