//! Marks handlers put on their responses for the middleware around them to read.
//!
//! It depends on nothing in the crate, so handlers (auth, API keys) and middleware
//! (idempotency) can both use it without depending on each other.

/// Put in a response's extensions by handlers whose answer carries a secret shown once
/// (a new API key, a new access token): the idempotency middleware never stores or
/// replays such an answer.
#[derive(Debug, Clone, Copy)]
pub struct SecretResponse;
