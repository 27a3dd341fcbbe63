//! Remember-me: long-lived, rotating, revocable login tokens.
//!
//! The design the security literature recommends (Paragon's split tokens, Jaspan's theft
//! detection):
//!
//! - the `imia_remember` cookie holds `selector:validator`, both from the OS's CSPRNG (128 and
//!   256 bits). The store keeps the selector, the SHA-256 of the validator (never the validator),
//!   the user id, a series id and the expiry;
//! - a request without a logged-in session but with a valid cookie logs the user back in: a new
//!   session (renewed id, password fingerprint), token state
//!   [`LoginState::Remembered`](crate::LoginState::Remembered) for as long as that session lives,
//!   and the token rotates (a new validator in the same series);
//! - parallel requests that carried the previous validator are accepted for a short grace window
//!   (5 seconds by default). An old validator after the window, or a wrong validator for a known
//!   selector, is treated as theft: every token of that user is revoked, the request is anonymous,
//!   and a `tracing` warning records it;
//!   Theft detection also rotates the user's [security stamp](crate::UserLike::security_stamp)
//!   (through [`UserProvider::rotate_security_stamp`]), so the session the thief already
//!   restored from that token, and every other session of the user, is anonymous at its next
//!   request, whatever the session store (the cookie store included);
//! - each token is bound to the password (and security stamp) it was issued under: a keyed MAC of
//!   both is stored with it and checked on restore. A password set any way at all (a change, an
//!   administrator's reset, a reset link, a direct `UPDATE`) refuses and deletes every token
//!   issued before;
//! - unknown selectors, malformed or over-long cookies, expired tokens, inactive or deleted users
//!   are anonymous, the cookie is cleared, no error page;
//! - [`RememberMe::forget`] (logout) revokes the current token and clears the cookie;
//!   [`RememberMe::forget_user`] revokes them all (log out everywhere; a password change does it
//!   through the [`LoginManager`](crate::login::LoginManager)).
//!
//! Add the [`RememberMe`] handle to the authenticator chain *after* the session authenticator,
//! and call [`RememberMe::remember`] after a login with the "remember me" box ticked.

use std::{fmt, future::Future, sync::Arc, time::Duration};

use actix_web::{
    HttpRequest,
    cookie::{Cookie, SameSite, time::Duration as CookieDuration},
};
use futures_util::future::LocalBoxFuture;

mod cookie;
mod store;

use self::cookie::random;
pub(crate) use self::cookie::{new_secret_pair, parse_cookie};
pub use self::store::{InMemoryRememberStore, RememberStore, RememberToken};
use crate::{
    SecretKey, UserLike,
    authenticator::{Authenticator, Outcome},
    crypto::constant_time_eq,
    error::{AuthError, ProviderError},
    provider::{UserProvider, hash_token},
};

/// The remember-me cookie's name unless configured: `imia_remember`.
pub const DEFAULT_COOKIE_NAME: &str = "imia_remember";
/// How long a remember-me token lives unless configured: 30 days.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// How long a just-rotated validator is still accepted unless configured: 5 seconds.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);
/// The longest remember-me cookie value that is parsed: 128 bytes (a real one has 66).
pub const MAX_COOKIE_LEN: usize = 128;

use crate::crypto::unix_now;

/// Remember-me for one app: the provider to load users, the token store, the app's secret key
/// (for the session fingerprint) and the cookie settings. Cloning shares everything.
///
/// # Examples
///
/// ```
/// use std::borrow::Cow;
/// use imia::{
///     Authentication, SecretKey, UserLike,
///     authenticator::SessionAuthenticator,
///     provider::InMemoryProvider,
///     remember::{InMemoryRememberStore, RememberMe},
/// };
///
/// #[derive(Clone, UserLike)]
/// struct User { id: u32 }
///
/// let users = InMemoryProvider::new([User { id: 1 }]);
/// let secret = SecretKey::generate();
/// // The cookie is `Secure` by default: served only over HTTPS.
/// let remember = RememberMe::new(users.clone(), InMemoryRememberStore::new(), secret.clone());
/// let auth = Authentication::new((SessionAuthenticator::new(users, secret), remember.clone()));
/// // In the login handler, after a successful login with the box ticked:
/// //     remember.remember(&req, &user).await?;
/// # let _ = auth;
/// ```
pub struct RememberMe<P, S> {
    inner: Arc<Inner<P, S>>,
}

