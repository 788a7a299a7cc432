//! Tests that need whole server processes: killed mid-write, or several replicas.

mod durability;
mod memory;
mod receiver;
mod replicas;
mod server;
mod webhooks;
