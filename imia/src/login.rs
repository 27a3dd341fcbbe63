//! Logging users in and out, on actix-session.
//!
//! [`LoginManager`] checks a username and password and establishes the session; [`logout`]
//! purges it; [`login_user`] logs a user in without a password (after a sign-up, or in tests);
//! [`update_session_auth_hash`] keeps the current session alive across a password change.
//!
//! # Security
//!
//! - The session id is renewed on every login (no fixation), and the session is cleared first
//!   when it belonged to another user. Logout purges it server-side.
//! - The session holds the user's id and a keyed fingerprint of the password hash (never the
//!   hash); the [`SessionAuthenticator`](crate::authenticator::SessionAuthenticator) checks the
//!   fingerprint on every request, so a password change, a disabled or a deleted user ends
//!   every other session on its next request.
//! - Unknown user, wrong password, inactive user, user without a usable password and a
//!   throttled username all fail with the same [`LoginError::InvalidCredentials`], and the
//!   password hasher runs exactly once in each case. Missing fields fail the same way without
//!   touching the provider.
//! - Failed logins are logged without the username as typed (people type passwords into it):
//!   the log carries a keyed tag of it ([`SecretKey::log_tag`]), the same for every attempt on
//!   one username.
//! - The session fingerprint covers the user's security stamp too
//!   ([`UserLike::security_stamp`]): rotating it ends every session of the user.

use std::{fmt, future::Future, sync::Arc};

use actix_session::SessionExt as _;
use actix_web::{HttpMessage as _, HttpRequest, HttpResponse, ResponseError, http::StatusCode};
use futures_util::future::LocalBoxFuture;

pub use crate::throttle::{Attempt, InMemoryThrottle, LoginThrottle};
use crate::{
    SecretKey, UserToken,
    authenticator::{SESSION_HASH_KEY, SESSION_REMEMBERED_KEY, SESSION_USER_KEY},
    error::{BoxError, ProviderError},
    password::{PasswordError, PasswordHasher, check_password, spend_one_check},
    provider::UserProvider,
    throttle::DynThrottle,
    user::UserLike,
};

/// Why a login (or a password change) failed. Render it yourself for forms; as a
/// `ResponseError` it answers with an empty body.
///
/// # Examples
///
/// ```
/// use actix_web::{HttpResponse, ResponseError};
/// use imia::login::LoginError;
///
/// fn answer(result: Result<(), LoginError>) -> HttpResponse {
///     match result {
///         Ok(()) => HttpResponse::SeeOther().insert_header(("Location", "/app")).finish(),
///         // One message for every credential problem: nothing tells which one it was.
///         Err(LoginError::InvalidCredentials) => HttpResponse::Ok().body("Invalid username or password."),
///         // The store or the hasher failed: 500, or 503 when busy or unavailable.
///         Err(other) => other.error_response(),
///     }
/// }
///
/// assert_eq!(answer(Err(LoginError::InvalidCredentials)).status(), 200);
/// assert_eq!(answer(Err(LoginError::Busy)).status(), 503);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoginError {
    /// Wrong credentials, whatever the reason (unknown user, wrong password, inactive user, no
    /// usable password, throttled, missing fields). 401.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// A new password that cannot be used (empty, or longer than the hasher accepts). 400.
    #[error("the new password cannot be used")]
    InvalidNewPassword,
    /// A login guard refused; its error answers.
    #[error("login refused: {0}")]
    Guard(actix_web::Error),
    /// The user store failed. 500, or 503 when it is unavailable. Failure counters are not
    /// touched.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// Too many password checks are queued. 503.
    #[error("password checks are saturated")]
    Busy,
    /// Something else failed (the hasher, the session). 500.
    #[error("login failed internally")]
    Internal(#[source] BoxError),
}

impl ResponseError for LoginError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::InvalidNewPassword => StatusCode::BAD_REQUEST,
            Self::Guard(err) => err.as_response_error().status_code(),
            Self::Provider(err) => err.status(),
            Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Guard(err) => err.error_response(),
            _ => HttpResponse::new(self.status_code()),
        }
    }
}

impl From<PasswordError> for LoginError {
    fn from(err: PasswordError) -> Self {
        match err {
            PasswordError::TooLong => Self::InvalidCredentials,
            PasswordError::Busy => Self::Busy,
            PasswordError::Failed(e) => Self::Internal(e),
        }
    }
}

