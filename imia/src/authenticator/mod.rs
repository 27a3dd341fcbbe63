//! Authenticators: each reads one kind of credential from a request.
//!
//! | authenticator | reads | challenge |
//! |---|---|---|
//! | [`SessionAuthenticator`] | the user id stored in the actix-session session | none |
//! | [`BasicAuthenticator`] | `Authorization: Basic …` (RFC 7617) | `Basic realm="…"` |
//! | [`TokenAuthenticator`] | `Authorization: <scheme> <token>`; [`TokenAuthenticator::bearer`] for `Bearer` | the scheme |
//! | [`ApiKeyAuthenticator`] | a query parameter (`apikey`) or a header (`X-Api-Key`) | none |
//! | [`FnAuthenticator`] | whatever your closure reads | optional |
//!
//! Each answers with an [`Outcome`]:
//! - [`Outcome::NoCredentials`]: nothing for this authenticator here; the chain goes on;
//! - [`Outcome::Authenticated`]: this user made the request; the chain stops;
//! - [`Outcome::Rejected`]: credentials are present but wrong or malformed; the chain stops and
//!   the middleware answers as configured (by default 401 with challenges, or 400 for
//!   malformed credentials), never falling through to weaker credentials.
//!
//! An `Err` is a failure (a provider or hasher error) and fails the request closed with an
//! opaque 500/503.

use std::{borrow::Cow, fmt, future::Future};

use actix_web::{HttpRequest, http::header::HeaderValue};
use futures_util::future::LocalBoxFuture;

use crate::{error::AuthError, token::UserToken, user::UserLike};

pub(crate) mod api_key;
pub(crate) mod basic;
mod basic_cache;
mod closure;
pub(crate) mod header;
#[cfg(feature = "session")]
mod session;
pub(crate) mod token;

pub use api_key::{ApiKeyAuthenticator, DEFAULT_HEADER, DEFAULT_QUERY_PARAM};
pub use basic::{BasicAuthenticator, DEFAULT_REALM};
pub use closure::{FnAuthenticator, from_fn};
pub use header::DEFAULT_MAX_CREDENTIAL_LEN;
#[cfg(feature = "session")]
pub use session::SessionAuthenticator;
#[cfg(feature = "session")]
#[allow(deprecated)]
pub use session::{SESSION_HASH_KEY, SESSION_REMEMBERED_KEY, SESSION_USER_KEY};
pub use token::TokenAuthenticator;

/// What an authenticator found on a request.
///
/// # Examples
///
/// ```
/// use imia::authenticator::{Outcome, Rejection, RejectionKind};
///
/// let found: Outcome<&str> = Outcome::Authenticated("ann");
/// assert!(matches!(found.map(str::len), Outcome::Authenticated(3)));
///
/// let refused: Outcome<&str> = Outcome::Rejected(Rejection::malformed("bad base64"));
/// match refused {
///     Outcome::Rejected(r) => assert_eq!(r.kind(), RejectionKind::Malformed), // 400 by default
///     _ => unreachable!(),
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Outcome<U> {
    /// This user made the request.
    Authenticated(U),
    /// This user made the request, known from a remember-me token rather than a fresh login.
    Remembered(U),
    /// This user made the request, in a login that passed a second factor (a session that
    /// completed the two-step login; a token whose issuer vouches for one). The token tells
    /// handlers: [`UserToken::passed_second_factor`].
    SecondFactor(U),
    /// No credentials of this kind: let the next authenticator look.
    NoCredentials,
    /// Credentials of this kind are present but refused.
    Rejected(Rejection),
}

impl<U> Outcome<U> {
    /// Maps the user of an authenticated outcome.
    pub fn map<V>(self, f: impl FnOnce(U) -> V) -> Outcome<V> {
        match self {
            Self::Authenticated(u) => Outcome::Authenticated(f(u)),
            Self::Remembered(u) => Outcome::Remembered(f(u)),
            Self::SecondFactor(u) => Outcome::SecondFactor(f(u)),
            Self::NoCredentials => Outcome::NoCredentials,
            Self::Rejected(r) => Outcome::Rejected(r),
        }
    }
}

