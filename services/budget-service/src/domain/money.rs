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
    // i64::MAX as f64 rounds up to 2^63, so compare with a strict bound.
    if micros >= -(i64::MIN as f64) || micros < i64::MIN as f64 {
        return None;
    }
    Some(micros as i64)
}

/// Converts micros to float dollars for LiteLLM's JSON.
pub fn micros_to_usd(micros: i64) -> f64 {
    micros as f64 / MICROS_PER_USD as f64
}

/// `amount x percent / 100`, rounded half up, computed without overflow.
pub fn percent_of(amount_micros: i64, percent: i32) -> i64 {
    let product = i128::from(amount_micros) * i128::from(percent);
    let rounded = if product >= 0 {
        (product + 50) / 100
    } else {
        (product - 50) / 100
    };
    i64::try_from(rounded).unwrap_or(if rounded > 0 { i64::MAX } else { i64::MIN })
}

/// Micros as dollars for people: "$1,234.56", rounded to the cent half away from zero.
pub fn format_usd(micros: i64) -> String {
    let (micros, half_cent) = (i128::from(micros), i128::from(MICROS_PER_USD / 200));
    let rounded = if micros < 0 {
        micros - half_cent
    } else {
        micros + half_cent
    };
    let cents = rounded / i128::from(MICROS_PER_USD / 100);
    let (sign, cents) = if cents < 0 {
        ("-", -cents)
    } else {
        ("", cents)
    };
    let dollars = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, digit) in dollars.chars().enumerate() {
        if i > 0 && (dollars.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{sign}${grouped}.{:02}", cents % 100)
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