/// The configuration: cheap to copy (the provider and the store are shared), so that
/// configuring a clone copies it instead of changing, or ignoring, the others'.
struct Inner<P, S> {
    provider: Arc<P>,
    store: Arc<S>,
    secret: SecretKey,
    cookie_name: String,
    max_age: Duration,
    grace: Duration,
    secure: bool,
}

impl<P, S> Clone for Inner<P, S> {
    fn clone(&self) -> Self {
        Self {
            provider: Arc::clone(&self.provider),
            store: Arc::clone(&self.store),
            secret: self.secret.clone(),
            cookie_name: self.cookie_name.clone(),
            max_age: self.max_age,
            grace: self.grace,
            secure: self.secure,
        }
    }
}

impl<P, S> Clone for RememberMe<P, S> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<P, S> fmt::Debug for RememberMe<P, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RememberMe")
            .field("cookie_name", &self.inner.cookie_name)
            .field("max_age", &self.inner.max_age)
            .field("grace", &self.inner.grace)
            .field("secure", &self.inner.secure)
            .finish_non_exhaustive()
    }
}

impl<P, S> RememberMe<P, S> {
    /// Remember-me with the defaults: cookie `imia_remember`, 30 days, a 5-second grace window,
    /// cookies marked `Secure` (sent over HTTPS only; see [`secure`](Self::secure) for plain-http
    /// development).
    pub fn new(provider: P, store: S, secret: SecretKey) -> Self {
        Self {
            inner: Arc::new(Inner {
                provider: Arc::new(provider),
                store: Arc::new(store),
                secret,
                cookie_name: DEFAULT_COOKIE_NAME.to_owned(),
                max_age: DEFAULT_MAX_AGE,
                grace: DEFAULT_GRACE,
                secure: true,
            }),
        }
    }

    /// Changes this handle's configuration. A handle configured after being cloned gets a
    /// configuration of its own (the provider and the store stay shared); the clones made before
    /// keep theirs.
    fn configure(mut self, f: impl FnOnce(&mut Inner<P, S>)) -> Self {
        f(Arc::make_mut(&mut self.inner));
        self
    }

    /// The cookie's name. Default: [`DEFAULT_COOKIE_NAME`].
    #[must_use]
    pub fn cookie_name(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.configure(|i| i.cookie_name = name)
    }

    /// How long a token lives. Default: [`DEFAULT_MAX_AGE`].
    #[must_use]
    pub fn max_age(self, max_age: Duration) -> Self {
        self.configure(|i| i.max_age = max_age)
    }

    /// How long a just-rotated validator is still accepted. Default: [`DEFAULT_GRACE`].
    #[must_use]
    pub fn grace(self, grace: Duration) -> Self {
        self.configure(|i| i.grace = grace)
    }

    /// Whether the cookie is marked `Secure` (sent over HTTPS only). Default: `true`.
    ///
    /// The remember-me cookie is a long-lived credential: over plain http anyone on the path
    /// can copy it and log in as the user for weeks. Turn it off only for development on plain
    /// http (`http://localhost`), where browsers would otherwise never send it back:
    ///
    /// ```
    /// use imia::{SecretKey, UserLike, provider::InMemoryProvider, remember::{InMemoryRememberStore, RememberMe}};
    ///
    /// #[derive(Clone, UserLike)]
    /// struct User { id: u32 }
    ///
    /// let public_origin = "http://localhost:8000"; // from configuration
    /// let remember = RememberMe::new(InMemoryProvider::new([User { id: 1 }]), InMemoryRememberStore::new(), SecretKey::generate())
    ///     .secure(public_origin.starts_with("https://"));
    /// # let _ = remember;
    /// ```
    #[must_use]
    pub fn secure(self, secure: bool) -> Self {
        self.configure(|i| i.secure = secure)
    }

    /// The token store.
    pub fn store(&self) -> &S {
        &self.inner.store
    }

