//! Authenticators from closures.

use std::{fmt, future::Future, marker::PhantomData};

use actix_web::HttpRequest;

use super::{Authenticator, Challenge, Outcome};
use crate::{error::AuthError, user::UserLike};

/// An authenticator made from an async closure; see [`from_fn`].
pub struct FnAuthenticator<F, U> {
    f: F,
    challenge: Option<Challenge>,
    _user: PhantomData<fn() -> U>,
}

/// Makes an authenticator from an async closure that receives the request (a cheap clone).
///
/// # Examples
///
/// ```
/// use std::borrow::Cow;
/// use imia::{UserLike, authenticator::{Challenge, Outcome, from_fn}};
///
/// struct Robot;
/// impl UserLike for Robot {
///     fn id(&self) -> Cow<'_, str> { "robot".into() }
/// }
///
/// // Trust requests that come with a header from the internal network's proxy.
/// let internal = from_fn(|req: actix_web::HttpRequest| async move {
///     if req.headers().contains_key("x-internal-robot") {
///         Ok(Outcome::Authenticated(Robot))
///     } else {
///         Ok(Outcome::NoCredentials)
///     }
/// })
/// .challenge(Challenge::scheme("Robot"));
/// # let _ = internal;
/// ```
pub fn from_fn<F, Fut, U>(f: F) -> FnAuthenticator<F, U>
where
    F: Fn(HttpRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Outcome<U>, AuthError>> + 'static,
    U: UserLike,
{
    FnAuthenticator {
        f,
        challenge: None,
        _user: PhantomData,
    }
}

impl<F, U> FnAuthenticator<F, U> {
    /// Adds a `WWW-Authenticate` challenge for 401 answers.
    #[must_use]
    pub fn challenge(mut self, challenge: Challenge) -> Self {
        self.challenge = Some(challenge);
        self
    }
}

impl<F, U> fmt::Debug for FnAuthenticator<F, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnAuthenticator")
            .field("challenge", &self.challenge)
            .finish_non_exhaustive()
    }
}

impl<F, Fut, U> Authenticator for FnAuthenticator<F, U>
where
    F: Fn(HttpRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Outcome<U>, AuthError>> + 'static,
    U: UserLike,
{
    type User = U;

    fn authenticate(&self, req: &HttpRequest) -> impl Future<Output = Result<Outcome<U>, AuthError>> {
        (self.f)(req.clone())
    }

    fn challenge(&self) -> Option<Challenge> {
        self.challenge.clone()
    }
}
