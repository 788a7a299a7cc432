//! Integration tests: the real HTTP application against SQLite and PostgreSQL.

mod support;

mod auth;
mod customers;
mod errors;
mod import;
mod openapi;
mod ops;
mod orders;
mod stats;
mod tags;
mod tickets;
mod tiers;
mod users;
