//! Passwords: argon2id hashing, bounded and in reused memory, and the policy for new ones.
//!
//! Every hash (and every check, which is a hash) takes 19 MiB for its working memory.
//! Handlers never hash directly: they go through [`PasswordHashing`], which runs at most
//! `PASSWORD_HASHING_CONCURRENCY` at once, each in a buffer that is allocated once and then
//! reused, so a crowd of logins (also unauthenticated ones, for unknown emails) waits its
//! turn instead of growing the process by 19 MiB per request. Who waits longer than
//! `PASSWORD_HASHING_WAIT_MS` gets 503 `overloaded` with `Retry-After`.

use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use actix_web::web;
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use clap::Args;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

pub const MIN_PASSWORD_CHARS: usize = 10;
/// Bounds the hashing work one request can ask for.
pub const MAX_PASSWORD_BYTES: usize = 256;
/// zxcvbn's estimate a new password must reach: `Three` is "safely unguessable" (over
/// 10^8 guesses), out of reach of online guessing and costly offline against argon2id.
pub const MIN_STRENGTH: zxcvbn::Score = zxcvbn::Score::Three;
/// A stored hash asking for more memory than this many times the current parameters is
/// treated as not matching: hashes are only ever written by this module, so one that big
/// was not, and must not make a login allocate what it asks for.
const MAX_MEMORY_FACTOR: usize = 4;
/// What 503 `overloaded` tells clients to wait: hashers free up within milliseconds.
const OVERLOADED_RETRY_AFTER_SECS: u64 = 1;

/// argon2id, version 0x13, with the crate's defaults (19 MiB, 2 passes, 1 lane: OWASP's minimum).
fn hasher() -> Argon2<'static> {
    Argon2::default()
}

/// argon2's working memory for one hash at a time; grown on demand, never shrunk.
#[derive(Default)]
pub struct HashingMemory(Vec<Block>);

impl HashingMemory {
    /// Room for the current parameters, allocated up front.
    pub fn new() -> Self {
        let mut memory = HashingMemory::default();
        memory.blocks(hasher().params().block_count());
        memory
    }

    fn blocks(&mut self, needed: usize) -> &mut [Block] {
        if self.0.len() < needed {
            self.0.resize(needed, Block::default());
        }
        &mut self.0[..needed]
    }

    /// argon2 of `password` with `salt` into an output of `len` bytes, in this memory.
    fn compute(
        &mut self,
        argon: &Argon2<'_>,
        password: &[u8],
        salt: &[u8],
        len: usize,
    ) -> Result<Output, argon2::password_hash::Error> {
        let blocks = self.blocks(argon.params().block_count());
        Output::init_with(len, |out| {
            argon
                .hash_password_into_with_memory(password, salt, out, &mut *blocks)
                .map_err(Into::into)
        })
    }

    /// A new salted hash of `password`, as a PHC string (`$argon2id$v=19$m=19456,...`).
    pub fn hash(&mut self, password: &str) -> Result<String, ApiError> {
        let failed = |e: argon2::password_hash::Error| {
            ApiError::Internal(format!("password hashing failed: {e}"))
        };
        let argon = hasher();
        let salt = SaltString::generate(&mut OsRng);
        let mut salt_bytes = [0u8; 64];
        let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(failed)?;
        let output_len = argon
            .params()
            .output_len()
            .unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        let output = self
            .compute(&argon, password.as_bytes(), salt_bytes, output_len)
            .map_err(failed)?;
        let hash = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(argon.params()).map_err(failed)?,
            salt: Some(salt.as_salt()),
            hash: Some(output),
        };
        Ok(hash.to_string())
    }

    /// True when `password` matches `stored` (compared in constant time). A malformed
    /// stored hash never matches.
    pub fn verify(&mut self, password: &str, stored: &str) -> bool {
        self.try_verify(password, stored).unwrap_or(false)
    }

    fn try_verify(&mut self, password: &str, stored: &str) -> Option<bool> {
        let parsed = PasswordHash::new(stored).ok()?;
        let params = Params::try_from(&parsed).ok()?;
        if params.block_count() > MAX_MEMORY_FACTOR * hasher().params().block_count() {
            tracing::warn!("a stored password hash asks for too much memory; not checked");
            return Some(false);
        }
        let argon = Argon2::new(
            Algorithm::try_from(parsed.algorithm).ok()?,
            Version::try_from(parsed.version.unwrap_or(Version::V0x13.into())).ok()?,
            params,
        );
        let mut salt = [0u8; 64];
        let salt = parsed.salt?.decode_b64(&mut salt).ok()?;
        let expected = parsed.hash?;
        let computed = self
            .compute(&argon, password.as_bytes(), salt, expected.len())
            .ok()?;
        // Output's equality is constant-time.
        Some(computed == expected)
    }

    /// The work of checking a password at the current parameters, for an account that does
    /// not exist (or cannot log in), so that an unknown email costs what a wrong password
    /// does. The salt is random per process; the result is thrown away.
    pub fn verify_decoy(&mut self, password: &str) {
        static DECOY_SALT: LazyLock<SaltString> =
            LazyLock::new(|| SaltString::generate(&mut OsRng));
        let argon = hasher();
        let mut salt = [0u8; 64];
        if let Ok(salt) = DECOY_SALT.decode_b64(&mut salt) {
            let _ = self.compute(
                &argon,
                password.as_bytes(),
                salt,
                Params::DEFAULT_OUTPUT_LEN,
            );
        }
    }
}

