//! Buyer satisfaction surveys: when a ticket is resolved, a survey is made for that
//! resolution, reached by an unguessable link (`/s/{token}`) that staff paste into WeChat
//! or an SMS (or a shop's own system sends, from the `ticket.survey_created` webhook). The
//! buyer answers once, on a small page that works on any phone without JavaScript; the
//! answer is recorded on the ticket through the same operation as a staff entry
//! (`tickets::operations::record_satisfaction`), with `source: buyer`.
//!
//! Only the SHA-256 of a link's token is stored. The token is derived from a random nonce
//! (stored) under a key derived from `JWT_SECRET` (never stored), so the servers can show
//! the link to staff again while the database alone yields no working link.
//!
//! This file holds the vocabulary: the settings, the row, the views and the in-process
//! rate limiter; [`rules`] the pure functions (tokens, expiry, messages, the form), [`store`]
//! the SQL, [`operations`] answering and nudging, [`routes`] the staff endpoints and
//! [`page`] the buyer's HTML pages.

pub mod operations;
pub mod page;
pub mod routes;
pub mod rules;
pub mod store;

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use clap::Args;
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::ids::ShopId;
use crate::tickets::SatisfactionReason;

/// How long a survey link stays answerable, where links point, and when an unanswered
/// survey becomes a reminder.
#[derive(Debug, Clone, Args)]
pub struct SurveySettings {
    /// Days a survey link may be answered after the resolution that made it.
    #[arg(long, env = "SURVEY_TTL_DAYS", default_value_t = 14, value_parser = clap::value_parser!(u32).range(1..=365))]
    pub survey_ttl_days: u32,

    /// The address buyers reach the service at (scheme, host and port, e.g.
    /// `https://shop.example`); survey links start with it. Unset: `http://` + BIND_ADDR.
    #[arg(long, env = "PUBLIC_BASE_URL", value_parser = parse_base_url)]
    pub public_base_url: Option<String>,

    /// Hours after which an unanswered survey appears in the reminders, so its agent can
    /// nudge the buyer once.
    #[arg(long, env = "SURVEY_NUDGE_AFTER_HOURS", default_value_t = 48, value_parser = clap::value_parser!(u32).range(1..=8_760))]
    pub survey_nudge_after_hours: u32,

    /// Requests the survey page (`/s/{token}`) answers per link within 10 minutes, in each
    /// server process; more get 429.
    #[arg(long, env = "SURVEY_RATE_PER_TOKEN", default_value_t = 30, value_parser = clap::value_parser!(i64).range(1..=1_000_000))]
    pub survey_rate_per_token: i64,

    /// Requests the survey page answers per client address (any link) within 10 minutes,
    /// in each server process; more get 429.
    #[arg(long, env = "SURVEY_RATE_PER_ADDRESS", default_value_t = 120, value_parser = clap::value_parser!(i64).range(1..=1_000_000))]
    pub survey_rate_per_address: i64,
}

/// An `http` or `https` URL with a host and nothing after the path's root.
fn parse_base_url(text: &str) -> Result<String, String> {
    let parsed = url::Url::parse(text.trim()).map_err(|e| format!("{text:?}: {e}"))?;
    let plain = matches!(parsed.scheme(), "http" | "https")
        && parsed.host().is_some()
        && parsed.query().is_none()
        && parsed.fragment().is_none()
        && parsed.username().is_empty()
        && parsed.password().is_none();
    if !plain {
        return Err(format!(
            "{text:?} must be an http(s) address such as https://shop.example, without query or credentials"
        ));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_owned())
}

/// What making and checking a survey link needs: its lifetime, the address links start
/// with, and the key tokens and forms are derived with (from `JWT_SECRET`).
#[derive(Debug, Clone)]
pub struct SurveyIssuer {
    pub link_key: [u8; 32],
    pub ttl: Duration,
    /// No trailing slash.
    pub base_url: String,
}

impl SurveyIssuer {
    pub fn new(settings: &SurveySettings, bind_addr: &str, link_key: [u8; 32]) -> Self {
        SurveyIssuer {
            link_key,
            ttl: Duration::days(i64::from(settings.survey_ttl_days)),
            base_url: rules::base_url(settings.public_base_url.as_deref(), bind_addr),
        }
    }
}

