// What-if before saving: while the admin edits the form, one sentence says what the typed
// settings would mean at the current rate ("At $20.00 a day you reach the alert threshold on
// 2026-12-03 and are blocked on 2026-12-09"). The dates come from PreviewBudgetConfig, the
// service's own forecast; nothing here forecasts. The sentence is built from a plain view
// model, so only `whatIfOf` knows the API's message.

import type { BudgetPreview, Milestone } from "./gen/budget/v1/budget";
import { Crossing } from "./gen/budget/v1/budget";
import { isCanceled, previewBudgetConfig, toDate } from "./api";
import { debounce, h, say } from "./dom";
import { formatMoney } from "./money";
import { isoDate } from "./dates";

/** Whether and when spend reaches one amount of the proposed settings. */
export type Reach = { kind: "reached" } | { kind: "on"; date: Date } | { kind: "not-before-reset" };

/** What the sentence needs to know. */
export interface WhatIf {
  dailyRateMicros: bigint;
  alert: Reach;
  block: Reach;
  /** LiteLLM's reset time as the service last read it; undefined when unknown. */
  resetTime?: Date;
  /** The proposed period differs from the current one: saving moves the reset. */
  periodChanges: boolean;
}

/** The settings as typed, already valid to the form. */
export interface ProposedSettings {
  maxBudgetMicros: bigint;
  alertThresholdPercent: number;
  graceThresholdPercent: number;
  budgetDuration: string;
}

/** How long typing must pause before the service is asked. */
export const DEBOUNCE_MS = 250;

function reachOf(m: Milestone | undefined): Reach {
  const date = toDate(m?.time);
  if (m?.crossing === Crossing.REACHED) return { kind: "reached" };
  if (m?.crossing === Crossing.BEFORE_RESET && date) return { kind: "on", date };
  return { kind: "not-before-reset" };
}

/** The view model of PreviewBudgetConfig's answer: the one place that knows the message. */
export function whatIfOf(p: BudgetPreview): WhatIf {
  return {
    dailyRateMicros: p.dailyRateMicros,
    alert: reachOf(p.alert),
    block: reachOf(p.block),
    resetTime: toDate(p.resetTime),
    periodChanges: p.periodChanges,
  };
}

/** The one sentence (two when the period changes). */
export function whatIfSentence(w: WhatIf): string {
  const perDay = `${formatMoney(w.dailyRateMicros)} a day`;
  const reset = w.resetTime ? `the reset on ${isoDate(w.resetTime)}` : "the next reset";
  const { alert, block } = w;
  let text: string;
  if (block.kind === "reached") {
    text = "These settings block the tenant at once: spend is already at the block amount.";
  } else if (alert.kind === "reached") {
    text =
      block.kind === "on"
        ? `The alert threshold is already passed; at ${perDay} you are blocked on ${isoDate(block.date)}.`
        : `The alert threshold is already passed; at ${perDay} you are not blocked before ${reset}.`;
  } else if (alert.kind === "on") {
    text =
      block.kind === "on"
        ? `At ${perDay} you reach the alert threshold on ${isoDate(alert.date)} and are blocked on ${isoDate(block.date)}.`
        : `At ${perDay} you reach the alert threshold on ${isoDate(alert.date)} and are not blocked before ${reset}.`;
  } else {
    text = `At ${perDay} you reach neither the alert threshold nor the block amount before ${reset}.`;
  }
  if (w.periodChanges) text += " Saving a new period makes LiteLLM move the reset; these dates are against the current one.";
  return text;
}

export interface WhatIfView {
  element: HTMLElement;
  /** The form's settings as typed; null while any is invalid (the sentence is cleared). */
  propose(settings: ProposedSettings | null): void;
}

/**
 * The polite live region under the form. It asks the service once typing pauses, and only the
 * answer to the latest settings is shown; failed answers clear it (the form says what is wrong).
 */
export function createWhatIf(tenantId: string, signal: AbortSignal): WhatIfView {
  const element = h("p", { id: "what-if", class: "info", "aria-live": "polite", hidden: true });
  let latest = 0;
  // The settings last asked about: the form redraws on every event, the service hears of changes.
  let askedKey = "";
  const ask = debounce(async (asked: number, settings: ProposedSettings) => {
    try {
      const preview = await previewBudgetConfig(tenantId, settings, signal);
      if (asked === latest) say(element, preview ? whatIfSentence(whatIfOf(preview)) : "");
    } catch (err) {
      if (isCanceled(err) || asked !== latest) return;
      askedKey = "";
      say(element, "");
    }
  }, DEBOUNCE_MS);
  return {
    element,
    propose(settings) {
      const key = settings ? JSON.stringify({ ...settings, maxBudgetMicros: String(settings.maxBudgetMicros) }) : "";
      if (key === askedKey) return;
      askedKey = key;
      latest += 1;
      if (settings === null) say(element, "");
      else ask(latest, settings);
    },
  };
}