/// A one-off hash in memory of its own, for commands and set-up code that hash once
/// (`create-admin`, seeding); request handlers use [`PasswordHashing`].
pub fn hash(password: &str) -> Result<String, ApiError> {
    HashingMemory::new().hash(password)
}

/// How much password hashing may run at once (settings, defaults here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Args)]
pub struct PasswordHashingSettings {
    /// Passwords hashed or checked at once, each in 19 MiB of its own (0: one per CPU core).
    #[arg(long = "password-hashing-concurrency", env = "PASSWORD_HASHING_CONCURRENCY", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=256))]
    pub concurrency: u32,

    /// How long a login or password change waits for a free hasher before it gets 503, in milliseconds.
    #[arg(long = "password-hashing-wait-ms", env = "PASSWORD_HASHING_WAIT_MS", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(0..=600_000))]
    pub wait_ms: u64,
}

impl PasswordHashingSettings {
    /// The number of hashers: the setting, or one per core.
    pub fn hashers(&self) -> usize {
        match self.concurrency {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n as usize,
        }
    }
}

/// The process's hashers: a semaphore with one permit per hasher, and the memory each
/// permit works in, kept between uses.
pub struct PasswordHashing {
    permits: Arc<Semaphore>,
    spare_memory: Arc<Mutex<Vec<HashingMemory>>>,
    wait: Duration,
}

impl PasswordHashing {
    pub fn new(settings: &PasswordHashingSettings) -> Self {
        PasswordHashing {
            permits: Arc::new(Semaphore::new(settings.hashers())),
            spare_memory: Arc::default(),
            wait: Duration::from_millis(settings.wait_ms),
        }
    }

    /// A hasher, waiting for one at most the configured time; 503 `overloaded` after that.
    pub async fn permit(&self) -> Result<HashingPermit, ApiError> {
        let acquire = Arc::clone(&self.permits).acquire_owned();
        match actix_web::rt::time::timeout(self.wait, acquire).await {
            Ok(Ok(permit)) => Ok(HashingPermit {
                _permit: permit,
                spare_memory: Arc::clone(&self.spare_memory),
            }),
            Ok(Err(closed)) => Err(ApiError::Internal(format!("password hashers: {closed}"))),
            Err(_elapsed) => {
                tracing::warn!("every password hasher is busy; request turned away");
                Err(ApiError::Overloaded {
                    retry_after_secs: OVERLOADED_RETRY_AFTER_SECS,
                })
            }
        }
    }

    /// A hash of a new password for the account with this email and name, if it meets the
    /// policy ([`policy_violation`]), else 422 naming `field`. The strength estimate runs
    /// on the hasher too: it is CPU work of the same kind, bounded the same way.
    pub async fn hash_new(
        &self,
        field: &'static str,
        password: String,
        email: &str,
        display_name: &str,
    ) -> Result<String, ApiError> {
        let (email, display_name) = (email.to_owned(), display_name.to_owned());
        self.permit()
            .await?
            .run(move |memory| {
                match policy_violation(&password, &account_words(&email, &display_name)) {
                    Some(reason) => Err(ApiError::field(field, reason)),
                    None => memory.hash(&password),
                }
            })
            .await?
    }