/// A check run before the password is verified: refuse a login for a reason of the app's
/// (a closed account, a maintenance window, a CAPTCHA). `user` is `None` when the username is
/// unknown: do not reveal that through your answer.
///
/// # Examples
///
/// ```
/// use actix_web::HttpRequest;
/// use imia::{SecretKey, UserLike, login::{LoginGuard, LoginManager}, password::Argon2Hasher, provider::InMemoryProvider};
///
/// #[derive(Clone, UserLike)]
/// struct User { id: u32, locked: bool }
///
/// /// Refuses locked accounts with the answer a wrong password gets.
/// struct NotLocked;
///
/// impl LoginGuard<User> for NotLocked {
///     async fn check(&self, _req: &HttpRequest, _username: &str, user: Option<&User>) -> Result<(), actix_web::Error> {
///         match user {
///             Some(user) if user.locked => Err(actix_web::error::ErrorUnauthorized("")),
///             _ => Ok(()),
///         }
///     }
/// }
///
/// let users = InMemoryProvider::new(Vec::<User>::new());
/// let logins = LoginManager::builder(users, Argon2Hasher::default(), SecretKey::generate())
///     .guard(NotLocked)
///     .build();
/// # let _ = logins;
/// ```
pub trait LoginGuard<U>: Send + Sync + 'static {
    /// `Ok(())` to go on, or the error to answer with.
    fn check(
        &self,
        req: &HttpRequest,
        username: &str,
        user: Option<&U>,
    ) -> impl Future<Output = Result<(), actix_web::Error>>;
}

trait DynGuard<U>: Send + Sync {
    fn check_dyn<'a>(
        &'a self,
        req: &'a HttpRequest,
        username: &'a str,
        user: Option<&'a U>,
    ) -> LocalBoxFuture<'a, Result<(), actix_web::Error>>;
}

impl<U, G: LoginGuard<U>> DynGuard<U> for G {
    fn check_dyn<'a>(
        &'a self,
        req: &'a HttpRequest,
        username: &'a str,
        user: Option<&'a U>,
    ) -> LocalBoxFuture<'a, Result<(), actix_web::Error>> {
        Box::pin(self.check(req, username, user))
    }
}

/// Checks passwords and logs users in.
///
/// # Examples
///
/// ```
/// use actix_web::{HttpRequest, HttpResponse, web};
/// use imia::{
///     SecretKey, UserLike,
///     login::{LoginError, LoginManager},
///     password::Argon2Hasher,
///     provider::InMemoryProvider,
/// };
/// use serde::Deserialize;
///
/// #[derive(Clone, UserLike)]
/// struct User { id: u32, email: String, password_hash: String }
///
/// #[derive(Deserialize)]
/// struct Form { username: String, password: String }
///
/// async fn login(
///     req: HttpRequest,
///     form: web::Form<Form>,
///     logins: web::Data<LoginManager<InMemoryProvider<User>, Argon2Hasher>>,
/// ) -> HttpResponse {
///     match logins.login(&req, &form.username, &form.password).await {
///         Ok(_) => HttpResponse::SeeOther().insert_header(("Location", "/app")).finish(),
///         Err(LoginError::InvalidCredentials) => HttpResponse::Ok().body("Invalid username or password."),
///         Err(other) => HttpResponse::from_error(other),
///     }
/// }
///
/// let users = InMemoryProvider::new(Vec::<User>::new());
/// let logins = LoginManager::new(users, Argon2Hasher::default(), SecretKey::generate());
/// # let _ = logins;
/// ```
pub struct LoginManager<P: UserProvider, H> {
    inner: Arc<Inner<P, H>>,
}

struct Inner<P: UserProvider, H> {
    provider: P,
    hasher: H,
    secret: SecretKey,
    guards: Vec<Box<dyn DynGuard<P::User>>>,
    throttle: Option<Box<dyn DynThrottle>>,
    remember: Option<Box<dyn crate::remember::RevokeTokens>>,
}

impl<P: UserProvider, H> Clone for LoginManager<P, H> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<P: UserProvider, H: fmt::Debug> fmt::Debug for LoginManager<P, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginManager")
            .field("hasher", &self.inner.hasher)
            .field("guards", &self.inner.guards.len())
            .field("throttled", &self.inner.throttle.is_some())
            .finish_non_exhaustive()
    }
}

