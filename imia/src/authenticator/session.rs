//! Session authentication on actix-session.

use std::fmt;

use actix_session::SessionExt as _;
use actix_web::HttpRequest;

use super::{Authenticator, Outcome};
use crate::{error::AuthError, provider::UserProvider, user::UserLike};

/// The session key that holds the logged-in user's id: `_auth_user_id`.
pub const SESSION_USER_KEY: &str = "_auth_user_id";
/// The session key that holds the password fingerprint of the logged-in user: `_auth_user_hash`.
pub const SESSION_HASH_KEY: &str = "_auth_user_hash";

/// Authenticates the user whose id the session holds under `_auth_user_id`.
///
/// Needs actix-session's `SessionMiddleware` wrapped *outside* `Authentication` (that is,
/// `.wrap(Authentication…)` first, then `.wrap(SessionMiddleware…)`); without it there is never
/// a session and this authenticator finds nothing.
///
/// A session whose user no longer exists, is inactive, or whose stored value cannot be read is
/// purged, and the request continues as if it had no session ([`Outcome::NoCredentials`]): a
/// stale session is not an attack, so it does not answer 401.
///
/// # Examples
///
/// ```
/// use std::borrow::Cow;
/// use actix_session::{SessionMiddleware, storage::CookieSessionStore};
/// use actix_web::{App, cookie::Key};
/// use imia::{Authentication, UserLike, authenticator::SessionAuthenticator, provider::InMemoryProvider};
///
/// #[derive(Clone)]
/// struct User(&'static str);
/// impl UserLike for User {
///     fn id(&self) -> Cow<'_, str> { self.0.into() }
/// }
///
/// let users = InMemoryProvider::new([User("ann")]);
/// let key = Key::generate();
/// let app = App::new()
///     .wrap(Authentication::new(SessionAuthenticator::new(users)))
///     .wrap(SessionMiddleware::new(CookieSessionStore::default(), key));
/// # let _ = app;
/// ```
pub struct SessionAuthenticator<P> {
    provider: P,
}

impl<P> SessionAuthenticator<P> {
    /// Authenticates session users through `provider`.
    pub fn new(provider: P) -> Self {
        Self { provider }
    }
}

impl<P> fmt::Debug for SessionAuthenticator<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionAuthenticator").finish_non_exhaustive()
    }
}

impl<P: UserProvider> Authenticator for SessionAuthenticator<P> {
    type User = P::User;

    async fn authenticate(&self, req: &HttpRequest) -> Result<Outcome<P::User>, AuthError> {
        let session = req.get_session();
        let id = match session.get::<String>(SESSION_USER_KEY) {
            Ok(Some(id)) => id,
            Ok(None) => return Ok(Outcome::NoCredentials),
            Err(err) => {
                tracing::warn!(error.display = %err, "unreadable user id in the session; purging it");
                session.purge();
                return Ok(Outcome::NoCredentials);
            }
        };
        match self.provider.find_by_id(&id).await? {
            Some(user) if user.is_active() => Ok(Outcome::Authenticated(user)),
            found => {
                tracing::debug!(
                    user.id = %id,
                    reason = if found.is_some() { "inactive user" } else { "unknown user" },
                    "stale session; purging it"
                );
                session.purge();
                Ok(Outcome::NoCredentials)
            }
        }
    }
}
