//! Password hashing (argon2id) and the password policy.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};

use crate::error::ApiError;

pub const MIN_PASSWORD_CHARS: usize = 10;
/// Bounds the hashing work one request can ask for.
pub const MAX_PASSWORD_BYTES: usize = 256;

/// argon2id, version 0x13, with the crate's defaults (19 MiB, 2 passes, 1 lane: OWASP's minimum).
fn hasher() -> Argon2<'static> {
    Argon2::default()
}

pub fn hash(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(format!("password hashing failed: {e}")))
}

/// True when `password` matches `stored`. A malformed stored hash never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash of a random password, verified against when the account does not exist so that
/// an unknown email costs the same time as a wrong password.
static DECOY_HASH: LazyLock<String> = LazyLock::new(|| {
    let decoy = uuid::Uuid::new_v4().to_string();
    hash(&decoy).unwrap_or_default()
});

pub fn verify_decoy(password: &str) {
    let _ = verify(password, &DECOY_HASH);
}

/// The policy for new passwords; `None` when acceptable, else why not.
pub fn policy_violation(password: &str) -> Option<String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Some(format!("must be at least {MIN_PASSWORD_CHARS} characters"));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Some(format!("must be at most {MAX_PASSWORD_BYTES} bytes"));
    }
    if password.trim().is_empty() {
        return Some("must not be only white space".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let a = hash("correct horse battery").unwrap();
        let b = hash("correct horse battery").unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b, "each hash has its own salt");
        assert!(verify("correct horse battery", &a));
        assert!(!verify("correct horse battery!", &a));
    }

    #[test]
    fn malformed_stored_hash_never_matches() {
        assert!(!verify("anything", "not-a-hash"));
        assert!(!verify("", ""));
    }

    #[test]
    fn policy_rejects_short_long_and_blank_passwords() {
        assert!(policy_violation("short").is_some());
        assert!(policy_violation(&"x".repeat(MAX_PASSWORD_BYTES + 1)).is_some());
        assert!(policy_violation("            ").is_some());
        assert!(
            policy_violation("长城长城长城长城长城").is_none(),
            "counts characters, not bytes"
        );
        assert!(policy_violation("a fine passphrase").is_none());
    }
}