/// Builds a [`LoginManager`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use imia::{
///     SecretKey, UserLike,
///     login::{InMemoryThrottle, LoginManager},
///     password::Argon2Hasher,
///     provider::InMemoryProvider,
///     remember::{InMemoryRememberStore, RememberMe},
/// };
///
/// #[derive(Clone, UserLike)]
/// struct User { id: u32, email: String, password_hash: String }
///
/// let users = InMemoryProvider::new(Vec::<User>::new());
/// let secret = SecretKey::generate();
/// let remember = RememberMe::new(users.clone(), InMemoryRememberStore::new(), secret.clone());
/// let logins = LoginManager::builder(users, Argon2Hasher::default(), secret)
///     .throttle(InMemoryThrottle::new().per_username(10, Duration::from_secs(300)))
///     .remember_me(remember) // a password change revokes the user's remember-me tokens
///     .build();
/// # let _ = logins;
/// ```
#[must_use]
pub struct LoginManagerBuilder<P: UserProvider, H> {
    inner: Inner<P, H>,
}

impl<P: UserProvider, H> fmt::Debug for LoginManagerBuilder<P, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginManagerBuilder").finish_non_exhaustive()
    }
}

impl<P: UserProvider, H> LoginManagerBuilder<P, H> {
    /// Adds a guard, run before the password check (all guards, in order, until one refuses).
    pub fn guard(mut self, guard: impl LoginGuard<P::User>) -> Self {
        self.inner.guards.push(Box::new(guard));
        self
    }

    /// Throttles attempts (logins and the current-password check of password changes).
    /// Default: none. Pass an `Arc` of the throttle that the
    /// [`BasicAuthenticator`](crate::authenticator::BasicAuthenticator) uses too, so that both
    /// count towards one lockout (see [`throttle`](crate::throttle)).
    pub fn throttle(mut self, throttle: impl LoginThrottle) -> Self {
        self.inner.throttle = Some(Box::new(throttle));
        self
    }

    /// Revokes the user's remember-me tokens when their password changes. Default: none.
    pub fn remember_me(mut self, remember: impl crate::remember::RevokeTokens) -> Self {
        self.inner.remember = Some(Box::new(remember));
        self
    }

    /// Builds the manager.
    pub fn build(self) -> LoginManager<P, H> {
        LoginManager {
            inner: Arc::new(self.inner),
        }
    }
}

