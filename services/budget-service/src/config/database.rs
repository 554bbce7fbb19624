//! Where PostgreSQL is and how large a pool to hold: what `startup::database` connects with.

use std::time::Duration;

/// One pool's settings.
#[derive(Clone, Debug)]
pub struct DatabaseSettings {
    /// PostgreSQL URL; it may carry a password, so it is never logged.
    pub url: String,
    pub max_connections: u32,
    /// How long a request waits for a connection.
    pub acquire_timeout: Duration,
    /// Apply migrations once connected.
    pub migrate: bool,
}

/// DATABASE_URL alone, for the commands that only touch the database (`migrate`, `token`).
#[derive(clap::Args, Clone, Debug)]
pub struct DatabaseUrl {
    /// PostgreSQL URL (may carry a password; `--help` never shows its value).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
}

impl DatabaseUrl {
    /// A small pool; `migrate` says whether it applies pending migrations (only the
    /// `migrate` command does) or refuses a schema that is behind.
    pub fn settings(&self, migrate: bool) -> DatabaseSettings {
        DatabaseSettings {
            url: self.database_url.clone(),
            max_connections: 2,
            acquire_timeout: Duration::from_secs(10),
            migrate,
        }
    }
}
