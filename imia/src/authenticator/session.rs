//! Session authentication on actix-session.

use std::fmt;

use actix_session::SessionExt as _;
use actix_web::HttpRequest;

use super::{Authenticator, Outcome};
use crate::{SecretKey, error::AuthError, provider::UserProvider, session_state, user::UserLike};

/// The session key that holds the logged-in user's id.
#[deprecated(since = "0.2.0", note = "internal to imia; the key is `_auth_user_id`")]
#[doc(hidden)]
pub const SESSION_USER_KEY: &str = session_state::SESSION_USER_KEY;
/// The session key that holds the session fingerprint.
#[deprecated(since = "0.2.0", note = "internal to imia; the key is `_auth_user_hash`")]
#[doc(hidden)]
pub const SESSION_HASH_KEY: &str = session_state::SESSION_HASH_KEY;
/// The session key set on sessions restored from remember-me.
#[deprecated(since = "0.2.0", note = "internal to imia; the key is `_auth_remembered`")]
#[doc(hidden)]
pub const SESSION_REMEMBERED_KEY: &str = session_state::SESSION_REMEMBERED_KEY;

/// Authenticates the user whose id the session holds under `_auth_user_id`.
///
/// Needs actix-session's `SessionMiddleware` wrapped *outside* `Authentication` (that is,
/// `.wrap(Authentication…)` first, then `.wrap(SessionMiddleware…)`); without it there is never
/// a session and this authenticator finds nothing.
///
/// The session also holds a fingerprint of the user's password hash and
/// [security stamp](UserLike::security_stamp), keyed by the app's [`SecretKey`]
/// ([`login`](crate::login) writes it); it is compared in constant time on every request, so a
/// changed password or a rotated stamp (remember-me theft detection, "log out everywhere") ends
/// every other session at its next request, whatever the session store.
///
/// A session whose user no longer exists, is inactive, whose fingerprint does not match, or
/// whose stored values cannot be read is purged, and the request continues as if it had no
/// session ([`Outcome::NoCredentials`]): a stale session is not an attack, so it does not
/// answer 401.
///
/// # Examples
///
/// ```
/// use std::borrow::Cow;
/// use actix_session::{SessionMiddleware, storage::CookieSessionStore};
/// use actix_web::{App, cookie::Key};
/// use imia::{Authentication, SecretKey, UserLike, authenticator::SessionAuthenticator, provider::InMemoryProvider};
///
/// #[derive(Clone)]
/// struct User(&'static str);
/// impl UserLike for User {
///     fn id(&self) -> Cow<'_, str> { self.0.into() }
/// }
///
/// let users = InMemoryProvider::new([User("ann")]);
/// let secret = SecretKey::generate();
/// let cookie_key = Key::derive_from(secret.as_bytes());
/// let app = App::new()
///     .wrap(Authentication::new(SessionAuthenticator::new(users, secret)))
///     .wrap(SessionMiddleware::new(CookieSessionStore::default(), cookie_key));
/// # let _ = app;
/// ```
pub struct SessionAuthenticator<P> {
    provider: P,
    secret: SecretKey,
}

impl<P> SessionAuthenticator<P> {
    /// Authenticates session users through `provider`, checking their password fingerprint
    /// (keyed by `secret`, the key logins use) on every request.
    pub fn new(provider: P, secret: SecretKey) -> Self {
        Self { provider, secret }
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
        let stored = match session_state::stored_login(&session) {
            Ok(Some(stored)) => stored,
            Ok(None) => return Ok(Outcome::NoCredentials),
            Err(err) => {
                tracing::warn!(error.display = %err, "unreadable user id in the session; purging it");
                session.purge();
                return Ok(Outcome::NoCredentials);
            }
        };
        let (id, fingerprint) = (&stored.id, &stored.fingerprint);
        let reason = match self.provider.find_by_id(id).await? {
            Some(user) if user.is_active() && self.secret.user_fingerprint_matches(&user, fingerprint) => {
                session_state::touch(&session);
                return Ok(if stored.remembered {
                    Outcome::Remembered(user)
                } else if stored.second_factor {
                    Outcome::SecondFactor(user)
                } else {
                    Outcome::Authenticated(user)
                });
            }
            Some(user) if user.is_active() => "password changed or security stamp rotated",
            Some(_) => "inactive user",
            None => "unknown user",
        };
        tracing::debug!(user.id = %id, reason, "stale session; purging it");
        session.purge();
        Ok(Outcome::NoCredentials)
    }
}
