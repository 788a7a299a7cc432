//! Signed access tokens (JWT, HS256).

use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::Args;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

use super::roles::Role;
use crate::error::ApiError;
use crate::ids::ShopId;

/// Shortest accepted `JWT_SECRET`: HS256 is only as strong as its key.
pub const MIN_SECRET_BYTES: usize = 32;

/// How access tokens are signed and how long they live.
#[derive(Debug, Clone, Args)]
pub struct TokenSettings {
    /// Secret for signing access tokens (HS256). Unset: a random one per process (development only).
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Lifetime of an access token, in minutes.
    #[arg(long, env = "JWT_TTL_MINUTES", default_value_t = 720, value_parser = clap::value_parser!(u32).range(1..=43_200))]
    pub jwt_ttl_minutes: u32,
}

impl TokenSettings {
    pub fn ttl(&self) -> Duration {
        Duration::from_secs(u64::from(self.jwt_ttl_minutes) * 60)
    }

    /// The signing keys: from `JWT_SECRET`, or random for this process (with a warning).
    pub fn keys(&self) -> Result<TokenKeys, String> {
        match &self.jwt_secret {
            Some(secret) if secret.len() >= MIN_SECRET_BYTES => {
                Ok(TokenKeys::new(secret.as_bytes(), self.ttl()))
            }
            Some(_) => Err(format!(
                "JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes"
            )),
            None => {
                tracing::warn!(
                    "JWT_SECRET is not set: using a random secret; tokens will not survive a restart \
                     nor work across replicas. Set JWT_SECRET in production."
                );
                Ok(TokenKeys::random(self.ttl()))
            }
        }
    }
}

/// What a token says about its bearer. The role is informative for clients; the server
/// re-reads the account on every request, so a role change or deactivation applies at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The staff member's id.
    pub sub: String,
    pub shop: i64,
    pub role: Role,
    /// The account's token generation when issued; a later generation revokes this token.
    #[serde(rename = "gen")]
    pub generation: i64,
    pub iat: i64,
    pub exp: i64,
}

impl Claims {
    pub fn user_id(&self) -> Option<i64> {
        self.sub.parse().ok()
    }
}

pub struct TokenKeys {
    /// A key derived from the same secret for the survey links (`surveys::rules`): one
    /// secret to set and share between replicas, never the signing key itself.
    link_key: [u8; 32],
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl TokenKeys {
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "iat", "sub"]);
        // Replicas' clocks may differ by a little; expiry is otherwise exact.
        validation.leeway = 5;
        use hmac::{Hmac, Mac};
        let mut mac =
            Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes keys of any size");
        mac.update(b"aftercare survey links v1");
        TokenKeys {
            link_key: mac.finalize().into_bytes().into(),
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
    }

    /// A random secret for development runs: tokens die with the process.
    pub fn random(ttl: Duration) -> Self {
        let secret: [u8; 64] = rand::random();
        TokenKeys::new(&secret, ttl)
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The key survey links and their forms are derived and signed with.
    pub fn link_key(&self) -> &[u8; 32] {
        &self.link_key
    }

    pub fn issue(
        &self,
        user_id: i64,
        shop_id: ShopId,
        role: Role,
        generation: i64,
        now: DateTime<Utc>,
    ) -> Result<(String, DateTime<Utc>), ApiError> {
        let expires_at = now
            + chrono::Duration::from_std(self.ttl)
                .map_err(|e| ApiError::Internal(format!("token lifetime: {e}")))?;
        let claims = Claims {
            sub: user_id.to_string(),
            shop: shop_id.0,
            role,
            generation,
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::Internal(format!("token signing failed: {e}")))?;
        Ok((token, expires_at))
    }

    /// Checks signature (HS256 only: `alg: none` and other algorithms are refused) and expiry.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        use jsonwebtoken::errors::ErrorKind;
        decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| {
                ApiError::Unauthenticated(match e.kind() {
                    ErrorKind::ExpiredSignature => "access token has expired".into(),
                    _ => "access token is invalid".into(),
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn keys() -> TokenKeys {
        TokenKeys::new(&[7u8; 32], Duration::from_secs(3600))
    }

    #[test]
    fn issued_token_verifies_with_its_claims() {
        let now = Utc::now();
        let (token, expires_at) = keys().issue(42, ShopId(1), Role::Lead, 3, now).unwrap();
        let claims = keys().verify(&token).unwrap();
        assert_eq!(claims.user_id(), Some(42));
        assert_eq!(claims.role, Role::Lead);
        assert_eq!(claims.generation, 3);
        assert_eq!(claims.exp, expires_at.timestamp());
        assert_eq!(claims.exp - claims.iat, 3600);
    }

    #[test]
    fn expired_token_is_refused() {
        let long_ago = Utc::now() - chrono::Duration::hours(2);
        let (token, _) = keys()
            .issue(42, ShopId(1), Role::Agent, 0, long_ago)
            .unwrap();
        let err = keys().verify(&token).unwrap_err();
        assert!(err.to_string().contains("expired"));
    }

    #[test]
    fn token_signed_with_another_secret_is_refused() {
        let other = TokenKeys::new(&[8u8; 32], Duration::from_secs(3600));
        let (token, _) = other
            .issue(42, ShopId(1), Role::Admin, 0, Utc::now())
            .unwrap();
        assert!(keys().verify(&token).is_err());
    }

    #[test]
    fn unsigned_alg_none_token_is_refused() {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let exp = Utc::now().timestamp() + 3600;
        let payload = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"sub":"1","shop":1,"role":"admin","gen":0,"iat":{},"exp":{exp}}}"#,
            Utc::now().timestamp()
        ));
        assert!(keys().verify(&format!("{header}.{payload}.")).is_err());
    }
}