    /// Whether `password` matches `stored`; with no stored hash (an unknown or inactive
    /// account) it does the same work against nothing and answers false.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, ApiError> {
        self.permit()
            .await?
            .run(move |memory| match stored {
                Some(stored) => memory.verify(&password, &stored),
                None => {
                    memory.verify_decoy(&password);
                    false
                }
            })
            .await
    }
}

/// The right to hash once. It travels with the work onto the blocking pool and is given
/// back only when the work is done there, even if the request is abandoned meanwhile, so
/// no more hashes ever run than there are hashers.
pub struct HashingPermit {
    _permit: OwnedSemaphorePermit,
    spare_memory: Arc<Mutex<Vec<HashingMemory>>>,
}

impl HashingPermit {
    /// Runs `work` on the blocking pool in a spare buffer (allocated the first time each
    /// hasher needs one), returning the buffer afterwards.
    pub async fn run<T, F>(self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut HashingMemory) -> T + Send + 'static,
        T: Send + 'static,
    {
        Ok(web::block(move || {
            let mut memory = spare(&self.spare_memory).pop().unwrap_or_default();
            let result = work(&mut memory);
            spare(&self.spare_memory).push(memory);
            drop(self);
            result
        })
        .await?)
    }
}

/// The spare buffers; a panic elsewhere while they were held leaves them as usable as before.
fn spare(pool: &Mutex<Vec<HashingMemory>>) -> std::sync::MutexGuard<'_, Vec<HashingMemory>> {
    pool.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The words of an account that a password must not be built on: its email, the email's
/// parts and its name run together, and the person's name and its parts.
pub fn account_words(email: &str, display_name: &str) -> Vec<String> {
    let local = email.split('@').next().unwrap_or(email);
    let mut words = vec![
        email.to_owned(),
        display_name.to_owned(),
        local.chars().filter(|c| c.is_alphanumeric()).collect(),
        display_name.split_whitespace().collect(),
    ];
    // Parts too short to be a word would only make every password look weaker.
    words.extend(
        email
            .split(['@', '.', '_', '-', '+'])
            .chain(display_name.split_whitespace())
            .filter(|part| part.chars().count() >= 3)
            .map(str::to_owned),
    );
    let mut seen = std::collections::HashSet::new();
    words.retain(|word| !word.is_empty() && seen.insert(word.clone()));
    words
}

