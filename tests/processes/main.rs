//! Tests that need whole server processes: killed mid-write, several replicas, or clients
//! that stop halfway through a request.

mod backup;
mod body_timeout;
mod cli;
mod durability;
mod import_memory;
mod memory;
mod receiver;
mod replicas;
mod server;
mod survey_browser;
mod webhooks;