    fn cookie(&self, value: String) -> Cookie<'static> {
        let max_age = CookieDuration::seconds(i64::try_from(self.inner.max_age.as_secs()).unwrap_or(i64::MAX));
        Cookie::build(self.inner.cookie_name.clone(), value)
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.inner.secure)
            .max_age(max_age)
            .finish()
    }

    fn removal(&self) -> Cookie<'static> {
        let mut cookie = self.cookie(String::new());
        cookie.make_removal();
        cookie
    }

    fn presented(&self, req: &HttpRequest) -> Option<Cookie<'static>> {
        req.cookie(&self.inner.cookie_name)
    }
}

impl<P, S> RememberMe<P, S>
where
    P: UserProvider,
    S: RememberStore,
{
    /// Issues a token for `user` (after a successful login with "remember me"): stores it and
    /// queues the cookie on the response (the `Authentication` middleware sets it).
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn remember<U: UserLike + ?Sized>(&self, req: &HttpRequest, user: &U) -> Result<(), ProviderError> {
        // A token presented with this request is replaced, not left behind.
        if let Some(old) = self.presented(req).and_then(|c| parse_cookie(c.value())) {
            self.inner.store.delete(&old.selector).await?;
        }
        let (selector, validator) = new_secret_pair()?;
        let now = unix_now();
        let token = RememberToken {
            selector: selector.clone(),
            validator_hash: hash_token(&validator),
            previous_hash: None,
            rotated_at: now,
            user_id: user.id().into_owned(),
            series: random(16)?,
            expires_at: now.saturating_add(i64::try_from(self.inner.max_age.as_secs()).unwrap_or(i64::MAX)),
            binding: self.inner.secret.remember_binding(user),
        };
        self.inner.store.insert(&token).await?;
        crate::cookies::queue(req, self.cookie(format!("{selector}:{validator}")));
        tracing::info!(user.id = %token.user_id, series = %token.series, "remember-me token issued");
        Ok(())
    }

    /// Revokes the token presented with `req` (logout) and clears the cookie.
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn forget(&self, req: &HttpRequest) -> Result<(), ProviderError> {
        if let Some(cookie) = self.presented(req) {
            if let Some(value) = parse_cookie(cookie.value()) {
                self.inner.store.delete(&value.selector).await?;
            }
            crate::cookies::queue(req, self.removal());
        }
        Ok(())
    }

    /// Revokes every token of the user with id `user_id` (log out everywhere, password change).
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn forget_user(&self, user_id: &str) -> Result<u64, ProviderError> {
        let revoked = self.inner.store.delete_user(user_id).await?;
        tracing::info!(user.id = %user_id, revoked, "remember-me tokens revoked");
        Ok(revoked)
    }

    /// Clears the cookie, and says nobody was found.
    fn anonymous(&self, req: &HttpRequest) -> Outcome<P::User> {
        crate::cookies::queue(req, self.removal());
        Outcome::NoCredentials
    }

    async fn restore(&self, req: &HttpRequest) -> Result<Outcome<P::User>, AuthError> {
        if crate::session_state::has_login(req) {
            // A session is logged in already (or was just judged stale and purged earlier in
            // the chain, in which case it no longer holds a user).
            return Ok(Outcome::NoCredentials);
        }
        let Some(cookie) = self.presented(req) else {
            return Ok(Outcome::NoCredentials);
        };
        let Some(value) = parse_cookie(cookie.value()) else {
            tracing::debug!("malformed remember-me cookie");
            return Ok(self.anonymous(req));
        };
        let store = &self.inner.store;
        let Some(token) = store.find(&value.selector).await? else {
            tracing::debug!("unknown remember-me selector");
            return Ok(self.anonymous(req));
        };
        let now = unix_now();
        if token.expires_at <= now {
            store.delete(&token.selector).await?;
            return Ok(self.anonymous(req));
        }
        let presented = hash_token(&value.validator);
        let mut rotate = true;
        if !constant_time_eq(presented.as_bytes(), token.validator_hash.as_bytes()) {
            if !self.within_grace(&token, &presented, now) {
                return self.theft(req, &token).await;
            }
            // A parallel request already rotated this token: accept, without rotating again.
            rotate = false;
        }
        let Some(user) = self.inner.provider.find_by_id(&token.user_id).await? else {
            store.delete(&token.selector).await?;
            return Ok(self.anonymous(req));
        };
        if !user.is_active() {
            store.delete(&token.selector).await?;
            return Ok(self.anonymous(req));
        }
        if !self.inner.secret.remember_binding_matches(&user, &token.binding) {
            // Issued under another password or security stamp: the password was set anew (by
            // whatever means) or every session was ended since.
            tracing::info!(
                user.id = %token.user_id,
                series = %token.series,
                "remember-me token issued under an old password or security stamp; revoking it"
            );
            store.delete(&token.selector).await?;
            return Ok(self.anonymous(req));
        }
        if rotate {
            let (_, validator) = new_secret_pair()?;
            match store
                .rotate(&token.selector, &token.validator_hash, &hash_token(&validator), now)
                .await
            {
                Ok(true) => {
                    crate::cookies::queue(req, self.cookie(format!("{}:{validator}", token.selector)));
                }
                Ok(false) => {
                    // Another request rotated it between our read and our write.
                    let fresh = store.find(&token.selector).await?;
                    if !fresh.is_some_and(|t| self.within_grace(&t, &presented, now)) {
                        return self.theft(req, &token).await;
                    }
                }
                Err(err) => {
                    // An outage like a failed lookup: nobody is logged in from the cookie (no
                    // 401 or login redirect either, which would hide the outage), and the
                    // stored token and the cookie are kept for when the store is back.
                    tracing::error!(error.display = %err, "remember-me rotation failed; not restoring the session");
                    return Err(err.into());
                }
            }
        }
        let fingerprint = self.inner.secret.user_fingerprint(&user);
        crate::session_state::write(req, &token.user_id, &fingerprint, true)
            .map_err(|e| AuthError::internal(e.to_string()))?;
        tracing::info!(user.id = %token.user_id, series = %token.series, "session restored from remember-me");
        Ok(Outcome::Remembered(user))
    }

    fn within_grace(&self, token: &RememberToken, presented: &str, now: i64) -> bool {
        let grace = i64::try_from(self.inner.grace.as_secs()).unwrap_or(i64::MAX);
        token
            .previous_hash
            .as_deref()
            .is_some_and(|previous| constant_time_eq(presented.as_bytes(), previous.as_bytes()))
            && now.saturating_sub(token.rotated_at) <= grace
    }

    async fn theft(&self, req: &HttpRequest, token: &RememberToken) -> Result<Outcome<P::User>, AuthError> {
        tracing::warn!(
            user.id = %token.user_id,
            series = %token.series,
            "remember-me token reused after rotation: possible theft; revoking all of the user's tokens and sessions"
        );
        self.inner.store.delete_user(&token.user_id).await?;
        // The thief may already hold a session restored from this token: a new stamp ends it
        // (and every other session of the user) at its next request.
        if !self.inner.provider.rotate_security_stamp(&token.user_id).await? {
            tracing::error!(
                user.id = %token.user_id,
                "the user provider keeps no security stamps: sessions restored from the stolen token stay logged in \
                 until they expire; give users a security stamp (UserProvider::rotate_security_stamp)"
            );
        }
        Ok(self.anonymous(req))
    }

    /// After the password of the user with id `user_id` changed (or their security stamp was
    /// rotated): revokes every remember-me token of the user, then, when `req` presented a valid
    /// token of that user, issues a fresh one bound to the new password, so that the device
    /// making the request stays remembered while every other one is logged out.
    ///
    /// [`LoginManager::change_password`](crate::login::LoginManager::change_password) and
    /// [`LoginManager::update_session_auth_hash`](crate::login::LoginManager::update_session_auth_hash)
    /// call it through [`LoginManagerBuilder::remember_me`](crate::login::LoginManagerBuilder::remember_me).
    ///
    /// # Errors
    ///
    /// When the store or the provider fails.
    pub async fn password_changed(&self, req: &HttpRequest, user_id: &str) -> Result<u64, ProviderError> {
        let store = &self.inner.store;
        let mut keep = false;
        if let Some(value) = self.presented(req).and_then(|c| parse_cookie(c.value()))
            && let Some(token) = store.find(&value.selector).await?
        {
            let presented = hash_token(&value.validator);
            keep = token.user_id == user_id
                && (constant_time_eq(presented.as_bytes(), token.validator_hash.as_bytes())
                    || self.within_grace(&token, &presented, unix_now()));
        }
        let revoked = self.forget_user(user_id).await?;
        if keep && let Some(user) = self.inner.provider.find_by_id(user_id).await? {
            self.remember(req, &user).await?;
        }
        Ok(revoked)
    }
}

