//! Tests that need whole server processes: killed mid-write, or several replicas.

mod cli;
mod durability;
mod receiver;
mod replicas;
mod server;
mod webhooks;
