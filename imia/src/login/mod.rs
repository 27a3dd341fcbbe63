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

use std::{fmt, sync::Arc};

use actix_web::{HttpMessage as _, HttpRequest};

mod auth;
mod error;
mod guard;
mod options;
mod sessions;
#[cfg(feature = "two-factor")]
mod two_factor;

use self::guard::DynGuard;
#[cfg(feature = "two-factor")]
pub use self::two_factor::CompletedLogin;
pub use self::{
    auth::{Auth, Logins},
    error::LoginError,
    guard::LoginGuard,
    options::LoginOptions,
};
pub use crate::session_state::{login_user, logout, update_session_auth_hash};
pub use crate::throttle::{Attempt, InMemoryThrottle, LoginThrottle};
use crate::{
    SecretKey, UserToken,
    password::{PasswordError, PasswordHasher, check_password, spend_one_check},
    provider::UserProvider,
    session_state::{establish, renew_fingerprint, session_user_id},
    sessions::{DynSessionIndex, SessionIndex},
    throttle::{Admission, DynThrottle},
    user::UserLike,
};

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
    throttle: Option<Arc<dyn DynThrottle>>,
    remember: Option<Box<dyn crate::remember::RevokeTokens>>,
    sessions: Option<Box<dyn DynSessionIndex>>,
    max_sessions: Option<usize>,
    #[cfg(feature = "two-factor")]
    two_factor: Option<crate::two_factor::TwoFactor>,
    policy: crate::password::PasswordPolicy,
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
        self.inner.throttle = Some(Arc::new(throttle));
        self
    }

    /// Revokes the user's remember-me tokens when their password changes. Default: none.
    pub fn remember_me(mut self, remember: impl crate::remember::RevokeTokens) -> Self {
        self.inner.remember = Some(Box::new(remember));
        self
    }

    /// The server-side session index (the app's session store, when it keeps one: the Diesel
    /// [`DieselSessionStore`](crate::diesel::DieselSessionStore)): lets [`Auth`] list and end
    /// the user's sessions, and "log out everywhere" delete them at once. Default: none (ending
    /// sessions then works through the security stamp alone; listing is unavailable).
    pub fn sessions(mut self, index: impl SessionIndex) -> Self {
        self.inner.sessions = Some(Box::new(index));
        self
    }

    /// At most `max` sessions per user (needs [`sessions`](Self::sessions)): a new login ends
    /// the least recently used sessions beyond the limit. Default: no limit.
    ///
    /// Counting and ending happen at login, without a lock across servers: two logins at the
    /// same moment may leave one session more than the limit until the next login.
    pub fn max_sessions(mut self, max: usize) -> Self {
        self.inner.max_sessions = Some(max.max(1));
        self
    }

    /// Second factors (feature `two-factor`): a user who has one is logged in only after a
    /// code, in a second step ([`Auth::complete_login`](crate::Auth::complete_login)); HTTP
    /// Basic refuses them. Default: none. See [`two_factor`](crate::two_factor).
    #[cfg(feature = "two-factor")]
    pub fn two_factor(mut self, two_factor: crate::two_factor::TwoFactor) -> Self {
        self.inner.two_factor = Some(two_factor);
        self
    }

    /// What a new password must be in [`change_password`](LoginManager::change_password).
    /// Default: [`PasswordPolicy::lenient`](crate::password::PasswordPolicy::lenient) (any
    /// non-empty password the hasher accepts); `PasswordPolicy::new()` asks for 8 characters
    /// or more, as sign-up and password resets do.
    pub fn password_policy(mut self, policy: crate::password::PasswordPolicy) -> Self {
        self.inner.policy = policy;
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
                sessions: None,
                max_sessions: None,
                #[cfg(feature = "two-factor")]
                two_factor: None,
                policy: crate::password::PasswordPolicy::lenient(),
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

    /// What a new password must be ([`password_policy`](LoginManagerBuilder::password_policy)).
    pub fn password_policy(&self) -> &crate::password::PasswordPolicy {
        &self.inner.policy
    }

    /// Checks `username` and `password`; on success renews the session, stores the user's id
    /// and password fingerprint in it, and returns the token (also put on the request).
    ///
    /// # Errors
    ///
    /// See [`LoginError`]: every credential problem is [`LoginError::InvalidCredentials`].
    pub async fn login(&self, req: &HttpRequest, username: &str, password: &str) -> Result<UserToken, LoginError> {
        self.login_with(req, username, password, &LoginOptions::new()).await
    }

    /// Like [`login`](Self::login), with what the login form asked for: to be remembered (a
    /// remember-me token is issued once the user is logged in, through
    /// [`remember_me`](LoginManagerBuilder::remember_me); a failure to issue it is logged and the
    /// login stands), and where to go next (kept across the second step).
    ///
    /// For a user with a second factor (feature `two-factor`), a right password answers
    /// [`LoginError::SecondFactorRequired`]: the session holds a pending login, and
    /// [`complete_login`](Self::complete_login) finishes it.
    ///
    /// # Errors
    ///
    /// As [`login`](Self::login).
    pub async fn login_with(
        &self,
        req: &HttpRequest,
        username: &str,
        password: &str,
        options: &LoginOptions,
    ) -> Result<UserToken, LoginError> {
        let inner = &*self.inner;
        if username.is_empty() || password.is_empty() {
            return Err(LoginError::InvalidCredentials);
        }
        let attempt = Attempt {
            username,
            addr: req.peer_addr().map(|a| a.ip()),
        };
        let admission = Admission::ask(inner.throttle.as_ref(), attempt).await?;
        if admission.is_refused() {
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
                admission.failed().await?;
                tracing::info!(username.tag = %inner.secret.log_tag(username), "login failed");
                return Err(LoginError::InvalidCredentials);
            }
        };
        if !user.is_verified() {
            admission.succeeded().await?;
            tracing::info!(user.id = %user.id(), "login refused: the e-mail address is not verified");
            return Err(LoginError::Unverified);
        }
        #[cfg(feature = "two-factor")]
        let second_factor = match &inner.two_factor {
            Some(two_factor) => two_factor.is_enabled(&user.id()).await?,
            None => false,
        };
        #[cfg(not(feature = "two-factor"))]
        let second_factor = false;
        if second_factor {
            // Not a login yet: the counters stay as they are until the code is right.
            admission.abandon().await?;
        } else {
            admission.succeeded().await?;
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
        let user_id = user.id().into_owned();
        #[cfg(feature = "two-factor")]
        if second_factor {
            self.begin_second_step(req, username, &user_id, fingerprint, options)
                .await?;
            return Err(LoginError::SecondFactorRequired);
        }
        let token = establish(req, user.clone(), &fingerprint)?;
        tracing::info!(user.id = %user_id, "login");
        self.enforce_session_limit(&user_id).await;
        if options.remember {
            self.remember_after_login(req, &user).await;
        }
        Ok(token)
    }

    /// Issues the remember-me token a login asked for; a failure is logged, the login stands.
    async fn remember_after_login(&self, req: &HttpRequest, user: &P::User) {
        if let Err(err) = self.remember(req, user).await {
            tracing::error!(user.id = %user.id(), error.display = %err, "could not issue the remember-me token of a login");
        }
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
        if req
            .extensions()
            .get::<UserToken>()
            .is_some_and(UserToken::is_impersonated)
        {
            return Err(LoginError::Impersonating);
        }
        self.check_current_password(req, user, current).await?;
        if inner.policy.check(new).is_err() {
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

    /// Checks the logged-in `user`'s current `password`, as a password change or the removal of
    /// a second factor asks for it: the same check as a login (an inactive user or one without a
    /// password never matches), counted by the same throttle, so that a stolen session does not
    /// become an unthrottled oracle for the account's password.
    pub(crate) async fn check_current_password(
        &self,
        req: &HttpRequest,
        user: &P::User,
        password: &str,
    ) -> Result<(), LoginError> {
        let inner = &*self.inner;
        let attempt = Attempt {
            username: &throttle_name(user),
            addr: req.peer_addr().map(|a| a.ip()),
        };
        let admission = Admission::ask(inner.throttle.as_ref(), attempt).await?;
        if admission.is_refused() {
            spend_one_check(&inner.hasher, password).await?;
            return Err(LoginError::InvalidCredentials);
        }
        if !check_password(&inner.hasher, Some(user), password).await? {
            admission.failed().await?;
            return Err(LoginError::InvalidCredentials);
        }
        admission.succeeded().await?;
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
        // Only this user's own session is renewed: an administrator who resets someone else's
        // password keeps their session as it is.
        if session_user_id(req).as_deref() != Some(user_id) {
            return Ok(());
        }
        renew_fingerprint(req, &inner.secret.user_fingerprint(&user))
    }

    /// Logs `user` in without checking a password (after a sign-up, or a confirmed e-mail
    /// address): renews the session like a login. See [`login_user`].
    ///
    /// # Errors
    ///
    /// [`LoginError::Internal`] when the session cannot store the values.
    pub fn login_user(&self, req: &HttpRequest, user: P::User) -> Result<UserToken, LoginError> {
        login_user(req, user, &self.inner.secret)
    }

    /// Issues a remember-me token for `user` (after a login with "remember me" ticked) and
    /// queues its cookie, through [`remember_me`](LoginManagerBuilder::remember_me).
    ///
    /// # Errors
    ///
    /// [`LoginError::Internal`] when the manager has no remember-me, [`LoginError::Provider`]
    /// when the token store fails.
    pub async fn remember(&self, req: &HttpRequest, user: &P::User) -> Result<(), LoginError> {
        let Some(remember) = &self.inner.remember else {
            return Err(LoginError::Internal(
                "remember-me is not configured: LoginManagerBuilder::remember_me".into(),
            ));
        };
        remember.issue(req, user).await?;
        Ok(())
    }

    /// Logs out: revokes the remember-me token presented with `req` (with
    /// [`remember_me`](LoginManagerBuilder::remember_me)), then purges the session and makes the
    /// request anonymous ([`logout`]). The session is purged even when the token store fails.
    ///
    /// # Errors
    ///
    /// [`LoginError::Provider`] when the remember-me store failed.
    pub async fn logout(&self, req: &HttpRequest) -> Result<(), LoginError> {
        let revoked = match &self.inner.remember {
            Some(remember) => remember.forget(req).await,
            None => Ok(()),
        };
        logout(req);
        revoked.map_err(|err| {
            tracing::error!(error.display = %err, "could not revoke the remember-me token at logout");
            LoginError::from(err)
        })
    }
}

/// The name a user's attempts are throttled under when they are not typed in: their username,
/// else their id.
pub(crate) fn throttle_name<U: UserLike + ?Sized>(user: &U) -> String {
    user.username().unwrap_or_else(|| user.id()).into_owned()
}