/// Why credentials were refused. The reason is for logs only; clients never see it.
///
/// # Examples
///
/// ```
/// use imia::authenticator::{Rejection, RejectionKind};
///
/// let r = Rejection::invalid("unknown token");
/// assert_eq!(r.kind(), RejectionKind::Invalid); // 401 with challenges by default
/// assert_eq!(r.reason(), "unknown token");      // logged at debug, never sent
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection {
    kind: RejectionKind,
    reason: &'static str,
}

/// The two ways credentials are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectionKind {
    /// The credentials cannot be parsed: bad encoding, duplicates, over-long values (400 by
    /// default).
    Malformed,
    /// Well-formed credentials that do not identify an active user (401 by default).
    Invalid,
}

impl Rejection {
    /// Malformed credentials, with a reason for the logs.
    pub const fn malformed(reason: &'static str) -> Self {
        Self {
            kind: RejectionKind::Malformed,
            reason,
        }
    }

    /// Invalid credentials (unknown user or token, wrong password, inactive user), with a reason
    /// for the logs.
    pub const fn invalid(reason: &'static str) -> Self {
        Self {
            kind: RejectionKind::Invalid,
            reason,
        }
    }

    /// Which kind of rejection this is.
    pub fn kind(&self) -> RejectionKind {
        self.kind
    }

    /// Why, for the logs.
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

/// A `WWW-Authenticate` challenge that an authenticator contributes to 401 answers.
///
/// ```
/// use imia::authenticator::Challenge;
///
/// assert_eq!(Challenge::basic("Protected access").as_str(), r#"Basic realm="Protected access""#);
/// assert_eq!(Challenge::basic(r#"a "b" \c"#).as_str(), r#"Basic realm="a \"b\" \\c""#);
/// assert_eq!(Challenge::scheme("Bearer").as_str(), "Bearer");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Challenge(HeaderValue);

impl Challenge {
    /// `Basic realm="<realm>"`, with the realm quoted (RFC 7617; control characters dropped).
    pub fn basic(realm: &str) -> Self {
        Self::with_realm("Basic", Some(realm))
    }

    /// A bare scheme name, e.g. `Bearer`.
    pub fn scheme(scheme: &str) -> Self {
        Self::with_realm(scheme, None)
    }

    /// `<scheme> realm="<realm>"`, or the bare scheme without a realm.
    pub fn with_realm(scheme: &str, realm: Option<&str>) -> Self {
        let scheme: String = scheme.chars().filter(|c| header::is_tchar(*c)).collect();
        let value = match realm {
            Some(realm) => format!("{scheme} realm=\"{}\"", quote(realm)),
            None => scheme,
        };
        // Only visible ASCII and spaces remain, so this cannot fail; keep a safe fallback.
        Self(HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("Basic")))
    }

    /// The challenge as sent.
    pub fn as_str(&self) -> &str {
        self.0.to_str().unwrap_or_default()
    }

    /// The header value.
    pub fn header_value(&self) -> &HeaderValue {
        &self.0
    }
}

impl fmt::Debug for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Challenge").field(&self.as_str()).finish()
    }
}

/// Escapes a quoted-string body (RFC 9110 §5.6.4) and drops what a header cannot carry.
fn quote(s: &str) -> Cow<'_, str> {
    if s.chars()
        .all(|c| (c == ' ' || c.is_ascii_graphic()) && c != '"' && c != '\\')
    {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars().filter(|c| *c == ' ' || c.is_ascii_graphic()) {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    Cow::Owned(out)
}

/// Reads credentials from a request and finds the user they belong to.
///
/// Implement it for credentials imia does not know, or use [`from_fn`] for a closure. The
/// future need not be `Send`; the authenticator itself is shared between server workers, so it
/// is `Send + Sync`.
///
/// # Examples
///
/// An authenticator that trusts a header set by a gateway in front of the app:
///
/// ```
/// use std::borrow::Cow;
/// use actix_web::HttpRequest;
/// use imia::{
///     UserLike,
///     authenticator::{Authenticator, Outcome, Rejection},
///     error::AuthError,
/// };
///
/// struct Gateway;
/// struct User(String);
/// impl UserLike for User {
///     fn id(&self) -> Cow<'_, str> { Cow::Borrowed(&self.0) }
/// }
///
/// impl Authenticator for Gateway {
///     type User = User;
///
///     async fn authenticate(&self, req: &HttpRequest) -> Result<Outcome<User>, AuthError> {
///         let Some(value) = req.headers().get("x-gateway-user") else {
///             return Ok(Outcome::NoCredentials);
///         };
///         match value.to_str() {
///             Ok(name) if !name.is_empty() => Ok(Outcome::Authenticated(User(name.to_owned()))),
///             _ => Ok(Outcome::Rejected(Rejection::malformed("bad gateway header"))),
///         }
///     }
/// }
/// ```
pub trait Authenticator: Send + Sync + 'static {
    /// The user type this authenticator produces.
    type User: UserLike;

    /// Looks for this authenticator's credentials on `req`.
    fn authenticate(&self, req: &HttpRequest) -> impl Future<Output = Result<Outcome<Self::User>, AuthError>>;

    /// The `WWW-Authenticate` challenge this authenticator adds to 401 answers, if any.
    fn challenge(&self) -> Option<Challenge> {
        None
    }
}

