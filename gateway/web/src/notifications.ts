// The Notifications section of the tenant page: where the tenant's alerts are sent. Lists the
// stored targets (kind, URL origin, description, whether a secret is set; URLs and secrets are
// never returned), removes them, adds new ones, and saves the whole set with
// SetNotificationTargets.

import { Code } from "./rpc";
import { NotificationKind, type NotificationTarget } from "./gen/budget/v1/budget";
import { api, badRequests, describeError, errorCode, isCanceled } from "./api";
import { fill, h, say } from "./dom";
import { kindLabel } from "./labels";
import {
  MAX_TARGETS,
  TARGET_MESSAGES,
  targetViolation,
  validateTarget,
  type TargetErrors,
  type TargetValues,
} from "./validation";

/** A new target being typed. */
interface Draft {
  n: number;
  element: HTMLElement;
  values(): TargetValues;
  /** Shows each field's error: the client's check once touched (or after a save attempt), else the server's. */
  show(submitted: boolean): TargetErrors;
  serverErrors: TargetErrors;
  focusFirstError(): void;
}

const FIELDS: (keyof TargetValues)[] = ["kind", "url", "secret", "description"];

export function notificationsView(tenantId: string, signal: AbortSignal, onSaved: () => void) {
  const body = h("div", { id: "notifications-body" }, h("p", { class: "muted" }, "Loading notification targets…"));
  const element = h(
    "section",
    { id: "notifications", class: "card", "aria-labelledby": "notifications-heading" },
    h("h2", { id: "notifications-heading" }, "Notifications"),
    h(
      "p",
      { class: "hint" },
      "Each new alert is sent to these targets. Webhooks get JSON signed with their secret (X-Budget-Signature); Slack targets get a message.",
    ),
    body,
  );

  let stored: NotificationTarget[] = [];
  let kept: NotificationTarget[] = [];
  let keptErrors = new Map<string, string>();
  let drafts: Draft[] = [];
  let nextDraft = 1;
  let saving = false;
  let submitted = false;

  const list = h("ul", { id: "notification-targets", class: "targets" });
  const empty = h("p", { id: "no-targets", class: "muted" }, "No notification targets: alerts are only listed on this page.");
  const draftsBox = h("div", { id: "target-drafts" });
  const add = h("button", { id: "add-target", type: "button" }, "Add target");
  const limit = h("p", { id: "targets-limit", class: "hint", hidden: true }, TARGET_MESSAGES.tooMany);
  const save = h("button", { id: "save-targets", type: "submit", class: "primary" }, "Save notification targets");
  const discard = h("button", { id: "discard-targets", type: "button" }, "Discard changes");
  const message = h("p", { id: "targets-message", role: "status", hidden: true });
  const form = h(
    "form",
    { id: "targets-form", novalidate: true, "aria-labelledby": "notifications-heading" },
    list,
    empty,
    draftsBox,
    h("div", { class: "actions" }, add),
    limit,
    h("div", { class: "actions" }, save, discard),
    message,
  );

  function showMessage(text: string, kind: "success" | "error" | ""): void {
    say(message, text);
    message.className = kind;
  }

  function dirty(): boolean {
    return drafts.length > 0 || kept.length !== stored.length;
  }

  /** Redraws the list, the buttons and every draft's errors. */
  function update(): void {
    fill(list, ...kept.map(targetRow));
    empty.hidden = kept.length > 0 || drafts.length > 0;
    const full = kept.length + drafts.length >= MAX_TARGETS;
    add.disabled = saving || full;
    limit.hidden = !full;
    // Marked busy rather than disabled while saving, so it keeps the keyboard focus.
    save.disabled = !dirty();
    if (saving) save.setAttribute("aria-disabled", "true");
    else save.removeAttribute("aria-disabled");
    discard.hidden = !dirty();
    discard.disabled = saving;
    for (const d of drafts) d.show(submitted);
  }

  function targetRow(t: NotificationTarget): HTMLElement {
    const label = `${kindLabel(t.kind)} target ${t.urlOrigin}`;
    const error = keptErrors.get(t.targetId) ?? "";
    return h(
      "li",
      { class: "target", "data-target-id": t.targetId, "data-kind": kindLabel(t.kind).toLowerCase() },
      h(
        "p",
        { class: "target-head" },
        h("strong", {}, kindLabel(t.kind)),
        " ",
        h("span", { class: "target-origin" }, t.urlOrigin || "(no URL)"),
      ),
      h(
        "p",
        { class: "muted target-meta" },
        [t.description, t.kind === NotificationKind.WEBHOOK ? (t.hasSecret ? "Secret set" : "No secret") : ""]
          .filter(Boolean)
          .join(" · ") || "No description",
      ),
      error ? h("p", { class: "field-error" }, error) : null,
      h(
        "button",
        {
          type: "button",
          class: "remove",
          "aria-label": `Remove ${label}`,
          onclick: () => {
            const index = kept.indexOf(t);
            kept = kept.filter((k) => k !== t);
            showMessage("", "");
            update();
            const buttons = list.querySelectorAll<HTMLButtonElement>("button.remove");
            (buttons[Math.min(index, buttons.length - 1)] ?? add).focus();
          },
        },
        "Remove",
      ),
    );
  }

  function newDraft(): Draft {
    const n = nextDraft++;
    const id = (f: string) => `target-${n}-${f}`;
    const errors = {} as Record<keyof TargetValues, HTMLElement>;
    for (const f of FIELDS) errors[f] = h("p", { id: id(`${f}-error`), class: "field-error", hidden: true });
    const touched = new Set<keyof TargetValues>();
    const kind = h(
      "select",
      { id: id("kind"), "aria-describedby": id("kind-error") },
      h("option", { value: "webhook" }, "Webhook (signed JSON)"),
      h("option", { value: "slack" }, "Slack incoming webhook"),
    );
    const url = h("input", {
      id: id("url"),
      type: "url",
      inputmode: "url",
      autocomplete: "off",
      spellcheck: "false",
      "aria-describedby": id("url-error"),
    });
    const secret = h("input", {
      id: id("secret"),
      type: "password",
      autocomplete: "new-password",
      "aria-describedby": `${id("secret-hint")} ${id("secret-error")}`,
    });
    const description = h("input", { id: id("description"), type: "text", "aria-describedby": id("description-error") });
    const inputs: Record<keyof TargetValues, HTMLInputElement | HTMLSelectElement> = { kind, url, secret, description };
    const secretField = h(
      "div",
      { class: "field" },
      h("label", { for: id("secret") }, "Signing secret"),
      secret,
      h("p", { id: id("secret-hint"), class: "hint" }, "16 to 256 characters; the receiver checks X-Budget-Signature with it."),
      errors.secret,
    );
    const draft: Draft = {
      n,
      serverErrors: {},
      element: h(
        "fieldset",
        { class: "target-draft", "data-draft": n },
        h("legend", {}, "New target"),
        h("div", { class: "field" }, h("label", { for: id("kind") }, "Kind"), kind, errors.kind),
        h("div", { class: "field" }, h("label", { for: id("url") }, "URL"), url, errors.url),
        secretField,
        h("div", { class: "field" }, h("label", { for: id("description") }, "Description (optional)"), description, errors.description),
        h(
          "button",
          {
            type: "button",
            class: "remove",
            onclick: () => {
              drafts = drafts.filter((d) => d !== draft);
              draft.element.remove();
              showMessage("", "");
              update();
              add.focus();
            },
          },
          "Remove new target",
        ),
      ),
      values: () => ({
        kind: kind.value === "slack" ? "slack" : "webhook",
        url: url.value,
        secret: kind.value === "slack" ? "" : secret.value,
        description: description.value,
      }),
      show(all: boolean): TargetErrors {
        const v = draft.values();
        const mine = validateTarget(v);
        secretField.hidden = v.kind === "slack";
        for (const f of FIELDS) {
          const text = (all || touched.has(f) ? mine[f] : undefined) ?? draft.serverErrors[f] ?? "";
          say(errors[f], text);
          if (text) inputs[f].setAttribute("aria-invalid", "true");
          else inputs[f].removeAttribute("aria-invalid");
        }
        return mine;
      },
      focusFirstError(): void {
        const first = FIELDS.find((f) => !errors[f].hidden);
        if (first) inputs[first].focus();
      },
    };
    for (const f of FIELDS) {
      const edited = () => {
        touched.add(f);
        delete draft.serverErrors[f];
        if (message.className === "success") showMessage("", "");
        draft.show(submitted);
      };
      inputs[f].addEventListener(f === "kind" ? "change" : "input", edited);
      inputs[f].addEventListener("blur", () => {
        if (inputs[f].value !== "") edited();
      });
    }
    return draft;
  }

  add.addEventListener("click", () => {
    if (kept.length + drafts.length >= MAX_TARGETS) return;
    const draft = newDraft();
    drafts.push(draft);
    draftsBox.append(draft.element);
    showMessage("", "");
    update();
    draft.element.querySelector<HTMLInputElement>("input[type=url]")?.focus();
  });

  discard.addEventListener("click", () => {
    reset(stored);
    showMessage("", "");
    add.focus();
  });

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void submit();
  });

  function reset(targets: NotificationTarget[]): void {
    stored = targets;
    kept = [...targets];
    keptErrors = new Map();
    drafts = [];
    submitted = false;
    fill(draftsBox);
    update();
  }

  async function submit(): Promise<void> {
    if (saving) return;
    submitted = true;
    const invalid = drafts.filter((d) => Object.keys(d.show(true)).length > 0);
    if (invalid.length > 0) {
      showMessage("Please correct the highlighted fields", "error");
      invalid[0]!.focusFirstError();
      return;
    }
    const sentKept = kept;
    const sentDrafts = drafts;
    const targets = [
      ...sentKept.map((t) => ({ targetId: t.targetId, kind: t.kind, description: t.description })),
      ...sentDrafts.map((d) => {
        const v = d.values();
        return {
          kind: v.kind === "slack" ? NotificationKind.SLACK : NotificationKind.WEBHOOK,
          url: v.url.trim(),
          secret: v.secret,
          description: v.description.trim(),
        };
      }),
    ];
    saving = true;
    update();
    showMessage("Saving…", "");
    try {
      const res = await api.setNotificationTargets({ tenantId, targets }, { signal });
      saving = false;
      const focused = document.activeElement === save;
      reset(res.targets);
      // Nothing is left to save, so Save is disabled now: the focus moves on to Add target.
      if (focused && save.disabled) add.focus();
      showMessage("Notification targets saved", "success");
      onSaved();
    } catch (err) {
      saving = false;
      if (isCanceled(err)) return;
      keptErrors = new Map();
      if (errorCode(err) === Code.InvalidArgument) {
        const other: string[] = [];
        for (const detail of badRequests(err)) {
          for (const v of detail.fieldViolations) {
            const at = targetViolation(v.field);
            const keptTarget = at && at.index < sentKept.length ? sentKept[at.index] : undefined;
            const draft = at && at.index >= sentKept.length ? sentDrafts[at.index - sentKept.length] : undefined;
            if (keptTarget) keptErrors.set(keptTarget.targetId, v.description);
            else if (draft && at) draft.serverErrors[at.field] = v.description;
            else other.push(v.description || v.field);
          }
        }
        showMessage(other.length > 0 ? other.join("; ") : "Please correct the highlighted fields", "error");
      } else {
        showMessage(describeError(err, tenantId), "error");
      }
      update();
      drafts.find((d) => Object.keys(d.serverErrors).length > 0)?.focusFirstError();
    }
  }

  return {
    element,
    async load(): Promise<void> {
      try {
        const res = await api.listNotificationTargets({ tenantId }, { signal });
        fill(body, form);
        reset(res.targets);
      } catch (err) {
        if (isCanceled(err)) throw err;
        fill(body, h("p", { id: "notifications-error", class: "error", role: "alert" }, describeError(err, tenantId)));
      }
    },
  };
}