/// Length and content rules that need nothing but the password (checked with the request's
/// other fields); `None` when acceptable, else why not.
pub fn shape_violation(password: &str) -> Option<String> {
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

/// The policy for a new password of the account with `account_words` (see
/// [`account_words`]): the shape rules, then zxcvbn's strength estimate, which refuses
/// common passwords, repeats, sequences, keyboard walks, dates and the account's own
/// words. `None` when acceptable, else why not, in words for the person choosing it.
pub fn policy_violation(password: &str, account_words: &[String]) -> Option<String> {
    if let Some(violation) = shape_violation(password) {
        return Some(violation);
    }
    let words: Vec<&str> = account_words.iter().map(String::as_str).collect();
    let estimate = zxcvbn::zxcvbn(password, &words);
    if estimate.score() >= MIN_STRENGTH {
        return None;
    }
    let why = estimate
        .feedback()
        .and_then(|feedback| feedback.warning())
        .map(|warning| format!(" ({})", warning.to_string().trim_end_matches('.')))
        .unwrap_or_default();
    Some(format!(
        "is too easy to guess{why}; use a passphrase of several unrelated words, \
         not built on your name or email"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verify(password: &str, stored: &str) -> bool {
        HashingMemory::new().verify(password, stored)
    }

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let a = hash("correct horse battery").unwrap();
        let b = hash("correct horse battery").unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_ne!(a, b, "each hash has its own salt");
        assert!(verify("correct horse battery", &a));
        assert!(!verify("correct horse battery!", &a));
    }

    #[test]
    fn reused_memory_gives_the_same_answers_as_the_argon2_crate() {
        use argon2::{PasswordHasher, PasswordVerifier};
        let mut memory = HashingMemory::new();
        // Ours verifies the crate's hashes, the crate verifies ours, one buffer for all.
        let theirs = Argon2::default()
            .hash_password(b"a passphrase", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert!(memory.verify("a passphrase", &theirs));
        assert!(!memory.verify("another one", &theirs));
        let ours = memory.hash("a passphrase").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"a passphrase", &parsed)
                .is_ok()
        );
        // Older, smaller parameters still verify in the same buffer.
        let small = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(4096, 3, 1, None).unwrap(),
        )
        .hash_password(b"a passphrase", &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string();
        assert!(memory.verify("a passphrase", &small));
        assert_eq!(memory.0.len(), hasher().params().block_count());
    }

    #[test]
    fn a_stored_hash_asking_for_huge_memory_is_not_computed() {
        let huge = "$argon2id$v=19$m=4194304,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$\
                    qrNYFrBC4PDxfHQ9RPb1FK7DGBmJrzYgUwHT7HDW0Tk";
        let mut memory = HashingMemory::default();
        assert!(!memory.verify("anything", huge));
        assert!(memory.0.is_empty(), "nothing was allocated for it");
    }

    #[test]
    fn malformed_stored_hash_never_matches() {
        assert!(!verify("anything", "not-a-hash"));
        assert!(!verify("", ""));
        assert!(!verify(
            "anything",
            "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ"
        ));
    }

    #[test]
    fn shape_rules_refuse_short_long_and_blank_passwords() {
        assert!(shape_violation("short").is_some());
        assert!(shape_violation(&"x".repeat(MAX_PASSWORD_BYTES + 1)).is_some());
        assert!(shape_violation("            ").is_some());
        assert!(
            shape_violation("长城长城长城长城长城").is_none(),
            "counts characters, not bytes"
        );
        assert!(shape_violation("a fine passphrase").is_none());
    }

    #[test]
    fn weak_passwords_are_refused_with_a_reason() {
        let words = account_words("li.na@shop.example", "Li Na");
        for weak in [
            "aaaaaaaaaa",
            "1234567890",
            "passwordpassword",
            "qwertyuiop",
            "li.na@shop.example",
            "Li.Na@Shop.Example",
            "linalinalina",
            "password123!",
        ] {
            let reason =
                policy_violation(weak, &words).unwrap_or_else(|| panic!("{weak:?} was accepted"));
            assert!(reason.starts_with("is too easy to guess"), "{reason}");
        }
    }

    #[test]
    fn passphrases_of_unrelated_words_are_accepted() {
        let words = account_words("li.na@shop.example", "Li Na");
        for strong in [
            "violet tractor umbrella gossip",
            "Kettle repairs before lunch, 7 days",
            "静夜思床前明月光疑是地上霜",
        ] {
            assert_eq!(policy_violation(strong, &words), None, "{strong:?}");
        }
        // The shape rules come first.
        assert_eq!(
            policy_violation("short", &words).as_deref(),
            Some("must be at least 10 characters")
        );
    }

    #[test]
    fn account_words_include_the_parts_of_email_and_name() {
        assert_eq!(
            account_words("wang.fang@shop.example", "Wang Fang"),
            [
                "wang.fang@shop.example",
                "Wang Fang",
                "wangfang",
                "WangFang",
                "wang",
                "fang",
                "shop",
                "example",
                "Wang",
                "Fang"
            ]
        );
        assert_eq!(
            account_words("li.na@shop.example", "李娜"),
            ["li.na@shop.example", "李娜", "lina", "shop", "example"]
        );
    }

    #[actix_web::test]
    async fn hashers_are_bounded_and_turn_away_who_waits_too_long() {
        let hashing = PasswordHashing::new(&PasswordHashingSettings {
            concurrency: 1,
            wait_ms: 0,
        });
        let held = hashing.permit().await.expect("the only hasher is free");
        let turned_away = hashing.verify("a password".into(), None).await;
        assert!(matches!(
            turned_away,
            Err(ApiError::Overloaded {
                retry_after_secs: 1
            })
        ));
        drop(held);
        let stored = hashing
            .hash_new(
                "password",
                "violet tractor umbrella".into(),
                "a@b.example",
                "A",
            )
            .await
            .unwrap();
        let weak = hashing
            .hash_new("password", "aaaaaaaaaaaa".into(), "a@b.example", "A")
            .await;
        assert!(matches!(weak, Err(ApiError::Validation(fields)) if fields[0].field == "password"));
        assert!(
            hashing
                .verify("violet tractor umbrella".into(), Some(stored))
                .await
                .unwrap()
        );
        assert!(
            !hashing
                .verify("violet tractor umbrella".into(), None)
                .await
                .unwrap()
        );
        // One hasher, one buffer, reused by all of them.
        assert_eq!(spare(&hashing.spare_memory).len(), 1);
    }
}
