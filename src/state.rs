//! The state every request handler shares: the database, the token keys, the password
//! hashers and the settings.
//!
//! It lives on its own floor, below every feature, so that handlers can take it without
//! importing the module that registers them (`router`), which imports every handler.

use crate::auth::password::PasswordHashing;
use crate::auth::token::TokenKeys;
use crate::config::Settings;
use crate::db::Db;

pub struct AppState {
    pub db: Db,
    pub tokens: TokenKeys,
    /// Every password hash and check of the process goes through these (bounded, reused memory).
    pub passwords: PasswordHashing,
    pub settings: Settings,
    /// Each shop's service levels, cached (`sla::store::SlaCache`).
    pub sla: crate::sla::store::SlaCache,
    /// What making and checking survey links needs (lifetime, address, key).
    pub surveys: crate::surveys::SurveyIssuer,
    /// The survey page's requests per token and address (this process's count).
    pub survey_limits: crate::surveys::SurveyLimiter,
    /// Where attachments' bytes are kept (and were kept, for older files).
    pub attachments: crate::attachments::storage::Storages,
}

impl AppState {
    pub fn new(db: Db, tokens: TokenKeys, settings: Settings) -> Self {
        let surveys = crate::surveys::SurveyIssuer::new(
            &settings.surveys,
            &settings.server.bind_addr,
            *tokens.link_key(),
        );
        AppState {
            db,
            surveys,
            survey_limits: crate::surveys::SurveyLimiter::default(),
            tokens,
            passwords: PasswordHashing::new(&settings.password_hashing),
            sla: crate::sla::store::SlaCache::new(settings.tickets.deadlines),
            attachments: crate::attachments::storage::Storages::new(&settings.attachments),
            settings,
        }
    }
}
