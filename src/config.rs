//! Settings, all from environment variables with defaults (see the README's table).
//! clap parses them so that a bad value stops start-up with a clear message.
//!
//! Each concern owns its group (`TicketSettings` in the ticket workflow, `TokenSettings`
//! with the tokens, ...), a clap `Args` whose defaults are written once; `Settings` only
//! flattens them, so this module sits above the features and none of them imports it.

use clap::{Args, ValueEnum};

use crate::auth::token::TokenSettings;
use crate::defaults::defaults;
use crate::tickets::workflow::TicketSettings;

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

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 1_048_576)]
    pub max_body_bytes: usize,

    /// Largest accepted CSV import, in bytes.
    #[arg(long, env = "IMPORT_MAX_BYTES", default_value_t = 20 * 1_048_576)]
    pub import_max_bytes: usize,

    /// HTTP worker threads (0: one per CPU core).
    #[arg(long, env = "HTTP_WORKERS", default_value_t = 0)]
    pub http_workers: usize,

    /// Seconds in-flight requests get to finish after SIGTERM.
    #[arg(long, env = "SHUTDOWN_TIMEOUT_SECS", default_value_t = 30)]
    pub shutdown_timeout_secs: u64,

    /// Log output: `text` for people, `json` for log collectors.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
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

    /// Share of buying customers in the key tier, by 12-month spend and by 12-month order count.
    #[arg(long, env = "TIER_KEY_SHARE", default_value_t = 0.2)]
    pub tier_key_share: f64,

    /// Purchases that make a customer loyal (with one within TIER_LOYAL_RECENT_DAYS).
    #[arg(long, env = "TIER_LOYAL_MIN_ORDERS", default_value_t = 10)]
    pub tier_loyal_min_orders: i64,

    /// Days since the last purchase within which a many-time buyer counts as loyal.
    #[arg(long, env = "TIER_LOYAL_RECENT_DAYS", default_value_t = 180)]
    pub tier_loyal_recent_days: i64,

    /// Days without a purchase after which a customer is dormant.
    #[arg(long, env = "TIER_DORMANT_DAYS", default_value_t = 365)]
    pub tier_dormant_days: i64,

    /// Satisfaction at or below this puts a valuable customer at risk.
    #[arg(long, env = "TIER_AT_RISK_MAX_SCORE", default_value_t = 2)]
    pub tier_at_risk_max_score: i32,

    /// Days a low score or an unresolved ending keeps a customer at risk.
    #[arg(long, env = "TIER_AT_RISK_DAYS", default_value_t = 90)]
    pub tier_at_risk_days: i64,

    /// Failed logins for one account within LOGIN_WINDOW_MINUTES before its logins are refused.
    #[arg(long, env = "LOGIN_MAX_FAILURES_PER_ACCOUNT", default_value_t = 5, value_parser = clap::value_parser!(i64).range(1..))]
    pub login_max_failures_per_account: i64,

    /// Failed logins from one client address within LOGIN_WINDOW_MINUTES before its logins are refused.
    #[arg(long, env = "LOGIN_MAX_FAILURES_PER_ADDRESS", default_value_t = 20, value_parser = clap::value_parser!(i64).range(1..))]
    pub login_max_failures_per_address: i64,

    /// The window failed logins are counted in, in minutes.
    #[arg(long, env = "LOGIN_WINDOW_MINUTES", default_value_t = 15, value_parser = clap::value_parser!(i64).range(1..=1440))]
    pub login_window_minutes: i64,

    /// Run the webhook delivery worker in this process (several replicas may all run it).
    #[arg(long, env = "WEBHOOK_WORKER", default_value_t = true, action = clap::ArgAction::Set)]
    pub webhook_worker: bool,

    /// Attempts at one webhook delivery before it is marked failed.
    #[arg(long, env = "WEBHOOK_MAX_ATTEMPTS", default_value_t = 8, value_parser = clap::value_parser!(i32).range(1..=50))]
    pub webhook_max_attempts: i32,

    /// Wait before the first retry of a failed delivery, in milliseconds; doubled after each
    /// further failure (capped at one hour).
    #[arg(long, env = "WEBHOOK_RETRY_BASE_MS", default_value_t = 30_000)]
    pub webhook_retry_base_ms: u64,

    /// How long a receiver gets to answer one delivery, in seconds.
    #[arg(long, env = "WEBHOOK_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=120))]
    pub webhook_timeout_secs: u64,

    /// How often an idle worker looks for new events, in milliseconds.
    #[arg(long, env = "WEBHOOK_POLL_MS", default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub webhook_poll_ms: u64,
}

impl Settings {
    pub fn login_throttle(&self) -> crate::auth::throttle::ThrottlePolicy {
        crate::auth::throttle::ThrottlePolicy {
            max_per_account: self.login_max_failures_per_account,
            max_per_address: self.login_max_failures_per_address,
            window: chrono::Duration::minutes(self.login_window_minutes),
        }
    }

    pub fn tier_settings(&self) -> crate::tiers::engine::TierSettings {
        crate::tiers::engine::TierSettings {
            key_share: self.tier_key_share.clamp(0.0, 1.0),
            loyal_min_orders: self.tier_loyal_min_orders,
            loyal_recent_days: self.tier_loyal_recent_days,
            dormant_days: self.tier_dormant_days,
            at_risk_max_score: self.tier_at_risk_max_score,
            at_risk_days: self.tier_at_risk_days,
        }
    }

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
        settings.webhook_worker = false;
        settings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tickets::workflow::AutoAssign;

    #[test]
    fn defaults_are_the_documented_ones() {
        let settings: Settings = defaults();
        assert_eq!(settings.server.database_url, "sqlite://aftercare.db");
        assert_eq!(settings.server.bind_addr, "127.0.0.1:8080");
        assert_eq!(settings.tokens.jwt_ttl_minutes, 720);
        assert_eq!(
            settings.tickets.deadlines.first_call_hours_negative_review,
            2
        );
        assert_eq!(settings.tickets.auto_assign, AutoAssign::Off);
        assert_eq!(settings.idempotency.key_ttl_hours, 24);
        assert!(settings.webhook_worker);
    }
}
