// "Where the money goes": the current period's spend by model (the service's top five, then
// "Other models"), as a labelled list with a bar per model. No chart library: each row says its
// amount and share in text, the bar only repeats it.
//
// `modelsView` turns the API's answer into a plain view model (the one place that knows the
// message); `renderModels` draws a view model. Both are pure but for the DOM in the second.

import { h } from "./dom";
import { formatMoney } from "./money";

/** One row of the list. */
export interface ModelRow {
  /** "openai/gpt-4o", or "Other models". */
  label: string;
  /** "$12.34". */
  amount: string;
  /** Share of the period's spend by model, whole percent as text: "42 %", "<1 %". */
  share: string;
  /** The bar's width, 0 to 100. */
  width: number;
  other: boolean;
}

export interface ModelsView {
  /** "Since 2026-12-01". */
  since: string;
  rows: ModelRow[];
  /** The sum of the rows: "$20.00". */
  total: string;
}

/** What the view needs of GetSpendHistory's answer. */
export interface ModelSpendMessage {
  periodStart: string;
  models: { model: string; spendMicros: bigint; other: boolean }[];
}

/** The service's top five and "other", formatted; shares of their sum. */
export function modelsView(answer: ModelSpendMessage): ModelsView {
  const total = answer.models.reduce((sum, m) => sum + m.spendMicros, 0n);
  const rows = answer.models.map((m) => {
    // Per ten thousand, in bigint: amounts may pass 2^53 micros.
    const basis = total > 0n ? Number((m.spendMicros * 10_000n) / total) : 0;
    const percent = Math.round(basis / 100);
    return {
      label: m.other ? "Other models" : m.model,
      amount: formatMoney(m.spendMicros),
      share: percent === 0 && m.spendMicros > 0n ? "<1 %" : `${percent} %`,
      width: basis / 100,
      other: m.other,
    };
  });
  return { since: answer.periodStart ? `Since ${answer.periodStart}` : "", rows, total: formatMoney(total) };
}

/** The list for `view`, or a line saying there is no spend by model yet. */
export function renderModels(view: ModelsView): HTMLElement {
  if (view.rows.length === 0) {
    return h("p", { id: "models-empty", class: "muted" }, "No spend by model this period yet.");
  }
  return h(
    "div",
    { class: "models" },
    h("p", { class: "muted", id: "models-since" }, `${view.since} · ${view.total} in total`),
    h(
      "ul",
      { id: "model-list", class: "model-list" },
      ...view.rows.map((row) => {
        const fill = h("span", { class: "model-fill" });
        // Through the CSSOM: the page's CSP refuses style attributes.
        fill.style.width = `${row.width.toFixed(2)}%`;
        return h(
          "li",
          { class: row.other ? "model other" : "model", "data-model": row.other ? "" : row.label },
          h("span", { class: "model-name" }, row.label),
          h("span", { class: "model-amount" }, `${row.amount} (${row.share})`),
          h("span", { class: "model-bar", "aria-hidden": "true" }, fill),
        );
      }),
    ),
  );
}
