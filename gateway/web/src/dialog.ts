// The confirmation dialogs of the tenant actions: a modal <dialog> on the page rather than the
// browser's prompt()/confirm(), so it has a heading, a labelled reason field with its message at
// the field, the page's styles (it fits a phone's width) and a keyboard path (Tab, Enter,
// Escape). Focus goes back to the button that opened it.

import { h, say } from "./dom";

export interface Ask {
  /** Element id prefix: `${id}`, `${id}-confirm`, `${id}-cancel`, `${id}-input`. */
  id: string;
  title: string;
  text: string;
  /** The confirm button's text ("Suspend now"). */
  confirm: string;
  /** A destructive action: Cancel has the focus first and the confirm button is red. */
  danger?: boolean;
  /** A required one-line answer (the reason), with its label and the message when it is empty. */
  input?: { label: string; missing: string; maxlength: number };
}

/** Shows the dialog; resolves with the typed answer ("" without a field) or null when cancelled. */
export function ask({ id, title, text, confirm, danger = false, input }: Ask): Promise<string | null> {
  const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
  const error = h("p", { id: `${id}-error`, class: "field-error", hidden: true });
  const field = input
    ? h("input", {
        id: `${id}-input`,
        type: "text",
        autocomplete: "off",
        maxlength: String(input.maxlength),
        required: true,
        "aria-describedby": `${id}-error`,
      })
    : null;
  const ok = h("button", { id: `${id}-confirm`, type: "submit", class: danger ? "primary danger" : "primary" }, confirm);
  const cancel = h("button", { id: `${id}-cancel`, type: "button" }, "Cancel");
  const form = h(
    "form",
    { method: "dialog", novalidate: true },
    h("h2", { id: `${id}-title` }, title),
    h("p", { id: `${id}-text` }, text),
    field && input ? h("div", { class: "field" }, h("label", { for: field.id }, input.label), field, error) : null,
    h("div", { class: "actions" }, ok, cancel),
  );
  const dialog = h("dialog", { id, class: "dialog", "aria-labelledby": `${id}-title`, "aria-describedby": `${id}-text` }, form);
  document.body.append(dialog);

  return new Promise((resolve) => {
    let answer: string | null = null;
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      if (field && input && !field.value.trim()) {
        say(error, input.missing);
        field.setAttribute("aria-invalid", "true");
        field.focus();
        return;
      }
      answer = field ? field.value.trim() : "";
      dialog.close();
    });
    field?.addEventListener("input", () => {
      say(error, "");
      field.removeAttribute("aria-invalid");
    });
    cancel.addEventListener("click", () => dialog.close());
    // Escape closes a modal dialog by itself (answer stays null).
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (opener?.isConnected) opener.focus();
      resolve(answer);
    });
    dialog.showModal();
    (field ?? (danger ? cancel : ok)).focus();
  });
}