impl<P, S> Authenticator for RememberMe<P, S>
where
    P: UserProvider,
    S: RememberStore,
{
    type User = P::User;

    fn authenticate(&self, req: &HttpRequest) -> impl Future<Output = Result<Outcome<P::User>, AuthError>> {
        self.restore(req)
    }
}

/// What a [`LoginManager`](crate::login::LoginManager) (and the [`Auth`](crate::Auth) extractor)
/// calls on the app's remember-me: issue a token at login, revoke it at logout, revoke a user's
/// tokens when their password changes or they log out everywhere. [`RememberMe`] implements it;
/// pass it to [`LoginManagerBuilder::remember_me`](crate::login::LoginManagerBuilder::remember_me).
///
/// # Examples
///
/// ```
/// use imia::{SecretKey, UserLike, provider::InMemoryProvider, remember::{InMemoryRememberStore, RememberMe, RevokeTokens}};
///
/// #[derive(Clone, UserLike)]
/// struct User { id: u32 }
///
/// fn takes(_: impl RevokeTokens) {}
/// takes(RememberMe::new(InMemoryProvider::new([User { id: 1 }]), InMemoryRememberStore::new(), SecretKey::generate()));
/// ```
pub trait RevokeTokens: Send + Sync + 'static {
    /// Revokes every token of the user with id `user_id`.
    fn revoke_user<'a>(&'a self, user_id: &'a str) -> LocalBoxFuture<'a, Result<u64, ProviderError>>;

    /// Revokes every token of the user with id `user_id` but keeps the device making `req`
    /// remembered: see [`RememberMe::password_changed`].
    fn password_changed<'a>(
        &'a self,
        req: &'a HttpRequest,
        user_id: &'a str,
    ) -> LocalBoxFuture<'a, Result<u64, ProviderError>>;

    /// Issues a token for `user` and queues its cookie: see [`RememberMe::remember`].
    fn issue<'a>(
        &'a self,
        req: &'a HttpRequest,
        user: &'a dyn UserLike,
    ) -> LocalBoxFuture<'a, Result<(), ProviderError>>;

    /// Revokes the token presented with `req` and clears the cookie: see [`RememberMe::forget`].
    fn forget<'a>(&'a self, req: &'a HttpRequest) -> LocalBoxFuture<'a, Result<(), ProviderError>>;
}