impl<P, H> LoginManager<P, H>
where
    P: UserProvider,
    P::User: Clone,
    H: PasswordHasher,
{
    /// A manager with no guards and no throttling.
    pub fn new(provider: P, hasher: H, secret: SecretKey) -> Self {
        Self::builder(provider, hasher, secret).build()
    }

    /// Starts a builder for guards and throttling.
    pub fn builder(provider: P, hasher: H, secret: SecretKey) -> LoginManagerBuilder<P, H> {
        LoginManagerBuilder {
            inner: Inner {
                provider,
                hasher,
                secret,
                guards: Vec::new(),
                throttle: None,
                remember: None,
            },
        }
    }

    /// The secret key sessions are fingerprinted with.
    pub fn secret(&self) -> &SecretKey {
        &self.inner.secret
    }

    /// The provider.
    pub fn provider(&self) -> &P {
        &self.inner.provider
    }

    /// The password hasher.
    pub fn hasher(&self) -> &H {
        &self.inner.hasher
    }

    /// Checks `username` and `password`; on success renews the session, stores the user's id
    /// and password fingerprint in it, and returns the token (also put on the request).
    ///
    /// # Errors
    ///
    /// See [`LoginError`]: every credential problem is [`LoginError::InvalidCredentials`].
    pub async fn login(&self, req: &HttpRequest, username: &str, password: &str) -> Result<UserToken, LoginError> {
        let inner = &*self.inner;
        if username.is_empty() || password.is_empty() {
            return Err(LoginError::InvalidCredentials);
        }
        let attempt = Attempt {
            username,
            addr: req.peer_addr().map(|a| a.ip()),
        };
        if let Some(throttle) = &inner.throttle
            && !throttle.allow_dyn(attempt).await
        {
            // Indistinguishable from a wrong password, down to the work done.
            spend_one_check(&inner.hasher, password).await?;
            tracing::warn!(username.tag = %inner.secret.log_tag(username), "login throttled");
            return Err(LoginError::InvalidCredentials);
        }
        let user = inner.provider.find_by_username(username).await?;
        for guard in &inner.guards {
            guard
                .check_dyn(req, username, user.as_ref())
                .await
                .map_err(LoginError::Guard)?;
        }
        let user = match (check_password(&inner.hasher, user.as_ref(), password).await?, user) {
            (true, Some(user)) => user,
            _ => {
                if let Some(throttle) = &inner.throttle {
                    throttle.failed_dyn(attempt).await;
                }
                tracing::info!(username.tag = %inner.secret.log_tag(username), "login failed");
                return Err(LoginError::InvalidCredentials);
            }
        };
        if let Some(throttle) = &inner.throttle {
            throttle.succeeded_dyn(attempt).await;
        }
        let mut fingerprinted = user.hashed_password().to_owned();
        if inner.hasher.needs_rehash(&fingerprinted) {
            match self.store_new_hash(&user, password).await {
                Ok(Some(new_hash)) => fingerprinted = new_hash,
                Ok(None) => {}
                Err(err) => tracing::warn!(error.display = %err, "could not rehash the password; keeping the old hash"),
            }
        }
        let fingerprint = inner.secret.session_fingerprint(&fingerprinted, &user.security_stamp());
        let token = establish(req, user, &fingerprint)?;
        tracing::info!(user.id = ?token.id(), "login");
        Ok(token)
    }

    /// Hashes `password` and stores it for `user`; `None` when the provider cannot store.
    async fn store_new_hash(&self, user: &P::User, password: &str) -> Result<Option<String>, LoginError> {
        let hash = self.inner.hasher.hash(password).await?;
        Ok(self
            .inner
            .provider
            .update_password_hash(user, &hash)
            .await?
            .then_some(hash))
    }

    /// Changes the password of the logged-in `user` after checking `current`. Other sessions
    /// of the user end on their next request; this one is renewed and stays logged in; with
    /// [`remember_me`](LoginManagerBuilder::remember_me), every remember-me token of the user is
    /// revoked.
    ///
    /// The provider must be able to store hashes
    /// ([`UserProvider::update_password_hash`]; the Diesel provider with `password_column`).
    ///
    /// # Examples
    ///
    /// ```
    /// use actix_web::{HttpRequest, HttpResponse, web};
    /// use imia::{CurrentUser, UserLike, login::LoginManager, password::Argon2Hasher, provider::InMemoryProvider};
    /// use serde::Deserialize;
    ///
    /// #[derive(Clone, UserLike)]
    /// struct User { id: u32, password_hash: String }
    ///
    /// #[derive(Deserialize)]
    /// struct Form { current_password: String, new_password: String }
    ///
    /// async fn change_password(
    ///     req: HttpRequest,
    ///     user: CurrentUser<User>,
    ///     logins: web::Data<LoginManager<InMemoryProvider<User>, Argon2Hasher>>,
    ///     form: web::Form<Form>,
    /// ) -> HttpResponse {
    ///     match logins.change_password(&req, &user, &form.current_password, &form.new_password).await {
    ///         Ok(()) => HttpResponse::Ok().body("changed; your other sessions have ended"),
    ///         Err(err) => HttpResponse::from_error(err), // 401 wrong current password, 400 unusable new one
    ///     }
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// [`LoginError::InvalidCredentials`] for a wrong current password,
    /// [`LoginError::InvalidNewPassword`] for an unusable new one, [`LoginError::Internal`]
    /// when the provider cannot store passwords.
    pub async fn change_password(
        &self,
        req: &HttpRequest,
        user: &P::User,
        current: &str,
        new: &str,
    ) -> Result<(), LoginError> {
        let inner = &*self.inner;
        // The same check as a login (an inactive user or one without a password never matches),
        // and it counts towards the same throttle: a stolen session must not become an
        // unthrottled oracle for the account's password.
        let attempt = Attempt {
            username: &user.username().unwrap_or_else(|| user.id()),
            addr: req.peer_addr().map(|a| a.ip()),
        };
        if let Some(throttle) = &inner.throttle
            && !throttle.allow_dyn(attempt).await
        {
            spend_one_check(&inner.hasher, current).await?;
            return Err(LoginError::InvalidCredentials);
        }
        if !check_password(&inner.hasher, Some(user), current).await? {
            if let Some(throttle) = &inner.throttle {
                throttle.failed_dyn(attempt).await;
            }
            return Err(LoginError::InvalidCredentials);
        }
        if new.is_empty() {
            return Err(LoginError::InvalidNewPassword);
        }
        let new_hash = match inner.hasher.hash(new).await {
            Ok(hash) => hash,
            Err(PasswordError::TooLong) => return Err(LoginError::InvalidNewPassword),
            Err(err) => return Err(err.into()),
        };
        if !inner.provider.update_password_hash(user, &new_hash).await? {
            return Err(LoginError::Internal(
                "the user provider cannot store password hashes".into(),
            ));
        }
        self.update_session_auth_hash(req, &user.id()).await?;
        tracing::info!(user.id = %user.id(), "password changed");
        Ok(())
    }

    /// After the password (or the security stamp) of the logged-in user with id `user_id`
    /// changed, however it was stored: loads the user again, renews the session id and stores
    /// the new fingerprint, so this session stays logged in while every other one ends at its
    /// next request; with [`remember_me`](LoginManagerBuilder::remember_me), revokes every
    /// remember-me token of the user but the one this device presented, which is replaced by a
    /// token bound to the new password.
    ///
    /// [`change_password`](Self::change_password) calls it; call it yourself when you store a
    /// new password another way (a reset by e-mail while logged in), or after rotating the
    /// user's security stamp to log them out everywhere else.
    ///
    /// # Examples
    ///
    /// ```
    /// use actix_web::{HttpRequest, HttpResponse, web};
    /// use imia::{CurrentUser, UserLike, login::LoginManager, password::Argon2Hasher, provider::{InMemoryProvider, UserProvider}};
    ///
    /// #[derive(Clone, UserLike)]
    /// struct User { id: u32, password_hash: String, security_stamp: String }
    ///
    /// type Logins = LoginManager<InMemoryProvider<User>, Argon2Hasher>;
    ///
    /// /// "Log out my other devices".
    /// async fn end_other_sessions(req: HttpRequest, user: CurrentUser<User>, logins: web::Data<Logins>) -> actix_web::Result<HttpResponse> {
    ///     let id = user.id();
    ///     logins.provider().rotate_security_stamp(&id).await.map_err(actix_web::error::ErrorInternalServerError)?;
    ///     logins.update_session_auth_hash(&req, &id).await?;
    ///     Ok(HttpResponse::Ok().body("your other sessions have ended"))
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// [`LoginError::InvalidCredentials`] when the user no longer exists or is inactive (the
    /// session is logged out), [`LoginError::Provider`] when a store fails,
    /// [`LoginError::Internal`] when the session cannot store the value.
    pub async fn update_session_auth_hash(&self, req: &HttpRequest, user_id: &str) -> Result<(), LoginError> {
        let inner = &*self.inner;
        let Some(user) = inner.provider.find_by_id(user_id).await?.filter(UserLike::is_active) else {
            logout(req);
            return Err(LoginError::InvalidCredentials);
        };
        if let Some(remember) = &inner.remember {
            remember.password_changed(req, user_id).await?;
        }
        renew_fingerprint(req, &inner.secret.user_fingerprint(&user))
    }
}

