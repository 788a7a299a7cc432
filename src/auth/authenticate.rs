//! Who is asking: the request's credential (an access token or an API key) checked against
//! the database, once per request, and the extractors that make a handler require it.

use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, http::header, web};
use chrono::Utc;
use futures_util::future::LocalBoxFuture;

use super::{API_KEY_HEADER, Caller, Principal, api_keys};
use crate::error::ApiError;
use crate::state::AppState;
use crate::users::store as user_store;

/// The credential a request carries.
enum Credential {
    AccessToken(String),
    ApiKey(String),
}

fn credential(req: &HttpRequest) -> Result<Credential, ApiError> {
    let malformed = || ApiError::Unauthenticated("malformed Authorization header".into());
    if let Some(key) = req.headers().get(API_KEY_HEADER) {
        let key = key.to_str().map_err(|_| invalid_key_header())?.trim();
        return Ok(Credential::ApiKey(key.to_owned()));
    }
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::Unauthenticated(
                "an access token (Authorization: Bearer ...) or an API key (X-API-Key) is required"
                    .into(),
            )
        })?
        .to_str()
        .map_err(|_| malformed())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(ApiError::Unauthenticated(
            "the Authorization header must use the Bearer scheme".into(),
        ));
    }
    Ok(if api_keys::looks_like_key(token) {
        Credential::ApiKey(token.to_owned())
    } else {
        Credential::AccessToken(token.to_owned())
    })
}

fn invalid_key_header() -> ApiError {
    ApiError::Unauthenticated("malformed X-API-Key header".into())
}

/// Checks the request's credential against the database. The result is kept in the
/// request's extensions, so middleware that needs it (idempotency) and the handler's
/// extractor authenticate once between them.
pub async fn authenticate(req: &HttpRequest) -> Result<Principal, ApiError> {
    if let Some(principal) = req.extensions().get::<Principal>() {
        return Ok(principal.clone());
    }
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal("application state missing".into()))?;
    let principal = match credential(req)? {
        Credential::ApiKey(key) => {
            let now = Utc::now().naive_utc();
            let (caller, stale) = state
                .db
                .read(move |conn| api_keys::store::authenticate(conn, &key, now))
                .await?;
            if stale {
                let key_id = caller.key_id;
                // Best effort: a lost stamp must not fail the request it describes.
                if let Err(error) = state
                    .db
                    .write(move |conn| api_keys::store::touch(conn, key_id, now))
                    .await
                {
                    tracing::warn!(?error, key_id, "could not record an API key's last use");
                }
            }
            Principal::Integration(caller)
        }
        Credential::AccessToken(token) => {
            let claims = state.tokens.verify(&token)?;
            let user_id = claims
                .user_id()
                .ok_or_else(|| ApiError::Unauthenticated("access token is invalid".into()))?;
            // The account is re-read on every request so that deactivation, role changes
            // and password resets apply at once, not when the token expires.
            let user = state
                .db
                .read(move |conn| user_store::find_by_id(conn, user_id))
                .await?
                .filter(|u| u.active && u.token_generation == claims.generation)
                .ok_or_else(|| {
                    ApiError::Unauthenticated("access token is no longer valid".into())
                })?;
            Principal::Staff(Caller {
                user_id: user.id,
                shop_id: user.shop_id,
                role: user.role,
            })
        }
    };
    req.extensions_mut().insert(principal.clone());
    Ok(principal)
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req).await })
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            match authenticate(&req).await? {
                Principal::Staff(caller) => Ok(caller),
                Principal::Integration(_) | Principal::Buyer(_) => Err(ApiError::Forbidden(
                    "this endpoint is for staff accounts; API keys may not use it".into(),
                )),
            }
        })
    }
}

/// Where a request comes from, as login throttling and the audit log count it: the TCP
/// peer, or behind a proxy named in `TRUSTED_PROXIES` the client it names in
/// `X-Forwarded-For` (`throttle::client_address`); an IPv6 address by its /64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddress(pub Option<String>);

impl ClientAddress {
    pub fn of(req: &HttpRequest, trusted: &[ipnet::IpNet]) -> Self {
        let forwarded: Vec<&str> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .collect();
        let client =
            super::throttle::client_address(req.peer_addr().map(|a| a.ip()), &forwarded, trusted);
        ClientAddress(client.map(super::throttle::address_key))
    }

    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl FromRequest for ClientAddress {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let trusted = req
            .app_data::<web::Data<AppState>>()
            .map(|state| state.settings.server.trusted_proxies.clone())
            .unwrap_or_default();
        std::future::ready(Ok(ClientAddress::of(req, &trusted)))
    }
}
