//! CSV exports: the date range rules, RFC 4180 writing, and the value formats
//! (dollars with cents, UTC ISO 8601 times). Pure; no I/O.
//!
//! Exports are opened in spreadsheets, and some of their cells are other people's text
//! (token names as actors, display names and reasons in audit details). A spreadsheet runs a
//! cell starting with `=`, `+`, `-` or `@` as a formula (and tab or CR can hide such a start),
//! so, following OWASP's CSV injection rule, every such cell is written with a leading `'`,
//! which spreadsheets show as text. The one exception is a cell that is a plain decimal
//! number (`-12.50`): it cannot be a formula, and prefixing it would turn our own negative
//! amounts into text. That rule looks at the value, not the column, so it also covers a text
//! cell that happens to be a number.

use chrono::{DateTime, Days, NaiveDate, Utc};

use super::budget::FieldViolation;
use super::model_spend::ModelSpend;
use super::money::dollars_and_cents;

/// The longest range an export may cover: `end` at most this many days after `start`.
pub const MAX_EXPORT_DAYS: i64 = 400;

/// What an export contains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportKind {
    DailySpend,
    Alerts,
    AuditEvents,
}

impl ExportKind {
    /// The name used in file names and URLs.
    pub fn slug(self) -> &'static str {
        match self {
            ExportKind::DailySpend => "daily-spend",
            ExportKind::Alerts => "alerts",
            ExportKind::AuditEvents => "audit-events",
        }
    }

    pub fn parse(raw: &str) -> Option<ExportKind> {
        [
            ExportKind::DailySpend,
            ExportKind::Alerts,
            ExportKind::AuditEvents,
        ]
        .into_iter()
        .find(|k| k.slug() == raw)
    }
}

/// UTC days from `start` through `end`, inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateRange {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl DateRange {
    /// Checks both dates (strict `YYYY-MM-DD`), `start <= end` and the length limit; one
    /// violation per bad field.
    pub fn parse(start: &str, end: &str) -> Result<DateRange, Vec<FieldViolation>> {
        let parsed_start = strict_date(start);
        let parsed_end = strict_date(end);
        let mut violations = Vec::new();
        if parsed_start.is_none() {
            violations.push(FieldViolation::new(
                "start_date",
                "Start date must be a date as YYYY-MM-DD",
            ));
        }
        if parsed_end.is_none() {
            violations.push(FieldViolation::new(
                "end_date",
                "End date must be a date as YYYY-MM-DD",
            ));
        }
        let (Some(start), Some(end)) = (parsed_start, parsed_end) else {
            return Err(violations);
        };
        if end < start {
            return Err(vec![FieldViolation::new(
                "end_date",
                "End date must not be before the start date",
            )]);
        }
        if end.signed_duration_since(start).num_days() > MAX_EXPORT_DAYS {
            return Err(vec![FieldViolation::new(
                "end_date",
                format!("End date must be at most {MAX_EXPORT_DAYS} days after the start date"),
            )]);
        }
        Ok(DateRange { start, end })
    }

    /// Every day of the range, oldest first.
    pub fn days(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.start.iter_days().take_while(|d| *d <= self.end)
    }

    /// The first instant of `start` and the first instant after `end`.
    pub fn bounds(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        let after = self.end.checked_add_days(Days::new(1)).unwrap_or(self.end);
        (
            self.start.and_time(chrono::NaiveTime::MIN).and_utc(),
            after.and_time(chrono::NaiveTime::MIN).and_utc(),
        )
    }
}