/// A row of `surveys`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = crate::schema::surveys)]
pub struct Survey {
    pub id: i64,
    pub shop_id: ShopId,
    pub ticket_id: i64,
    pub token_hash: String,
    pub nonce: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub answered_at: Option<NaiveDateTime>,
    pub score: Option<i32>,
    pub reasons: Option<String>,
    pub comment: Option<String>,
    pub nudged_at: Option<NaiveDateTime>,
    pub withdrawn_at: Option<NaiveDateTime>,
}

/// A survey as it is made (the insert form of [`Survey`]).
#[derive(Debug, Insertable)]
#[diesel(table_name = crate::schema::surveys)]
pub struct NewSurvey<'a> {
    pub shop_id: ShopId,
    pub ticket_id: i64,
    pub token_hash: &'a str,
    pub nonce: &'a str,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SurveyStatus {
    /// Waiting for the buyer's answer.
    Pending,
    /// The buyer answered (once; the link now says thank you).
    Answered,
    /// Not answered within `SURVEY_TTL_DAYS`.
    Expired,
    /// The ticket was reopened before an answer; the next resolution gets a new survey.
    Withdrawn,
}

/// The buyer's answer, as given on the page.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SurveyAnswer {
    /// 1 (very unhappy) to 5 (very happy).
    pub score: i32,
    pub reasons: Vec<SatisfactionReason>,
    pub comment: Option<String>,
    pub answered_at: DateTime<Utc>,
}

/// The survey of a ticket's latest resolution, for the agent: the link and a message ready
/// to paste into WeChat or an SMS.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"id": 3, "ticket_id": 12, "status": "pending",
    "url": "https://shop.example/s/q8S0mYb0yVQ3wJ2bH6f9c1dXk4tZ7nLrA5eP0uW2iGs",
    "message": "王小姐您好！感谢您对Default shop的耐心。您的问题已处理完毕，请花几秒钟为我们的服务打分：https://shop.example/s/q8S0mYb0yVQ3wJ2bH6f9c1dXk4tZ7nLrA5eP0uW2iGs（14天内有效）",
    "created_at": "2026-12-03T08:00:00Z", "expires_at": "2026-12-17T08:00:00Z",
    "nudged_at": null, "answer": null}))]
pub struct SurveyView {
    pub id: i64,
    pub ticket_id: i64,
    pub status: SurveyStatus,
    /// The buyer's link. `null` when it cannot be rebuilt: the signing secret
    /// (`JWT_SECRET`) changed since the survey was made; the buyer's copy still works.
    pub url: Option<String>,
    /// A message with the link, in Chinese, to paste into WeChat or an SMS (`null` with `url`).
    pub message: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// When an agent said they nudged the buyer (`POST .../survey/nudge`).
    pub nudged_at: Option<DateTime<Utc>>,
    /// The buyer's answer, once given.
    pub answer: Option<SurveyAnswer>,
}

/// The window the survey page's requests are counted in (`SURVEY_RATE_PER_*`).
pub const RATE_WINDOW_MINUTES: i64 = 10;
/// Past this many subjects the limiter forgets the ones whose requests all left the window.
const RATE_SUBJECTS_KEPT: usize = 10_000;

/// The survey page's rate limit, per token and per client address, in this process's
/// memory (each replica counts its own: the page needs no database write to refuse a flood).
#[derive(Debug, Default)]
pub struct SurveyLimiter {
    hits: Mutex<HashMap<String, VecDeque<NaiveDateTime>>>,
}

impl SurveyLimiter {
    /// Counts a request against each subject (`(key, max)`), or, when one is at its limit,
    /// counts nothing and says how many seconds to wait.
    pub fn hit(&self, subjects: &[(String, i64)], now: NaiveDateTime) -> Result<(), u64> {
        let window = Duration::minutes(RATE_WINDOW_MINUTES);
        let mut hits = self.hits.lock().unwrap_or_else(|e| e.into_inner());
        if hits.len() > RATE_SUBJECTS_KEPT {
            hits.retain(|_, times| times.front().is_some_and(|t| *t > now - window));
        }
        let mut wait = None;
        for (key, max) in subjects {
            let times = hits.entry(key.clone()).or_default();
            while times.back().is_some_and(|t| *t <= now - window) {
                times.pop_back();
            }
            let newest_first: Vec<NaiveDateTime> = times.iter().copied().collect();
            if let Some(w) = rules::rate_wait(&newest_first, *max, window, now) {
                wait = wait.max(Some(w));
            }
        }
        if let Some(seconds) = wait {
            return Err(seconds);
        }
        for (key, _) in subjects {
            hits.entry(key.clone()).or_default().push_front(now);
        }
        Ok(())
    }
}
