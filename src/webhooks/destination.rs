//! The address policy ([`super::rules`]) applied where addresses become known: at
//! registration, to the URL's host and to everything it resolves to then, and at every
//! connection, by the resolver the worker's HTTP client uses. The second is what counts:
//! a name may resolve elsewhere later (DNS rebinding), and endpoints registered before the
//! policy existed are still delivered to, so the resolver drops forbidden addresses after
//! each lookup and a name left with none fails with `address not allowed`.

use std::net::ToSocketAddrs;
use std::time::Duration;

use actix_web::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

use super::rules::{is_public, literal_address};
use crate::error::ApiError;

/// What a refused URL is told, on its `url` field.
pub const NOT_PUBLIC: &str = "must point to a public address: loopback, private, link-local, multicast and other internal addresses are refused";

/// A connection the resolver refused: every address of the name was internal.
#[derive(Debug, thiserror::Error)]
#[error("address not allowed")]
pub struct AddressNotAllowed;

/// Refuses (422 on `url`) a webhook URL whose host is an internal address, in any
/// spelling, or a name that resolves to one. A name that does not resolve (yet) passes:
/// the lookup may fail for reasons of the moment, and every connection is checked again.
/// The lookup runs on the blocking pool and is given up after `lookup_timeout`.
pub async fn check_registration(url: String, lookup_timeout: Duration) -> Result<(), ApiError> {
    let refused = || ApiError::field("url", NOT_PUBLIC);
    let uri: Uri = url
        .trim()
        .parse()
        .map_err(|_| ApiError::field("url", "must be an http:// or https:// URL"))?;
    let Some(host) = uri.host().map(str::to_owned) else {
        return Err(ApiError::field("url", "must be an http:// or https:// URL"));
    };
    if literal_address(&host).is_some_and(|ip| !is_public(ip)) {
        return Err(refused());
    }
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        });
    // Spelled as the worker's resolver spells it (`[::1]:80`), so that both read the host
    // alike; the system resolver also reads the IPv4 shorthands the URL standard does.
    let target = format!("{host}:{port}");
    let lookup = actix_web::web::block(move || target.to_socket_addrs().map(Vec::from_iter));
    match actix_web::rt::time::timeout(lookup_timeout, lookup).await {
        Ok(Ok(Ok(addresses))) if addresses.iter().any(|a| !is_public(a.ip())) => Err(refused()),
        _ => Ok(()),
    }
}

/// The worker's resolver: the system's, minus every address the policy refuses (unless
/// private addresses are allowed). Lookup failures are all `HostNotFound`, so that the
/// delivery list says `dns lookup failed` and nothing of the resolver's own words.
#[derive(Debug, Default)]
pub struct PublicOnlyResolver {
    system: DefaultResolver,
    allow_private: bool,
}

impl PublicOnlyResolver {
    pub fn new(allow_private: bool) -> Self {
        PublicOnlyResolver {
            system: DefaultResolver::default(),
            allow_private,
        }
    }
}

impl Resolver for PublicOnlyResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let resolved = self
            .system
            .resolve(uri, config, timeout)
            .map_err(|error| match error {
                ureq::Error::Io(_) => ureq::Error::HostNotFound,
                other => other,
            })?;
        if self.allow_private {
            return Ok(resolved);
        }
        let mut public = self.system.empty();
        for address in resolved.iter().filter(|a| is_public(a.ip())) {
            public.push(*address);
        }
        if public.is_empty() {
            return Err(ureq::Error::Other(Box::new(AddressNotAllowed)));
        }
        Ok(public)
    }
}
