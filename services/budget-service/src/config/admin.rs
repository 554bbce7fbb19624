//! What the admin commands (`tenant ...`) need: PostgreSQL and LiteLLM, nothing of `serve`'s,
//! so their `--help` lists only these.

use super::Settings;

/// The database and LiteLLM settings of a one-off admin command.
#[derive(clap::Args, Clone, Debug)]
pub struct AdminSettings {
    /// PostgreSQL URL (may carry a password; `--help` never shows its value).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// Base URL of the LiteLLM proxy, e.g. http://127.0.0.1:4000.
    #[arg(long, env = "LITELLM_BASE_URL")]
    pub litellm_base_url: String,
    /// LiteLLM master key (admin API).
    #[arg(long, env = "LITELLM_MASTER_KEY", hide_env_values = true)]
    pub litellm_master_key: String,
    /// The proxy has LiteLLM's enterprise licence (key rotation uses /key/regenerate).
    #[arg(long, env = "LITELLM_ENTERPRISE", default_value_t = false, action = clap::ArgAction::Set)]
    pub litellm_enterprise: bool,
    /// Timeout of each LiteLLM call, in seconds.
    #[arg(long, env = "LITELLM_TIMEOUT_SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=120))]
    pub litellm_timeout_secs: u64,
}

impl AdminSettings {
    /// The server's settings with these values and defaults elsewhere; never migrating.
    pub fn settings(&self) -> Settings {
        let mut settings = Settings::new(
            &self.database_url,
            &self.litellm_base_url,
            &self.litellm_master_key,
        );
        settings.litellm_enterprise = self.litellm_enterprise;
        settings.litellm_timeout_secs = self.litellm_timeout_secs;
        settings.migrate = false;
        settings
    }
}