/// The object-safe, type-erased form of [`Authenticator`] that the middleware chains.
pub(crate) trait DynAuthenticator: Send + Sync + 'static {
    fn authenticate_dyn<'a>(
        &'a self,
        req: &'a HttpRequest,
    ) -> LocalBoxFuture<'a, Result<Outcome<UserToken>, AuthError>>;
    fn challenge_dyn(&self) -> Option<Challenge>;
    fn name(&self) -> &'static str;
}

impl<A: Authenticator> DynAuthenticator for A {
    fn authenticate_dyn<'a>(
        &'a self,
        req: &'a HttpRequest,
    ) -> LocalBoxFuture<'a, Result<Outcome<UserToken>, AuthError>> {
        Box::pin(async move {
            match self.authenticate(req).await? {
                // The last line of defence: whatever a custom authenticator says, an inactive
                // user does not get in.
                Outcome::Authenticated(user) | Outcome::Remembered(user) | Outcome::SecondFactor(user)
                    if !user.is_active() =>
                {
                    Ok(Outcome::Rejected(Rejection::invalid("inactive user")))
                }
                Outcome::Remembered(user) => Ok(Outcome::Authenticated(UserToken::remembered(user))),
                Outcome::SecondFactor(user) => Ok(Outcome::Authenticated(
                    UserToken::authenticated(user).with_second_factor(),
                )),
                outcome => Ok(outcome.map(UserToken::authenticated)),
            }
        })
    }

    fn challenge_dyn(&self) -> Option<Challenge> {
        self.challenge()
    }

    fn name(&self) -> &'static str {
        std::any::type_name::<A>()
    }
}

/// Turns a found user into an outcome: inactive users are rejected like wrong credentials.
pub(crate) fn accept<U: UserLike>(user: Option<U>, reason: &'static str) -> Outcome<U> {
    match user {
        Some(user) if user.is_active() => Outcome::Authenticated(user),
        Some(_) => Outcome::Rejected(Rejection::invalid("inactive user")),
        None => Outcome::Rejected(Rejection::invalid(reason)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_are_quoted_and_safe() {
        assert_eq!(Challenge::basic("R").as_str(), "Basic realm=\"R\"");
        assert_eq!(Challenge::basic("X\"y").as_str(), "Basic realm=\"X\\\"y\"");
        assert_eq!(
            Challenge::basic("a\r\nSet-Cookie: x").as_str(),
            "Basic realm=\"aSet-Cookie: x\""
        );
        assert_eq!(Challenge::basic("caf\u{e9}").as_str(), "Basic realm=\"caf\"");
        assert_eq!(Challenge::scheme("Bear er\n").as_str(), "Bearer");
        assert_eq!(
            Challenge::with_realm("Token", Some("api")).as_str(),
            "Token realm=\"api\""
        );
    }

    #[test]
    fn rejection_kinds() {
        assert_eq!(Rejection::malformed("x").kind(), RejectionKind::Malformed);
        assert_eq!(Rejection::invalid("y").kind(), RejectionKind::Invalid);
        assert_eq!(Rejection::invalid("y").reason(), "y");
    }
}
