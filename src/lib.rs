//! Aftercare: after-sales tickets for online shops.
//!
//! One module per domain concept, each with its routes, queries and types together.

pub mod attachments;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod check_config;
pub mod config;
pub mod contract;
pub mod customers;
pub mod db;
pub mod defaults;
pub mod error;
pub mod extract;
pub mod health;
pub mod housekeeping;
pub mod idempotency;
pub mod ids;
pub mod ingestion;
pub mod metrics;
pub mod notes;
pub mod occasions;
pub mod openapi;
pub mod orders;
pub mod pagination;
pub mod products;
pub mod reminders;
pub mod response;
pub mod router;
pub mod schema;
pub mod scripts;
pub mod search;
pub mod sla;
pub mod state;
pub mod stats;
pub mod surveys;
pub mod tags;
pub mod tickets;
pub mod tiers;
pub mod users;
pub mod webhooks;
