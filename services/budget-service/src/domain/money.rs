//! Money is `i64` USD micros everywhere inside the service ($1 = 1,000,000 micros).
//! LiteLLM speaks float dollars; these two functions are the only conversions.

/// Micros in one US dollar.
pub const MICROS_PER_USD: i64 = 1_000_000;

/// Converts LiteLLM's float dollars to micros, rounding half away from zero.
/// Returns `None` for NaN, infinities and amounts outside `i64` micros.
pub fn usd_to_micros(usd: f64) -> Option<i64> {
    if !usd.is_finite() {
        return None;
    }
    let micros = (usd * MICROS_PER_USD as f64).round();
    in_i64_range(micros).then(|| {
        // In range and already rounded: the cast is exact.
        #[allow(clippy::cast_possible_truncation)]
        let micros = micros as i64;
        micros
    })
}

/// 2^63 as a float: i64::MAX as f64 rounds up to it, so ranges compare against it strictly.
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;

fn in_i64_range(value: f64) -> bool {
    (-TWO_POW_63..TWO_POW_63).contains(&value)
}

/// A computed amount (micros of a forecast or a rate, milliseconds), rounded half away from
/// zero. Amounts beyond i64 (over $9.2 trillion in micros) are held at `i64::MAX` /
/// `i64::MIN`, and NaN is 0: an explicit bound, never a wrapped or garbage value.
pub fn round_saturating(value: f64) -> i64 {
    if value.is_nan() {
        0
    } else if value >= TWO_POW_63 {
        i64::MAX
    } else if value < -TWO_POW_63 {
        i64::MIN
    } else {
        // In range: the cast is exact after rounding.
        #[allow(clippy::cast_possible_truncation)]
        let micros = value.round() as i64;
        micros
    }
}

/// Whether `spend` reached `percent` % of `amount`, in exact integer arithmetic (the
/// products fit i128 for any i64 amounts and i32 percentages).
pub fn reached_percent(spend_micros: i64, amount_micros: i64, percent: i32) -> bool {
    i128::from(spend_micros).saturating_mul(100)
        >= i128::from(amount_micros).saturating_mul(i128::from(percent))
}

/// Micros rounded to whole cents, half away from zero (never overflows: i128).
fn to_cents(micros: i64) -> i128 {
    let micros = i128::from(micros);
    let half_cent = i128::from(MICROS_PER_USD / 200);
    let rounded = if micros < 0 {
        micros.saturating_sub(half_cent)
    } else {
        micros.saturating_add(half_cent)
    };
    rounded / 10_000
}

/// Converts micros to float dollars for LiteLLM's JSON.
pub fn micros_to_usd(micros: i64) -> f64 {
    micros as f64 / MICROS_PER_USD as f64
}

/// `amount x percent / 100`, rounded half up, computed without overflow.
pub fn percent_of(amount_micros: i64, percent: i32) -> i64 {
    let product = i128::from(amount_micros).saturating_mul(i128::from(percent));
    let rounded = if product >= 0 {
        product.saturating_add(50) / 100
    } else {
        product.saturating_sub(50) / 100
    };
    i64::try_from(rounded).unwrap_or(if rounded > 0 { i64::MAX } else { i64::MIN })
}

/// Micros rounded to the cent half away from zero, as the sign ("-" or ""), the whole
/// dollars and the cents.
pub fn dollars_and_cents(micros: i64) -> (&'static str, u128, u128) {
    let cents = to_cents(micros);
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    (sign, cents / 100, cents % 100)
}

/// Micros as dollars for people: "$1,234.56", rounded to the cent half away from zero.
pub fn format_usd(micros: i64) -> String {
    let (sign, dollars, cents) = dollars_and_cents(micros);
    let dollars = dollars.to_string();
    let mut grouped = String::new();
    for (i, digit) in dollars.chars().enumerate() {
        if i > 0 && dollars.len().saturating_sub(i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{sign}${grouped}.{cents:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_dollars_to_micros_rounding_half_away_from_zero() {
        assert_eq!(usd_to_micros(12.34), Some(12_340_000));
        assert_eq!(usd_to_micros(0.0000005), Some(1));
        assert_eq!(usd_to_micros(0.0000004), Some(0));
        assert_eq!(usd_to_micros(-0.0000005), Some(-1));
        assert_eq!(usd_to_micros(1.0000015), Some(1_000_002));
        assert_eq!(usd_to_micros(f64::NAN), None);
        assert_eq!(usd_to_micros(f64::INFINITY), None);
        assert_eq!(usd_to_micros(1e300), None);
    }

    #[test]
    fn converts_micros_to_dollars() {
        assert_eq!(micros_to_usd(550_000_000), 550.0);
        assert_eq!(micros_to_usd(1), 0.000001);
    }

    #[test]
    fn percent_of_rounds_half_up_without_overflow() {
        assert_eq!(percent_of(500_000_000, 110), 550_000_000);
        assert_eq!(percent_of(5, 110), 6); // 5.5 micros -> 6
        assert_eq!(percent_of(i64::MAX, 150), i64::MAX);
    }

    #[test]
    fn dollars_are_grouped_and_rounded() {
        assert_eq!(format_usd(1_234_567_890), "$1,234.57");
        assert_eq!(format_usd(0), "$0.00");
        assert_eq!(format_usd(-5_000_000), "-$5.00");
        assert_eq!(format_usd(10_000_000 * MICROS_PER_USD), "$10,000,000.00");
    }
}
