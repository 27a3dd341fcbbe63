//! Error types and how each one answers over HTTP.
//!
//! | error | status | body |
//! |---|---|---|
//! | [`AuthError::Unauthenticated`] | 401 with `WWW-Authenticate`, or 303 to the login page | empty |
//! | [`AuthError::Forbidden`] | 403 | empty |
//! | [`AuthError::Malformed`] | 400 | empty |
//! | [`AuthError::Provider`], [`AuthError::Internal`], [`AuthError::MissingMiddleware`] | 500 (503 when a store is unavailable) | empty |
//!
//! Bodies are empty on purpose: an answer never says why credentials failed, whether a user
//! exists, or what went wrong inside.

use std::{error::Error as StdError, fmt, sync::Arc};

use actix_web::{
    HttpResponse, ResponseError,
    http::{
        StatusCode,
        header::{self, HeaderValue},
    },
};

/// A boxed error from a backend (database, pool, custom store).
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// A user provider could not answer.
///
/// An error is a failure, never "no such user": while resolving identity it fails the request
/// closed with an opaque 500 (or 503 for [`Unavailable`](ProviderError::Unavailable)).
///
/// # Examples
///
/// ```
/// use imia::error::ProviderError;
///
/// let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
/// let err = ProviderError::unavailable(io);
/// assert_eq!(err.to_string(), "the user store is unavailable");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// The store cannot be reached now (connection refused, pool timeout). Answers 503.
    #[error("the user store is unavailable")]
    Unavailable(#[source] BoxError),
    /// The store answered with an error. Answers 500.
    #[error("the user store failed")]
    Backend(#[source] BoxError),
    /// More than one user matched a lookup that must be unique (the name of the lookup, e.g.
    /// `username`, never the value). Answers 500.
    #[error("more than one user matches the {0}")]
    Ambiguous(&'static str),
}

impl ProviderError {
    /// A [`ProviderError::Unavailable`] from any error.
    pub fn unavailable(err: impl Into<BoxError>) -> Self {
        Self::Unavailable(err.into())
    }

    /// A [`ProviderError::Backend`] from any error.
    pub fn backend(err: impl Into<BoxError>) -> Self {
        Self::Backend(err.into())
    }

    /// The status this error answers with: 503 for an unavailable store, else 500.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Backend(_) | Self::Ambiguous(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// How to ask an anonymous client to authenticate: a 401 with challenges, or a redirect to the
/// login page.
///
/// The [`Authentication`](crate::Authentication) middleware builds these from its configuration;
/// the extractors and `#[protected]` reuse them, so every "please log in" answer of an app is
/// the same.
#[derive(Clone)]
pub struct Denial(DenialKind);

#[derive(Clone)]
enum DenialKind {
    Challenge(Arc<[HeaderValue]>),
    Redirect(HeaderValue),
}

impl Denial {
    /// A 401 carrying one `WWW-Authenticate` header per challenge (none is fine).
    ///
    /// ```
    /// use actix_web::{ResponseError, http::header::HeaderValue};
    /// use imia::error::{AuthError, Denial};
    ///
    /// let denial = Denial::challenge([HeaderValue::from_static("Bearer")]);
    /// let resp = AuthError::Unauthenticated(denial).error_response();
    /// assert_eq!(resp.status(), 401);
    /// assert_eq!(resp.headers().get("www-authenticate").unwrap(), "Bearer");
    /// ```
    pub fn challenge(challenges: impl IntoIterator<Item = HeaderValue>) -> Self {
        Self(DenialKind::Challenge(challenges.into_iter().collect()))
    }

    pub(crate) fn challenge_shared(challenges: Arc<[HeaderValue]>) -> Self {
        Self(DenialKind::Challenge(challenges))
    }

    /// A 303 See Other to `location` (which the caller has made safe).
    pub fn redirect(location: HeaderValue) -> Self {
        Self(DenialKind::Redirect(location))
    }

    /// Whether this denial redirects rather than answering 401.
    pub fn is_redirect(&self) -> bool {
        matches!(self.0, DenialKind::Redirect(_))
    }

    fn status(&self) -> StatusCode {
        match self.0 {
            DenialKind::Challenge(_) => StatusCode::UNAUTHORIZED,
            DenialKind::Redirect(_) => StatusCode::SEE_OTHER,
        }
    }

    fn response(&self) -> HttpResponse {
        match &self.0 {
            DenialKind::Challenge(challenges) => {
                let mut resp = HttpResponse::Unauthorized();
                for c in challenges.iter() {
                    resp.append_header((header::WWW_AUTHENTICATE, c.clone()));
                }
                resp.finish()
            }
            DenialKind::Redirect(location) => HttpResponse::SeeOther()
                .insert_header((header::LOCATION, location.clone()))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish(),
        }
    }
}

impl Default for Denial {
    /// A bare 401 without challenges.
    fn default() -> Self {
        Self(DenialKind::Challenge(Arc::from([])))
    }
}

impl fmt::Debug for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            DenialKind::Challenge(c) => f.debug_tuple("Challenge").field(c).finish(),
            DenialKind::Redirect(l) => f.debug_tuple("Redirect").field(l).finish(),
        }
    }
}