/// Renews the session and stores the user in it.
pub(crate) fn establish<U: UserLike>(req: &HttpRequest, user: U, fingerprint: &str) -> Result<UserToken, LoginError> {
    write_session(req, &user.id(), fingerprint, false)?;
    let token = UserToken::authenticated(user);
    req.extensions_mut().insert(token.clone());
    Ok(token)
}

/// Renews the session and stores the user's id and fingerprint in it, marked as restored from
/// remember-me when `remembered` (a password login is always fresh). A session that belonged to
/// someone else starts over; one of the same user keeps its other data.
pub(crate) fn write_session(
    req: &HttpRequest,
    id: &str,
    fingerprint: &str,
    remembered: bool,
) -> Result<(), LoginError> {
    let session = req.get_session();
    match session.get::<String>(SESSION_USER_KEY) {
        Ok(Some(previous)) if previous == id => {}
        Ok(None) => {}
        _ => session.clear(),
    }
    session.renew();
    let internal = |e: actix_session::SessionInsertError| LoginError::Internal(Box::new(e));
    session.insert(SESSION_USER_KEY, id).map_err(internal)?;
    session.insert(SESSION_HASH_KEY, fingerprint).map_err(internal)?;
    if remembered {
        session.insert(SESSION_REMEMBERED_KEY, true).map_err(internal)?;
    } else {
        session.remove(SESSION_REMEMBERED_KEY);
    }
    Ok(())
}

