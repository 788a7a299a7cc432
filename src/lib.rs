//! Aftercare: after-sales tickets for online shops.
//!
//! One module per domain concept, each with its routes, queries and types together.

pub mod app;
pub mod auth;
pub mod config;
pub mod customers;
pub mod db;
pub mod error;
pub mod extract;
pub mod feeds;
pub mod health;
pub mod idempotency;
pub mod openapi;
pub mod pagination;
pub mod reminders;
pub mod response;
pub mod schema;
pub mod stats;
pub mod tickets;
pub mod tiers;
pub mod users;
pub mod webhooks;