/// Why a request was not served as it asked. Every variant renders an empty body.
///
/// Extractors, `#[protected]`, [`require_scopes`](crate::require_scopes) and custom
/// authenticators return it; as an actix-web `ResponseError` it answers with the status of its
/// variant.
///
/// # Examples
///
/// ```
/// use actix_web::ResponseError;
/// use imia::error::{AuthError, ProviderError};
///
/// assert_eq!(AuthError::Forbidden.status_code(), 403);
/// assert_eq!(AuthError::Malformed.status_code(), 400);
/// let down = ProviderError::unavailable(std::io::Error::other("db:5432 refused"));
/// let err = AuthError::from(down);
/// assert_eq!(err.status_code(), 503);
/// assert!(err.is_server_error());
/// // Opaque: the cause is for the logs, never the body.
/// let body = actix_web::body::MessageBody::size(&err.error_response().into_body());
/// assert_eq!(body, actix_web::body::BodySize::Sized(0));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The request needs an authenticated user and has none, or its credentials were refused.
    /// 401 with challenges, or 303 to the login page for browsers.
    #[error("authentication required")]
    Unauthenticated(Denial),
    /// The user is authenticated but lacks a required scope. 403.
    #[error("insufficient scope")]
    Forbidden,
    /// The credentials could not be parsed (bad encoding, duplicates, over-long values). 400.
    #[error("malformed credentials")]
    Malformed,
    /// A user provider failed. 500, or 503 when the store is unavailable.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// An extractor or guard ran on a request that the middleware never saw. 500.
    #[error("no UserToken on the request: is `Authentication` wrapped around this route?")]
    MissingMiddleware,
    /// Anything else that went wrong inside (a password hasher failed, a session store failed).
    /// The status is 500 or 503.
    #[error("internal authentication failure")]
    Internal {
        /// 500 or 503.
        status: StatusCode,
        /// The cause, for logs only.
        #[source]
        source: BoxError,
    },
}

impl AuthError {
    /// An [`AuthError::Internal`] answering 500.
    pub fn internal(err: impl Into<BoxError>) -> Self {
        Self::Internal {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            source: err.into(),
        }
    }

    /// An [`AuthError::Internal`] answering 503 (a dependency is down or saturated).
    pub fn unavailable(err: impl Into<BoxError>) -> Self {
        Self::Internal {
            status: StatusCode::SERVICE_UNAVAILABLE,
            source: err.into(),
        }
    }

    /// Whether this error is a server-side failure (5xx) rather than a verdict on the client.
    pub fn is_server_error(&self) -> bool {
        self.status_code().is_server_error()
    }
}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Unauthenticated(d) => d.status(),
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::Malformed => StatusCode::BAD_REQUEST,
            Self::Provider(e) => e.status(),
            Self::MissingMiddleware => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Internal { status, .. } => *status,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Unauthenticated(d) => d.response(),
            _ => HttpResponse::new(self.status_code()),
        }
    }
}