fn strict_date(raw: &str) -> Option<NaiveDate> {
    let shape = raw.len() == 10
        && raw.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !shape {
        return None;
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()
}

/// The suggested file name, e.g. `acme-alerts-2026-11-01-2026-11-30.csv`.
pub fn file_name(tenant: &str, kind: ExportKind, range: &DateRange) -> String {
    format!(
        "{tenant}-{}-{}-{}.csv",
        kind.slug(),
        range.start.format("%Y-%m-%d"),
        range.end.format("%Y-%m-%d")
    )
}

/// An RFC 4180 CSV document: CRLF line ends; fields containing a comma, quote, CR or LF are
/// quoted with inner quotes doubled; fields a spreadsheet would run as a formula are
/// neutralised first ([`neutralise_formula`]).
#[derive(Debug, Default)]
pub struct CsvWriter {
    out: String,
}

impl CsvWriter {
    /// A document starting with the header row.
    pub fn with_header(header: &[&str]) -> CsvWriter {
        let mut writer = CsvWriter::default();
        writer.row(header);
        writer
    }

    pub fn row<S: AsRef<str>>(&mut self, fields: &[S]) {
        for (i, field) in fields.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            let field = neutralise_formula(field.as_ref());
            if field.contains([',', '"', '\r', '\n']) {
                self.out.push('"');
                self.out.push_str(&field.replace('"', "\"\""));
                self.out.push('"');
            } else {
                self.out.push_str(&field);
            }
        }
        self.out.push_str("\r\n");
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// The characters that make a spreadsheet read a cell as a formula (OWASP's list).
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// `field` as a spreadsheet shows it as text: prefixed with `'` when it starts with one of
/// [`FORMULA_STARTS`], unless it is a plain decimal number such as `-0.01`.
pub fn neutralise_formula(field: &str) -> std::borrow::Cow<'_, str> {
    if field.starts_with(FORMULA_STARTS) && !is_plain_number(field) {
        std::borrow::Cow::Owned(format!("'{field}"))
    } else {
        std::borrow::Cow::Borrowed(field)
    }
}

/// `-?digits(.digits)?`: what [`dollars`] and integer formatting write.
fn is_plain_number(field: &str) -> bool {
    let digits = field.strip_prefix('-').unwrap_or(field);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    all_digits(whole) && all_digits(fraction)
}

/// Micros as plain dollars with cents, rounded half away from zero: "1234.50", "-0.01".
pub fn dollars(micros: i64) -> String {
    let (sign, dollars, cents) = dollars_and_cents(micros);
    format!("{sign}{dollars}.{cents:02}")
}

/// A time in UTC ISO 8601 to the second: "2026-11-28T15:04:05Z".
pub fn iso_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Half a cent: the least amount the CSV shows as a cent.
const HALF_CENT_MICROS: i64 = 5_000;

/// How the daily spend CSV names the summed spend of models not stored by name.
pub const OTHER_MODELS_CELL: &str = "(other models)";

/// The daily spend CSV: for each day of the range, one row per model (as stored: most spend
/// first, "other models" last), then a row with an empty model for the day's spend no model
/// accounts for (days stored before the split by model); a day without spend is one row of
/// 0.00. A day's rows add up to its spend, to the cent.
pub fn daily_spend_csv(
    range: &DateRange,
    days: &[(NaiveDate, i64)],
    models: &[(NaiveDate, ModelSpend)],
) -> String {
    let spend: std::collections::BTreeMap<NaiveDate, i64> = days.iter().copied().collect();
    let mut csv = CsvWriter::with_header(&["date", "model", "spend_usd"]);
    for day in range.days() {
        let date = day.format("%Y-%m-%d").to_string();
        let total = spend.get(&day).copied().unwrap_or(0);
        let mut attributed = 0i64;
        for (_, model) in models.iter().filter(|(d, _)| *d == day) {
            attributed = attributed.saturating_add(model.spend_micros);
            let name = model.model.as_deref().unwrap_or(OTHER_MODELS_CELL);
            csv.row(&[date.as_str(), name, &dollars(model.spend_micros)]);
        }
        // LiteLLM's float dollars round to micros one by one: a remainder under half a cent
        // is rounding, not spend.
        let rest = total.saturating_sub(attributed);
        if rest >= HALF_CENT_MICROS || attributed == 0 {
            csv.row(&[date.as_str(), "", &dollars(rest.max(0))]);
        }
    }
    csv.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(raw: &str) -> NaiveDate {
        NaiveDate::parse_from_str(raw, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn quotes_only_fields_that_need_it() {
        let mut csv = CsvWriter::with_header(&["a", "b"]);
        csv.row(&["plain", "with,comma"]);
        csv.row(&["say \"hi\"", "two\nlines"]);
        csv.row(&["cr\rhere", ""]);
        assert_eq!(
            csv.finish(),
            "a,b\r\nplain,\"with,comma\"\r\n\"say \"\"hi\"\"\",\"two\nlines\"\r\n\"cr\rhere\",\r\n"
        );
    }

    #[test]
    fn cells_a_spreadsheet_would_run_are_neutralised() {
        let mut csv = CsvWriter::with_header(&["cell"]);
        for cell in [
            "=HYPERLINK(\"http://evil\",\"x\")",
            "+1+1",
            "-2+3+cmd|' /C calc'!A0",
            "@SUM(A1:A2)",
            "\t=1+1",
            "\r=1+1",
            "-",
            "--1",
            "-1.",
            "-.5",
            "+5",
        ] {
            csv.row(&[cell]);
        }
        // Plain numbers, ours (negative amounts) or anyone's, stay numbers; ordinary text too.
        for cell in ["-0.01", "-1234.50", "-7", "12", "a=b", "x-1", ""] {
            csv.row(&[cell]);
        }
        assert_eq!(
            csv.finish(),
            "cell\r\n\
             \"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\"\r\n\
             '+1+1\r\n\
             '-2+3+cmd|' /C calc'!A0\r\n\
             '@SUM(A1:A2)\r\n\
             '\t=1+1\r\n\
             \"'\r=1+1\"\r\n\
             '-\r\n\
             '--1\r\n\
             '-1.\r\n\
             '-.5\r\n\
             '+5\r\n\
             -0.01\r\n-1234.50\r\n-7\r\n12\r\na=b\r\nx-1\r\n\r\n"
        );
    }

    #[test]
    fn formats_dollars_with_cents() {
        assert_eq!(dollars(1_234_500_000), "1234.50");
        assert_eq!(dollars(0), "0.00");
        assert_eq!(dollars(5_000), "0.01");
        assert_eq!(dollars(4_999), "0.00");
        assert_eq!(dollars(-10_000), "-0.01");
        assert_eq!(dollars(i64::MAX), "9223372036854.78");
    }

    #[test]
    fn formats_times_in_utc() {
        let at = DateTime::parse_from_rfc3339("2026-11-28T16:04:05+01:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(iso_time(at), "2026-11-28T15:04:05Z");
    }

    #[test]
    fn parses_strict_dates_and_limits() {
        let range = DateRange::parse("2026-11-01", "2026-11-30").unwrap();
        assert_eq!(range.days().count(), 30);
        for bad in [
            "2026-1-01",
            "2026-11-31",
            "20261101",
            " 2026-11-01",
            "2026-11-01T00",
            "",
        ] {
            let err = DateRange::parse(bad, "2026-12-01").unwrap_err();
            assert_eq!(err.len(), 1, "{bad}");
            assert_eq!(err[0].field, "start_date");
        }
        let both = DateRange::parse("x", "y").unwrap_err();
        assert_eq!(both.len(), 2);
        assert_eq!(
            DateRange::parse("2026-11-02", "2026-11-01").unwrap_err()[0].field,
            "end_date"
        );
        assert!(DateRange::parse("2025-01-01", "2026-02-05").is_ok()); // 400 days after
        assert!(DateRange::parse("2025-01-01", "2026-02-06").is_err());
        assert!(DateRange::parse("2026-11-01", "2026-11-01").is_ok());
    }

    #[test]
    fn bounds_cover_whole_utc_days() {
        let range = DateRange::parse("2026-11-01", "2026-11-02").unwrap();
        let (from, to) = range.bounds();
        assert_eq!(iso_time(from), "2026-11-01T00:00:00Z");
        assert_eq!(iso_time(to), "2026-11-03T00:00:00Z");
    }

    #[test]
    fn daily_spend_is_zero_filled() {
        let range = DateRange::parse("2026-11-01", "2026-11-03").unwrap();
        let csv = daily_spend_csv(&range, &[(date("2026-11-02"), 1_500_000)], &[]);
        assert_eq!(
            csv,
            "date,model,spend_usd\r\n2026-11-01,,0.00\r\n2026-11-02,,1.50\r\n2026-11-03,,0.00\r\n"
        );
    }

    #[test]
    fn daily_spend_has_a_row_per_model_adding_up_to_the_day() {
        let range = DateRange::parse("2026-11-01", "2026-11-02").unwrap();
        let day = date("2026-11-01");
        let csv = daily_spend_csv(
            &range,
            &[(day, 4_000_000), (date("2026-11-02"), 1_000_001)],
            &[
                (day, ModelSpend::named("openai/gpt-4o", 2_500_000)),
                (day, ModelSpend::named("=cmd|' /C calc'!A0", 500_000)),
                (day, ModelSpend::other(250_000)),
                (
                    date("2026-11-02"),
                    ModelSpend::named("openai/gpt-4o", 1_000_000),
                ),
            ],
        );
        assert_eq!(
            csv,
            "date,model,spend_usd\r\n\
             2026-11-01,openai/gpt-4o,2.50\r\n\
             2026-11-01,'=cmd|' /C calc'!A0,0.50\r\n\
             2026-11-01,(other models),0.25\r\n\
             2026-11-01,,0.75\r\n\
             2026-11-02,openai/gpt-4o,1.00\r\n"
        );
    }

    #[test]
    fn names_files_and_kinds() {
        let range = DateRange::parse("2026-11-01", "2026-11-30").unwrap();
        assert_eq!(
            file_name("acme", ExportKind::Alerts, &range),
            "acme-alerts-2026-11-01-2026-11-30.csv"
        );
        assert_eq!(
            ExportKind::parse("audit-events"),
            Some(ExportKind::AuditEvents)
        );
        assert_eq!(ExportKind::parse("nope"), None);
    }
}
