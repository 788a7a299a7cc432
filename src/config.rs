//! Settings, all from environment variables with defaults (see the README's table).
//! clap parses them so that a bad value stops start-up with a clear message.
//!
//! Each concern owns its group (`TicketSettings` in the ticket workflow, `TokenSettings`
//! with the tokens, ...), a clap `Args` whose defaults are written once; `Settings` only
//! flattens them, so this module sits above the features and none of them imports it.

use clap::{Args, ValueEnum};

use crate::auth::password::PasswordHashingSettings;
use crate::auth::throttle::ThrottlePolicy;
use crate::auth::token::TokenSettings;
use crate::defaults::defaults;
use crate::ingestion::ImportSettings;
use crate::tickets::workflow::TicketSettings;
use crate::tiers::TierSettings;
use crate::webhooks::WebhookSettings;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where and how the process serves: database, listener, threads, limits, logs.
#[derive(Debug, Clone, Args)]
pub struct ServerSettings {
    /// Database: `sqlite://PATH` (embedded, default) or `postgres://...`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://aftercare.db")]
    pub database_url: String,

    /// Address and port the HTTP server listens on.
    #[arg(long, env = "BIND_ADDR", default_value = "127.0.0.1:8080")]
    pub bind_addr: String,

    /// Connections in the database pool.
    #[arg(long, env = "DB_POOL_SIZE", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=512))]
    pub db_pool_size: u32,

    /// Longest wait for a database connection, in milliseconds: past it a request answers
    /// 503 at once instead of queueing behind an outage; `/readyz` is bounded by it too.
    #[arg(long, env = "DB_CHECKOUT_TIMEOUT_MS", default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(50..=60_000))]
    pub db_checkout_timeout_ms: u64,

    /// Longest wait for a request body to arrive in full, in seconds (408 after it).
    #[arg(long, env = "BODY_READ_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub body_read_timeout_secs: u64,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 1_048_576)]
    pub max_body_bytes: usize,

    /// HTTP worker threads (0: one per CPU core).
    #[arg(long, env = "HTTP_WORKERS", default_value_t = 0)]
    pub http_workers: usize,

    /// Seconds in-flight requests get to finish after SIGTERM.
    #[arg(long, env = "SHUTDOWN_TIMEOUT_SECS", default_value_t = 30)]
    pub shutdown_timeout_secs: u64,

    /// Log output: `text` for people, `json` for log collectors.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Reverse proxies (addresses or networks, comma-separated, e.g. `127.0.0.1,10.0.0.0/8`)
    /// whose `X-Forwarded-For` names the client; from anyone else the header is ignored.
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_network)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// An address (a network of one) or a network in CIDR notation.
fn parse_network(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{text:?} is not an IP address or a network such as 10.0.0.0/8"))
}

impl ServerSettings {
    pub fn db_checkout_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.db_checkout_timeout_ms)
    }

    pub fn body_read_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.body_read_timeout_secs)
    }
}

/// How long idempotency keys are kept.
#[derive(Debug, Clone, Copy, Args)]
pub struct IdempotencySettings {
    /// How long a POST's Idempotency-Key is remembered (a retry within it gets the first response).
    #[arg(long = "idempotency-key-ttl-hours", env = "IDEMPOTENCY_KEY_TTL_HOURS", default_value_t = 24, value_parser = clap::value_parser!(i64).range(1..=720))]
    pub key_ttl_hours: i64,
}

/// Every setting, grouped by the concern that owns it; each group writes its defaults once.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    #[command(flatten)]
    pub server: ServerSettings,

    #[command(flatten)]
    pub tokens: TokenSettings,

    #[command(flatten)]
    pub tickets: TicketSettings,

    #[command(flatten)]
    pub idempotency: IdempotencySettings,

    #[command(flatten)]
    pub tiers: TierSettings,

    #[command(flatten)]
    pub login_throttle: ThrottlePolicy,

    #[command(flatten)]
    pub password_hashing: PasswordHashingSettings,

    #[command(flatten)]
    pub webhooks: WebhookSettings,

    #[command(flatten)]
    pub import: ImportSettings,

    #[command(flatten)]
    pub backups: crate::backup::BackupSettings,

    #[command(flatten)]
    pub metrics: crate::metrics::MetricsSettings,

    #[command(flatten)]
    pub retention: crate::housekeeping::RetentionSettings,

    #[command(flatten)]
    pub surveys: crate::surveys::SurveySettings,

    #[command(flatten)]
    pub attachments: crate::attachments::AttachmentSettings,
}