/// A configuration that cannot work: of the [`Authentication`](crate::Authentication) builder,
/// or an origin given to [`SameOrigin`](crate::csrf::SameOrigin). Reported at start-up, never
/// per request.
///
/// # Examples
///
/// ```
/// use std::borrow::Cow;
/// use imia::{Authentication, Fallback, UserLike, authenticator::ApiKeyAuthenticator, error::ConfigError, provider::InMemoryProvider};
///
/// #[derive(Clone)]
/// struct User;
/// impl UserLike for User {
///     fn id(&self) -> Cow<'_, str> { "u".into() }
/// }
///
/// let users = InMemoryProvider::new([User]);
/// let err = Authentication::builder()
///     .authenticator(ApiKeyAuthenticator::new(users))
///     .fallback(Fallback::Redirect) // but no login_url
///     .build()
///     .unwrap_err();
/// assert!(matches!(err, ConfigError::MissingLoginUrl));
/// assert!(matches!(Authentication::builder().build(), Err(ConfigError::NoAuthenticator)));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Both include and exclude patterns were given.
    #[error("include and exclude patterns are mutually exclusive")]
    IncludeAndExclude,
    /// `Fallback::Redirect` was chosen without a login URL.
    #[error("the redirect fallback needs a login URL")]
    MissingLoginUrl,
    /// The login URL is not a local path (it must start with one `/`).
    #[error("the login URL must be a local path starting with `/`: {0:?}")]
    InvalidLoginUrl(String),
    /// A path pattern is invalid.
    #[error("invalid path pattern {pattern:?}: {reason}")]
    InvalidPattern {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No authenticator was configured.
    #[error("at least one authenticator is needed")]
    NoAuthenticator,
    /// An origin (`scheme://host[:port]`) given to [`SameOrigin`](crate::csrf::SameOrigin) or
    /// [`Origin::parse`](crate::csrf::Origin::parse) is not one.
    #[error("invalid origin {origin:?}: {reason}")]
    InvalidOrigin {
        /// The origin as given.
        origin: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A sender given to [`AccountMail`](crate::account::AccountMail) is not a mailbox
    /// (`Name <address>` or an address).
    #[error("not a mailbox: {mailbox:?}")]
    InvalidMailbox {
        /// The mailbox as given.
        mailbox: String,
    },
    /// A table or column name given to a Diesel store or provider is not a plain SQL
    /// identifier (letters, digits and `_`, optionally qualified once: `schema.table`).
    #[error("not a plain SQL {what} name: {name:?}")]
    InvalidIdentifier {
        /// `table` or `column`.
        what: &'static str,
        /// The name as given.
        name: String,
    },
}

#[cfg(test)]
mod tests {
    use actix_web::body::MessageBody;

    use super::*;

    fn body_is_empty(resp: HttpResponse) -> bool {
        matches!(resp.into_body().size(), actix_web::body::BodySize::Sized(0))
    }

    #[test]
    fn statuses_are_deliberate() {
        assert_eq!(AuthError::Forbidden.status_code(), 403);
        assert_eq!(AuthError::Malformed.status_code(), 400);
        assert_eq!(AuthError::MissingMiddleware.status_code(), 500);
        assert_eq!(AuthError::Unauthenticated(Denial::default()).status_code(), 401);
        let redirect = Denial::redirect(HeaderValue::from_static("/login?next=%2F"));
        assert_eq!(AuthError::Unauthenticated(redirect).status_code(), 303);
        let unavailable = ProviderError::unavailable(std::io::Error::other("down"));
        assert_eq!(AuthError::from(unavailable).status_code(), 503);
        assert_eq!(AuthError::from(ProviderError::Ambiguous("username")).status_code(), 500);
        assert_eq!(AuthError::unavailable("busy").status_code(), 503);
        assert_eq!(AuthError::internal("x").status_code(), 500);
    }

    #[test]
    fn bodies_are_opaque() {
        let secret = ProviderError::backend(std::io::Error::other("password=hunter2 at db:5432"));
        let resp = AuthError::from(secret).error_response();
        assert_eq!(resp.status(), 500);
        assert!(body_is_empty(resp));
        assert!(body_is_empty(AuthError::Forbidden.error_response()));
    }

    #[test]
    fn challenges_become_www_authenticate_headers() {
        let d = Denial::challenge([
            HeaderValue::from_static("Basic realm=\"Protected access\""),
            HeaderValue::from_static("Bearer"),
        ]);
        let resp = AuthError::Unauthenticated(d).error_response();
        let values: Vec<_> = resp.headers().get_all(header::WWW_AUTHENTICATE).collect();
        assert_eq!(values.len(), 2);
        assert_eq!(values[0], "Basic realm=\"Protected access\"");
        assert_eq!(values[1], "Bearer");
    }

    #[test]
    fn redirect_denial_sets_location() {
        let d = Denial::redirect(HeaderValue::from_static("/login?next=%2Fapp"));
        assert!(d.is_redirect());
        let resp = AuthError::Unauthenticated(d).error_response();
        assert_eq!(resp.headers().get(header::LOCATION).unwrap(), "/login?next=%2Fapp");
    }
}
