//! Integration tests: the real HTTP application against SQLite and PostgreSQL.

mod support;
// Scratch databases are shared with the process tests.
#[path = "../processes/server.rs"]
mod server;
// The webhook receiver is shared with the process tests.
#[path = "../processes/receiver.rs"]
mod receiver;
// The benchmarks' shop seeding, for the index test's realistic plans.
#[path = "../../benches/support/seed.rs"]
mod seed;

mod attachments;
mod audit;
mod auth;
mod bulk;
mod customers;
mod errors;
mod fuzz;
mod import;
mod indexes;
mod integrations;
mod merge;
mod moto;
mod notes;
mod openapi;
mod ops;
mod orders;
mod products;
mod sales;
mod scripts;
mod search;
mod service_levels;
mod stats;
mod surveys;
mod tags;
mod tickets;
mod tiers;
mod users;
mod webhooks;
