// Money and percents. The API carries int64 micros (bigint); the UI shows and edits cents.
// Pure helpers: no DOM, no I/O, so `npm test` runs them under node.

export const MICROS_PER_DOLLAR = 1_000_000n;
const MICROS_PER_CENT = 10_000n;
/** The largest budget the service accepts: $10,000,000. */
export const MAX_BUDGET_MICROS = 10_000_000n * MICROS_PER_DOLLAR;

/** Micros to whole cents, rounding half away from zero. */
function microsToCents(micros: bigint): bigint {
  const half = MICROS_PER_CENT / 2n;
  return micros >= 0n ? (micros + half) / MICROS_PER_CENT : -((-micros + half) / MICROS_PER_CENT);
}

function groupThousands(digits: string): string {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** 1234560000n -> "$1,234.56"; -5000000n -> "-$5.00". */
export function formatMoney(micros: bigint): string {
  const cents = microsToCents(micros);
  const abs = cents < 0n ? -cents : cents;
  const dollars = groupThousands((abs / 100n).toString());
  const rest = (abs % 100n).toString().padStart(2, "0");
  return `${cents < 0n ? "-" : ""}$${dollars}.${rest}`;
}

/** Micros as the value of the budget input: 500000000n -> "500", 123450000n -> "123.45". */
export function microsToInput(micros: bigint): string {
  const cents = microsToCents(micros);
  const abs = cents < 0n ? -cents : cents;
  const whole = `${cents < 0n ? "-" : ""}${abs / 100n}`;
  return abs % 100n === 0n ? whole : `${whole}.${(abs % 100n).toString().padStart(2, "0")}`;
}

/**
 * A dollar amount as typed ("500", "123.45", "0.005", "1e3") to micros, rounded to the
 * cent (half away from zero). Null when it is not a number. Plain decimals are converted
 * digit by digit so that 0.29 or 123.455 do not pick up binary floating-point error.
 */
export function parseDollars(text: string): bigint | null {
  const s = text.trim();
  if (s === "") return null;
  const plain = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(s);
  if (plain && (plain[2] !== "" || (plain[3] ?? "") !== "")) {
    const [, sign, whole, frac = ""] = plain;
    const padded = (frac + "000").slice(0, 3);
    let cents = BigInt(whole || "0") * 100n + BigInt(padded.slice(0, 2));
    if (Number(padded[2]) >= 5) cents += 1n;
    return (sign === "-" ? -cents : cents) * MICROS_PER_CENT;
  }
  const n = Number(s);
  if (!Number.isFinite(n)) return null;
  const cents = Math.sign(n) * Math.round(Math.abs(n) * 100);
  return BigInt(cents) * MICROS_PER_CENT;
}

/** The input's value after one ArrowUp (+1) or ArrowDown (-1) press: moves by $50 within [$0.01, $10,000,000]. */
export function stepBudget(text: string, direction: 1 | -1, step = 50): string {
  const micros = parseDollars(text) ?? 0n;
  let next = micros + BigInt(direction * step) * MICROS_PER_DOLLAR;
  if (next < MICROS_PER_CENT) next = MICROS_PER_CENT;
  if (next > MAX_BUDGET_MICROS) next = MAX_BUDGET_MICROS;
  return microsToInput(next);
}

/** The spend at which LiteLLM blocks: budget x grace / 100. */
export function blockAtMicros(maxBudgetMicros: bigint, gracePercent: number): bigint {
  return (maxBudgetMicros * BigInt(Math.round(gracePercent))) / 100n;
}

/** "Will block at $550.00 (110% of $500.00)". */
export function blockText(maxBudgetMicros: bigint, gracePercent: number): string {
  const at = formatMoney(blockAtMicros(maxBudgetMicros, gracePercent));
  return `Will block at ${at} (${gracePercent}% of ${formatMoney(maxBudgetMicros)})`;
}

/** 116 -> "116.0%". */
export function formatPercent(percent: number): string {
  return `${(Number.isFinite(percent) ? percent : 0).toFixed(1)}%`;
}

/** Dollars without cents when whole: 200000000n -> "$200", 12345000n -> "$12.35". */
export function formatDollarsShort(micros: bigint): string {
  const s = formatMoney(micros);
  return s.endsWith(".00") ? s.slice(0, -3) : s;
}

/**
 * The burn-up line of the current period, aligned with `daily` (oldest first, ending today):
 * today's value is `spendToday`; each earlier day is the next day's value less that next
 * day's spend. Once it reaches zero (where the period began) that day is 0 and earlier
 * days are null (no line).
 */
export function cumulativeSpend(daily: number[], spendToday: number): (number | null)[] {
  const out: (number | null)[] = daily.map(() => null);
  let value = spendToday;
  // Cent-sized noise from float dollars must not keep the line alive.
  const epsilon = 0.000001;
  for (let i = daily.length - 1; i >= 0; i--) {
    if (value <= epsilon) {
      out[i] = 0;
      break;
    }
    out[i] = value;
    value -= daily[i]!;
  }
  return out;
}