/// Logs `user` in without checking a password: after a sign-up, or to set up tests. Renews
/// the session like a login.
///
/// For tests, [`testing::login_cookie`](crate::testing::login_cookie) returns the session cookie
/// of such a login without a route in the app.
///
/// # Examples
///
/// ```
/// use actix_web::{HttpRequest, HttpResponse, web};
/// use imia::{SecretKey, UserLike, login::login_user};
///
/// #[derive(UserLike)]
/// struct User { id: u64, email: String }
///
/// /// After the e-mail address is confirmed: the new user is logged in.
/// async fn confirm(req: HttpRequest, secret: web::Data<SecretKey>) -> actix_web::Result<HttpResponse> {
///     let user = User { id: 42, email: "new@example.com".into() }; // from the database
///     login_user(&req, user, &secret)?;
///     Ok(HttpResponse::SeeOther().insert_header(("Location", "/app")).finish())
/// }
/// ```
///
/// # Errors
///
/// [`LoginError::Internal`] when the session cannot store the values.
pub fn login_user<U: UserLike>(req: &HttpRequest, user: U, secret: &SecretKey) -> Result<UserToken, LoginError> {
    let fingerprint = secret.user_fingerprint(&user);
    establish(req, user, &fingerprint)
}

/// Logs out: purges the session (server-side stores delete it) and makes the request anonymous.
///
/// Also call [`RememberMe::forget`](crate::remember::RememberMe::forget) first when the app uses
/// remember-me. Serve it on `POST` behind [`csrf::SameOrigin`](crate::csrf::SameOrigin), so that
/// other sites cannot log users out.
///
/// # Examples
///
/// ```
/// use actix_web::{HttpRequest, HttpResponse};
///
/// async fn logout(req: HttpRequest) -> HttpResponse {
///     imia::login::logout(&req);
///     HttpResponse::SeeOther().insert_header(("Location", "/login")).finish()
/// }
/// ```
pub fn logout(req: &HttpRequest) {
    let session = req.get_session();
    if let Ok(Some(id)) = session.get::<String>(SESSION_USER_KEY) {
        tracing::info!(user.id = %id, "logout");
    }
    session.purge();
    req.extensions_mut().insert(UserToken::anonymous());
}

/// After the current user's password changed to `new_hash`: renews the session id and stores the
/// new fingerprint, so this session stays logged in while every other one ends.
///
/// The fingerprint also covers the security stamp of the user the request is authenticated as.
/// Remember-me tokens are bound to the old password: they are refused (and deleted) at their
/// next use, this device's included. Prefer
/// [`LoginManager::update_session_auth_hash`], which also revokes the other tokens at once and
/// keeps this device remembered; [`LoginManager::change_password`] calls it.
///
/// # Examples
///
/// ```
/// use actix_web::{HttpRequest, HttpResponse, web};
/// use imia::{SecretKey, login::update_session_auth_hash};
///
/// async fn after_reset(req: HttpRequest, secret: web::Data<SecretKey>) -> actix_web::Result<HttpResponse> {
///     let new_hash = "$argon2id$v=19$..."; // what was just stored for the user
///     update_session_auth_hash(&req, new_hash, &secret)?;
///     Ok(HttpResponse::Ok().body("password changed; your other sessions have ended"))
/// }
/// ```
///
/// # Errors
///
/// [`LoginError::Internal`] when the session cannot store the value.
pub fn update_session_auth_hash(req: &HttpRequest, new_hash: &str, secret: &SecretKey) -> Result<(), LoginError> {
    let stamp = req
        .extensions()
        .get::<UserToken>()
        .and_then(|token| token.real().user_like().map(|u| u.security_stamp().into_owned()))
        .unwrap_or_default();
    renew_fingerprint(req, &secret.session_fingerprint(new_hash, &stamp))
}

/// Renews the session id and stores `fingerprint` as the session's.
fn renew_fingerprint(req: &HttpRequest, fingerprint: &str) -> Result<(), LoginError> {
    let session = req.get_session();
    session.renew();
    session
        .insert(SESSION_HASH_KEY, fingerprint)
        .map_err(|e| LoginError::Internal(Box::new(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_statuses() {
        assert_eq!(LoginError::InvalidCredentials.status_code(), 401);
        assert_eq!(LoginError::Busy.status_code(), 503);
        assert_eq!(LoginError::InvalidNewPassword.status_code(), 400);
        assert_eq!(LoginError::from(PasswordError::TooLong).status_code(), 401);
        let guard = LoginError::Guard(actix_web::error::ErrorForbidden("closed"));
        assert_eq!(guard.status_code(), 403);
    }
}
