//! Logging settings, read from the environment: RUST_LOG (tracing's filter directives) and
//! BUDGET_LOG_FORMAT (`json`: one JSON object per line). `startup::init_tracing` installs them.

use tracing_subscriber::EnvFilter;

/// The filter when RUST_LOG is unset or not valid directives.
pub const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn,h2=warn,tower=warn";

/// How each log line is written (to stderr).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// tracing's human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// What to log and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSettings {
    /// tracing filter directives, e.g. `info,sqlx=warn`.
    pub filter: String,
    pub format: LogFormat,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            filter: DEFAULT_LOG_FILTER.to_owned(),
            format: LogFormat::Text,
        }
    }
}

impl LogSettings {
    /// From RUST_LOG and BUDGET_LOG_FORMAT.
    pub fn from_env() -> LogSettings {
        LogSettings::from_values(
            std::env::var("RUST_LOG").ok().as_deref(),
            std::env::var("BUDGET_LOG_FORMAT").ok().as_deref(),
        )
    }

    /// From the two variables' values: RUST_LOG falls back to [`DEFAULT_LOG_FILTER`] when
    /// unset or invalid; any BUDGET_LOG_FORMAT but `json` is text.
    pub fn from_values(rust_log: Option<&str>, format: Option<&str>) -> LogSettings {
        let filter = rust_log
            .filter(|directives| EnvFilter::try_new(directives).is_ok())
            .unwrap_or(DEFAULT_LOG_FILTER)
            .to_owned();
        let format = if format == Some("json") {
            LogFormat::Json
        } else {
            LogFormat::Text
        };
        LogSettings { filter, format }
    }

    /// The filter, ready for the subscriber.
    pub fn env_filter(&self) -> EnvFilter {
        EnvFilter::try_new(&self.filter).unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_or_invalid_values_fall_back_to_the_defaults() {
        assert_eq!(LogSettings::from_values(None, None), LogSettings::default());
        let invalid = LogSettings::from_values(Some("info,sqlx=notalevel"), Some("yaml"));
        assert_eq!(invalid, LogSettings::default());
        let set = LogSettings::from_values(Some("debug"), Some("json"));
        assert_eq!(set.filter, "debug");
        assert_eq!(set.format, LogFormat::Json);
    }
}
