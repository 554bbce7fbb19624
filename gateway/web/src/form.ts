// The Budget Configuration form: prefilled from GetBudgetConfig, validated as the user
// types, saved with UpdateBudgetConfig and the etag it was read with.

import { Code } from "./rpc";
import type { BudgetConfig } from "./gen/budget/v1/budget";
import { api, describeError, errorCode, isCanceled, violationsOf } from "./api";
import { h, say } from "./dom";
import { blockText, microsToInput, parseDollars, stepBudget } from "./money";
import { BUDGET_DURATIONS, durationLabel, isBudgetDuration, resetMoveText } from "./dates";
import { validateForm, type FormErrors, type FormValues } from "./validation";
import { createWhatIf } from "./whatif";

export interface ConfigForm {
  element: HTMLElement;
  /** Shows a config as read from the server; it becomes the one saves are checked against. */
  setConfig(config: BudgetConfig): void;
  /** Shows why the config could not be read; the form stays disabled. */
  setLoadError(message: string): void;
}

const FIELDS: (keyof FormValues)[] = ["maxBudget", "alertThreshold", "graceThreshold", "budgetDuration"];
const ERROR_IDS: Record<keyof FormValues, string> = {
  maxBudget: "max-budget-error",
  alertThreshold: "alert-threshold-error",
  graceThreshold: "grace-threshold-error",
  budgetDuration: "budget-duration-error",
};

