//! Tests that need whole server processes: killed mid-write, or several replicas.

mod cli;
mod durability;
mod import_memory;
mod receiver;
mod replicas;
mod server;
mod webhooks;
