//! Entry points to imia's internal parsers, for the fuzz targets and their regression tests.
//!
//! **Unstable: not part of the public API.** Nothing here follows semantic versioning; it may
//! change or disappear in any release. Each function only forwards to the parser the library
//! itself uses, so what is fuzzed is what runs.

use actix_web::http::header::{HeaderMap, HeaderName};

pub use crate::authenticator::RejectionKind;
use crate::{
    PathPattern,
    authenticator::{
        api_key, basic,
        header::{self, AuthHeader},
        token,
    },
    middleware::paths::{self, Protection},
    password::{Argon2Hasher, ParamCeiling, PasswordError, argon2},
};

/// What the `Authorization` header parser found for one scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authorization<'a> {
    /// No header for this scheme.
    Absent,
    /// A header for this scheme that cannot be used, and why.
    Malformed(&'static str),
    /// The credentials after the scheme and its spaces (possibly empty).
    Credentials(&'a [u8]),
}

impl<'a> From<AuthHeader<'a>> for Authorization<'a> {
    fn from(found: AuthHeader<'a>) -> Self {
        match found {
            AuthHeader::Absent => Self::Absent,
            AuthHeader::Malformed(reason) => Self::Malformed(reason),
            AuthHeader::Credentials(credentials) => Self::Credentials(credentials),
        }
    }
}

/// Parses one `Authorization` header value for `scheme`, capped at `max_len` bytes.
pub fn authorization<'a>(value: &'a [u8], scheme: &str, max_len: usize) -> Authorization<'a> {
    header::parse(value, scheme, max_len).into()
}

/// Reads the `Authorization` headers of `headers` for `scheme` (several headers are malformed).
pub fn authorization_headers<'a>(headers: &'a HeaderMap, scheme: &str, max_len: usize) -> Authorization<'a> {
    header::from_headers(headers, scheme, max_len).into()
}

/// Whether `s` is a `token68`.
pub fn is_token68(s: &[u8]) -> bool {
    header::is_token68(s)
}

/// The token of an `Authorization: <scheme> <token>` header value, as the token authenticator
/// reads it: `Ok(None)` for another scheme.
pub fn token<'a>(value: &'a [u8], scheme: &str, max_len: usize) -> Result<Option<&'a str>, RejectionKind> {
    token::parse(header::parse(value, scheme, max_len)).map_err(|r| r.kind())
}

/// Decodes a Basic payload (the part after `Basic `) into `(username, password)`.
pub fn basic_decode(payload: &[u8]) -> Result<(String, String), RejectionKind> {
    basic::decode(payload)
        .map(|c| (c.username, c.password))
        .map_err(|r| r.kind())
}

/// The API key of the query parameter `param`, as the API key authenticator reads it.
pub fn api_key_from_query(query: &str, param: &str, max_len: usize) -> Result<Option<String>, RejectionKind> {
    api_key::from_query(query, param, max_len)
        .map(|k| k.map(|k| k.into_owned()))
        .map_err(|r| r.kind())
}

/// The API key of the header `name`, as the API key authenticator reads it.
pub fn api_key_from_header<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
    max_len: usize,
) -> Result<Option<&'h str>, RejectionKind> {
    api_key::from_header(headers, name, max_len).map_err(|r| r.kind())
}

/// Whether the middleware could read the path differently from the router (`raw` as sent,
/// `routed` as the router decoded it).
pub fn is_ambiguous(raw: &str, routed: &str) -> bool {
    paths::is_ambiguous(raw, routed)
}

/// Whether the middleware protects the path when configured with `include(patterns)`
/// (`include == true`) or `exclude(patterns)`.
pub fn covers(include: bool, patterns: &[PathPattern], raw: &str, routed: &str) -> bool {
    let protection = if include {
        Protection::Include(patterns.to_vec())
    } else {
        Protection::Exclude(patterns.to_vec())
    };
    protection.covers(raw, routed)
}

/// Parses a remember-me cookie value into `(selector, validator)`.
#[cfg(feature = "session")]
pub fn remember_cookie(value: &str) -> Option<(String, String)> {
    crate::remember::parse_cookie(value).map(|c| (c.selector, c.validator))
}

/// Parses a stored argon2 hash and checks it against `ceiling`: the `(memory_kib, iterations,
/// parallelism)` it would be verified with, or `None` when it is refused.
pub fn argon2_stored_params(hash: &str, ceiling: &ParamCeiling) -> Option<(u32, u32, u32)> {
    argon2::parse_stored(hash, ceiling).map(|s| (s.params.m_cost(), s.params.t_cost(), s.params.p_cost()))
}

/// Verifies `password` against a stored hash on the calling thread (no runtime needed).
///
/// # Errors
///
/// As [`PasswordVerifier::verify`](crate::password::PasswordVerifier::verify).
pub fn argon2_verify_now(hasher: &Argon2Hasher, password: &str, hash: &str) -> Result<bool, PasswordError> {
    hasher.verify_now(password, hash)
}