impl<P: UserProvider, S: RememberStore> RevokeTokens for RememberMe<P, S> {
    fn revoke_user<'a>(&'a self, user_id: &'a str) -> LocalBoxFuture<'a, Result<u64, ProviderError>> {
        Box::pin(self.forget_user(user_id))
    }

    fn password_changed<'a>(
        &'a self,
        req: &'a HttpRequest,
        user_id: &'a str,
    ) -> LocalBoxFuture<'a, Result<u64, ProviderError>> {
        Box::pin(RememberMe::password_changed(self, req, user_id))
    }

    fn issue<'a>(
        &'a self,
        req: &'a HttpRequest,
        user: &'a dyn UserLike,
    ) -> LocalBoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(self.remember(req, user))
    }

    fn forget<'a>(&'a self, req: &'a HttpRequest) -> LocalBoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(RememberMe::forget(self, req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuring_a_clone_leaves_the_original_alone() {
        let users = crate::provider::InMemoryProvider::<crate::testing::TestUser>::new([]);
        let original = RememberMe::new(users, InMemoryRememberStore::new(), SecretKey::generate());
        let copy = original.clone().secure(false).cookie_name("other");
        assert!(original.inner.secure, "the original keeps its setting");
        assert_eq!(original.inner.cookie_name, DEFAULT_COOKIE_NAME);
        assert!(!copy.inner.secure, "the setting is not dropped");
        assert_eq!(copy.inner.cookie_name, "other");
        assert!(Arc::ptr_eq(&original.inner.store, &copy.inner.store), "one token store");
    }
}
