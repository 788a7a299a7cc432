//! Settings, all from environment variables with defaults (see the README's table).
//! clap parses them so that a bad value stops start-up with a clear message.

use std::time::Duration;

use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AutoAssign {
    Off,
    LeastLoaded,
}

#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Database: `sqlite://PATH` (embedded, default) or `postgres://...`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://aftercare.db")]
    pub database_url: String,

    /// Address and port the HTTP server listens on.
    #[arg(long, env = "BIND_ADDR", default_value = "127.0.0.1:8080")]
    pub bind_addr: String,

    /// Secret for signing access tokens (HS256). Unset: a random one per process (development only).
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Lifetime of an access token, in minutes.
    #[arg(long, env = "JWT_TTL_MINUTES", default_value_t = 720, value_parser = clap::value_parser!(u32).range(1..=43_200))]
    pub jwt_ttl_minutes: u32,

    /// Connections in the database pool.
    #[arg(long, env = "DB_POOL_SIZE", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=512))]
    pub db_pool_size: u32,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 1_048_576)]
    pub max_body_bytes: usize,

    /// Largest accepted CSV import, in bytes.
    #[arg(long, env = "IMPORT_MAX_BYTES", default_value_t = 20 * 1_048_576)]
    pub import_max_bytes: usize,

    /// Hours until the first call is due on a negative-review ticket (halved for key and at-risk customers).
    #[arg(long, env = "FIRST_CALL_HOURS_NEGATIVE_REVIEW", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=720))]
    pub first_call_hours_negative_review: u32,

    /// Hours until the first call is due on a return ticket.
    #[arg(long, env = "FIRST_CALL_HOURS_RETURN", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=720))]
    pub first_call_hours_return: u32,

    /// Hours until the first call is due on a repair ticket.
    #[arg(long, env = "FIRST_CALL_HOURS_REPAIR", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=720))]
    pub first_call_hours_repair: u32,

    /// Hours to the next follow-up after an attempt that did not reach the buyer.
    #[arg(long, env = "FOLLOW_UP_HOURS_UNREACHED", default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..=720))]
    pub follow_up_hours_unreached: u32,

    /// Hours to the next follow-up after an attempt that reached the buyer.
    #[arg(long, env = "FOLLOW_UP_HOURS_REACHED", default_value_t = 72, value_parser = clap::value_parser!(u32).range(1..=720))]
    pub follow_up_hours_reached: u32,

    /// Assignment of new tickets nobody was named for: `off`, or `least_loaded` (the active
    /// agent with the fewest open tickets).
    #[arg(long, env = "AUTO_ASSIGN", value_enum, default_value_t = AutoAssign::Off)]
    pub auto_assign: AutoAssign,

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

    /// How long a POST's Idempotency-Key is remembered (a retry within it gets the first response).
    #[arg(long, env = "IDEMPOTENCY_KEY_TTL_HOURS", default_value_t = 24, value_parser = clap::value_parser!(i64).range(1..=720))]
    pub idempotency_key_ttl_hours: i64,

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

impl Settings {
    pub fn jwt_ttl(&self) -> Duration {
        Duration::from_secs(u64::from(self.jwt_ttl_minutes) * 60)
    }

    pub fn deadline_policy(&self) -> crate::tickets::workflow::DeadlinePolicy {
        crate::tickets::workflow::DeadlinePolicy {
            first_call_hours_negative_review: self.first_call_hours_negative_review,
            first_call_hours_return: self.first_call_hours_return,
            first_call_hours_repair: self.first_call_hours_repair,
            follow_up_hours_unreached: self.follow_up_hours_unreached,
            follow_up_hours_reached: self.follow_up_hours_reached,
        }
    }

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

    /// Settings for an embedded test or tool run, independent of the environment.
    pub fn with_database(database_url: impl Into<String>) -> Self {
        Settings {
            database_url: database_url.into(),
            bind_addr: "127.0.0.1:0".into(),
            jwt_secret: None,
            jwt_ttl_minutes: 720,
            db_pool_size: 4,
            max_body_bytes: 1_048_576,
            import_max_bytes: 20 * 1_048_576,
            first_call_hours_negative_review: 2,
            first_call_hours_return: 4,
            first_call_hours_repair: 8,
            follow_up_hours_unreached: 24,
            follow_up_hours_reached: 72,
            auto_assign: AutoAssign::Off,
            login_max_failures_per_account: 5,
            login_max_failures_per_address: 20,
            login_window_minutes: 15,
            tier_key_share: 0.2,
            tier_loyal_min_orders: 10,
            tier_loyal_recent_days: 180,
            tier_dormant_days: 365,
            tier_at_risk_max_score: 2,
            tier_at_risk_days: 90,
            idempotency_key_ttl_hours: 24,
            webhook_worker: false,
            webhook_max_attempts: 8,
            webhook_retry_base_ms: 30_000,
            webhook_timeout_secs: 10,
            webhook_poll_ms: 1_000,
            http_workers: 1,
            shutdown_timeout_secs: 5,
            log_format: LogFormat::Text,
        }
    }
}