impl Settings {
    /// Settings for an embedded test or tool run: every default, independent of the
    /// environment, on a database of the caller's, an ephemeral port, a small pool and no
    /// background worker (tests run the worker's rounds themselves).
    pub fn with_database(database_url: impl Into<String>) -> Self {
        let mut settings: Settings = defaults();
        settings.server.database_url = database_url.into();
        settings.server.bind_addr = "127.0.0.1:0".into();
        settings.server.db_pool_size = 4;
        settings.server.http_workers = 1;
        settings.server.shutdown_timeout_secs = 5;
        settings.webhooks.worker = false;
        settings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tickets::workflow::AutoAssign;
    use clap::Args;

    #[test]
    fn defaults_are_the_documented_ones() {
        let settings: Settings = defaults();
        assert_eq!(settings.server.database_url, "sqlite://aftercare.db");
        assert_eq!(settings.server.bind_addr, "127.0.0.1:8080");
        assert_eq!(settings.server.db_checkout_timeout_ms, 2_000);
        assert_eq!(settings.server.body_read_timeout_secs, 30);
        assert_eq!(settings.tokens.jwt_ttl_minutes, 720);
        assert_eq!(
            settings.tickets.deadlines.first_call_hours_negative_review,
            2
        );
        assert_eq!(settings.tickets.auto_assign, AutoAssign::Off);
        assert_eq!(settings.idempotency.key_ttl_hours, 24);
        assert!(settings.webhooks.worker);
        assert_eq!(settings.tiers.key_share, 0.2);
        assert_eq!(settings.import.max_bytes, 20 * 1_048_576);
        assert_eq!(settings.import.batch_rows, 500);
        assert_eq!(settings.login_throttle.max_per_account, 20);
        assert_eq!(settings.login_throttle.account_window_minutes, 5);
        assert_eq!(settings.password_hashing.concurrency, 0);
        assert_eq!(settings.password_hashing.wait_ms, 2000);
    }

    /// The README's configuration table against the settings themselves: every setting is
    /// documented under its variable with its real default, the table names no setting that
    /// does not exist, and every value it mentions for a setting with a fixed set of values
    /// is accepted.
    #[test]
    fn the_readme_documents_every_setting_with_its_default() {
        use std::collections::BTreeMap;
        let readme = include_str!("../README.md");
        let rows: BTreeMap<&str, (&str, &str)> = readme
            .lines()
            .filter_map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                let name = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
                // Digits too: `ATTACHMENT_S3_BUCKET`.
                let is_variable = name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
                (is_variable && cells.len() >= 5).then(|| (name, (cells[2], cells[3])))
            })
            .collect();
        let command = Settings::augment_args(clap::Command::new("aftercare"));
        let mut documented = 0;
        for arg in command.get_arguments() {
            let Some(env) = arg.get_env().and_then(|e| e.to_str()) else {
                continue;
            };
            let (default, meaning) = rows
                .get(env)
                .unwrap_or_else(|| panic!("{env} is not in the README's configuration table"));
            documented += 1;
            if let Some(value) = arg.get_default_values().first() {
                let expected = format!("`{}`", value.to_string_lossy());
                assert!(
                    default.starts_with(&expected),
                    "README says {env} defaults to {default}, the code says {expected}"
                );
            }
            if !arg.get_possible_values().is_empty() {
                for mentioned in meaning.split('`').skip(1).step_by(2) {
                    let long = format!("--{}", arg.get_long().expect("settings have flags"));
                    let parsed = Settings::augment_args(clap::Command::new("aftercare"))
                        .mut_args(|a| a.env(None::<&str>))
                        .try_get_matches_from(["aftercare", long.as_str(), mentioned]);
                    assert!(
                        parsed.is_ok(),
                        "README offers {env}={mentioned}, which is refused"
                    );
                }
            }
        }
        // RUST_LOG belongs to the log filter, not to these settings.
        assert_eq!(
            documented + 1,
            rows.len(),
            "the table documents a setting that does not exist"
        );
        assert!(rows.contains_key("RUST_LOG"));
    }
}
