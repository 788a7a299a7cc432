//! The state every request handler shares: the database, the token keys and the settings.
//!
//! It lives on its own floor, below every feature, so that handlers can take it without
//! importing the module that registers them (`router`), which imports every handler.

use crate::auth::token::TokenKeys;
use crate::config::Settings;
use crate::db::Db;

pub struct AppState {
    pub db: Db,
    pub tokens: TokenKeys,
    pub settings: Settings,
}