export function createConfigForm(
  tenantId: string,
  signal: AbortSignal,
  onSaved: (config: BudgetConfig) => void,
  reload: () => void,
): ConfigForm {
  const errorEl = {} as Record<keyof FormValues, HTMLElement>;
  for (const f of FIELDS) errorEl[f] = h("p", { id: ERROR_IDS[f], class: "field-error", hidden: true });

  const budget = h("input", {
    id: "max-budget-input",
    name: "max_budget",
    type: "number",
    inputmode: "decimal",
    min: "0.01",
    max: "10000000",
    // Any cent amount is valid to the browser (`step` counts from `min`); the ±$50 moves are ours.
    step: "0.01",
    value: "500",
    required: true,
    "aria-describedby": "max-budget-hint max-budget-error",
  });
  const alert = h("input", {
    id: "alert-threshold-input",
    name: "alert_threshold",
    type: "range",
    min: "50",
    max: "100",
    step: "1",
    value: "80",
    "aria-describedby": "alert-threshold-error",
  });
  const alertOut = h("output", { id: "alert-threshold-value", for: "alert-threshold-input" }, "80%");
  const grace = h("input", {
    id: "grace-threshold-input",
    name: "grace_threshold",
    type: "range",
    min: "100",
    max: "150",
    step: "1",
    value: "110",
    "aria-describedby": "grace-threshold-error",
  });
  const graceOut = h("output", { id: "grace-threshold-value", for: "grace-threshold-input" }, "110%");
  const duration = h(
    "select",
    { id: "budget-duration-select", name: "budget_duration", "aria-describedby": "reset-move-note budget-duration-error" },
    ...BUDGET_DURATIONS.map((d) => h("option", { value: d }, durationLabel(d))),
  );
  const blockAmount = h("p", { id: "block-amount", class: "info", "aria-live": "polite" });
  const resetMove = h("p", { id: "reset-move-note", class: "info", "aria-live": "polite", hidden: true });
  const save = h("button", { id: "save-button", type: "submit", class: "primary" }, "Save Budget Config");
  const message = h("p", { id: "form-message", role: "status", hidden: true });
  const reloadButton = h("button", { id: "reload-config", type: "button", hidden: true, onclick: () => reload() }, "Reload");
  const stepButton = (dir: 1 | -1, text: string, label: string) =>
    h(
      "button",
      {
        type: "button",
        class: "step",
        "aria-label": label,
        "aria-controls": "max-budget-input",
        onclick: () => {
          budget.value = stepBudget(budget.value, dir);
          update();
        },
      },
      text,
    );

  const fieldset = h(
    "fieldset",
    { disabled: true },
    h("legend", { class: "visually-hidden" }, "Budget settings"),
    h(
      "div",
      { class: "field" },
      h("label", { for: "max-budget-input" }, "Maximum Budget ($)"),
      h(
        "div",
        { class: "money-input" },
        stepButton(-1, "−50", "Decrease by $50"),
        budget,
        stepButton(1, "+50", "Increase by $50"),
      ),
      h("p", { id: "max-budget-hint", class: "hint" }, "Any amount from $0.01 to $10,000,000; arrow keys move by $50."),
      errorEl.maxBudget,
    ),
    h(
      "div",
      { class: "field" },
      h("label", { for: "alert-threshold-input" }, "Alert Threshold ", alertOut),
      alert,
      errorEl.alertThreshold,
    ),
    h(
      "div",
      { class: "field" },
      h("label", { for: "grace-threshold-input" }, "Grace Threshold ", graceOut),
      grace,
      errorEl.graceThreshold,
    ),
    h(
      "div",
      { class: "field" },
      h("label", { for: "budget-duration-select" }, "Budget Period"),
      duration,
      resetMove,
      errorEl.budgetDuration,
    ),
    blockAmount,
    h("div", { class: "actions" }, save, reloadButton),
  );
  const whatIf = createWhatIf(tenantId, signal);
  const form = h(
    "form",
    { id: "config-form", novalidate: true, "aria-labelledby": "config-heading" },
    fieldset,
    whatIf.element,
    message,
  );

  let saved: BudgetConfig | undefined;
  let serverErrors: FormErrors = {};
  let saving = false;

  function values(): FormValues {
    return {
      maxBudget: budget.value,
      alertThreshold: Number(alert.value),
      graceThreshold: Number(grace.value),
      budgetDuration: duration.value,
    };
  }

  /** Redraws everything that follows from the inputs: errors, live texts, the Save button. */
  function update(): FormErrors {
    const v = values();
    const errors = validateForm(v);
    for (const f of FIELDS) {
      const text = errors[f] ?? serverErrors[f] ?? "";
      say(errorEl[f], text);
      const input = { maxBudget: budget, alertThreshold: alert, graceThreshold: grace, budgetDuration: duration }[f];
      if (text) input.setAttribute("aria-invalid", "true");
      else input.removeAttribute("aria-invalid");
    }
    alertOut.textContent = `${v.alertThreshold}%`;
    alert.setAttribute("aria-valuetext", `${v.alertThreshold}%`);
    graceOut.textContent = `${v.graceThreshold}%`;
    grace.setAttribute("aria-valuetext", `${v.graceThreshold}%`);
    const micros = parseDollars(v.maxBudget);
    blockAmount.textContent =
      errors.maxBudget || micros === null
        ? "Will block at — (enter a valid maximum budget)"
        : blockText(micros, v.graceThreshold);
    const periodChanged = saved !== undefined && v.budgetDuration !== saved.budgetDuration;
    say(resetMove, periodChanged && isBudgetDuration(v.budgetDuration) ? resetMoveText(v.budgetDuration, new Date()) : "");
    // While saving, Save keeps the keyboard focus (disabling it would drop the focus to the page):
    // it is marked busy instead, and submit() ignores it.
    save.disabled = Object.keys(errors).length > 0;
    if (saving) save.setAttribute("aria-disabled", "true");
    else save.removeAttribute("aria-disabled");
    const valid = saved !== undefined && Object.keys(errors).length === 0 && micros !== null;
    whatIf.propose(
      valid
        ? {
            maxBudgetMicros: micros,
            alertThresholdPercent: v.alertThreshold,
            graceThresholdPercent: v.graceThreshold,
            budgetDuration: v.budgetDuration,
          }
        : null,
    );
    return errors;
  }

  function clearServerError(field: keyof FormValues): void {
    delete serverErrors[field];
  }

  function showMessage(text: string, kind: "success" | "error" | ""): void {
    say(message, text);
    message.className = kind;
  }

  const onEdit = (field: keyof FormValues) => () => {
    clearServerError(field);
    if (message.className === "success") showMessage("", "");
    update();
  };
  budget.addEventListener("input", onEdit("maxBudget"));
  alert.addEventListener("input", onEdit("alertThreshold"));
  grace.addEventListener("input", onEdit("graceThreshold"));
  duration.addEventListener("change", onEdit("budgetDuration"));
  // The browser's own stepping would move by the cent `step`; arrow keys move by whole $50 instead.
  budget.addEventListener("keydown", (e) => {
    if (e.key !== "ArrowUp" && e.key !== "ArrowDown") return;
    e.preventDefault();
    budget.value = stepBudget(budget.value, e.key === "ArrowUp" ? 1 : -1);
    onEdit("maxBudget")();
  });
  // A wheel turn over a focused number field would also step by a cent; scroll the page instead.
  budget.addEventListener("wheel", () => budget.blur(), { passive: true });

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void submit();
  });

  async function submit(): Promise<void> {
    const errors = update();
    if (Object.keys(errors).length > 0 || saving) {
      const first = FIELDS.find((f) => errors[f]);
      if (first) form.querySelector<HTMLElement>(`[aria-describedby~="${ERROR_IDS[first]}"]`)?.focus();
      return;
    }
    const v = values();
    saving = true;
    update();
    showMessage("Saving…", "");
    try {
      const res = await api.updateBudgetConfig(
        {
          tenantId,
          config: {
            maxBudgetMicros: parseDollars(v.maxBudget) ?? 0n,
            alertThresholdPercent: v.alertThreshold,
            graceThresholdPercent: v.graceThreshold,
            budgetDuration: v.budgetDuration,
          },
          etag: saved?.etag ?? "",
        },
        { signal },
      );
      saving = false;
      if (res.config) setConfig(res.config);
      showMessage("Budget configuration updated successfully", "success");
      reloadButton.hidden = true;
      if (res.config) onSaved(res.config);
    } catch (err) {
      saving = false;
      if (isCanceled(err)) return;
      const code = errorCode(err);
      if (code === Code.InvalidArgument) {
        const { fields, other } = violationsOf(err);
        serverErrors = fields;
        const unplaced = other.length > 0 ? other.join("; ") : Object.keys(fields).length === 0 ? describeError(err) : "";
        showMessage(unplaced || "Please correct the highlighted fields", "error");
      } else {
        // ABORTED included: what the user typed stays; Reload fetches the latest values.
        showMessage(describeError(err, tenantId), "error");
        reloadButton.hidden = code !== Code.Aborted;
      }
      update();
    }
  }

  function setConfig(config: BudgetConfig): void {
    saved = config;
    serverErrors = {};
    budget.value = microsToInput(config.maxBudgetMicros);
    alert.value = String(config.alertThresholdPercent);
    grace.value = String(config.graceThresholdPercent);
    if (!isBudgetDuration(config.budgetDuration) && !duration.querySelector(`option[value="${CSS.escape(config.budgetDuration)}"]`)) {
      // Keep an unexpected stored period visible, so validation can say what is wrong with it.
      duration.append(h("option", { value: config.budgetDuration }, config.budgetDuration || "(none)"));
    }
    duration.value = config.budgetDuration;
    fieldset.disabled = false;
    if (message.className === "error") showMessage("", "");
    reloadButton.hidden = true;
    update();
  }

  function setLoadError(text: string): void {
    showMessage(text, "error");
  }

  update();
  return { element: form, setConfig, setLoadError };
}
