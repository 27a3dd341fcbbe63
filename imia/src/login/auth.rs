//! One handle for logging in and out: the [`Auth`] extractor, configured once on the app
//! with a [`Logins`] handle.

use std::{any::type_name, fmt, sync::Arc};

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use futures_util::future::{LocalBoxFuture, Ready, ready};

#[cfg(feature = "two-factor")]
use super::CompletedLogin;
use super::{LoginError, LoginManager, LoginOptions};
#[cfg(feature = "two-factor")]
use crate::two_factor::{Enrolment, RecoveryCodes, TwoFactor, TwoFactorError};
use crate::{
    SecretKey, UserToken, error::AuthError, extract::token_of, password::PasswordHasher, provider::UserProvider,
    sessions::SessionInfo, user::UserLike,
};

/// The app's [`LoginManager`] for users of type `U`, with its provider and hasher types erased:
/// what [`Auth`] uses. Register it once with `App::app_data`; extract it (or
/// `web::Data<Logins<U>>`) in handlers that need the manager itself.
///
/// Made by [`LoginManager::handle`] or `Logins::from(manager)`. Cloning it is cheap.
///
/// # Examples
///
/// ```
/// use actix_web::App;
/// use imia::{SecretKey, UserLike, login::{LoginManager, Logins}, password::Argon2Hasher, provider::InMemoryProvider};
///
/// #[derive(Clone, UserLike)]
/// struct User { id: u32, email: String, password_hash: String }
///
/// let users = InMemoryProvider::new(Vec::<User>::new());
/// let logins: Logins<User> = LoginManager::new(users, Argon2Hasher::default(), SecretKey::generate()).handle();
/// let app = App::new().app_data(logins.clone());
/// # let _ = app;
/// ```
pub struct Logins<U> {
    inner: Arc<dyn Manage<U>>,
}

impl<U> Clone for Logins<U> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<U> fmt::Debug for Logins<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Logins")
            .field("user", &type_name::<U>())
            .finish_non_exhaustive()
    }
}

impl<P, H> From<LoginManager<P, H>> for Logins<P::User>
where
    P: UserProvider,
    P::User: Clone,
    H: PasswordHasher,
{
    fn from(manager: LoginManager<P, H>) -> Self {
        Self {
            inner: Arc::new(manager),
        }
    }
}

impl<P, H> LoginManager<P, H>
where
    P: UserProvider,
    P::User: Clone,
    H: PasswordHasher,
{
    /// This manager as a [`Logins`] handle: register it with `App::app_data` for [`Auth`].
    pub fn handle(&self) -> Logins<P::User> {
        Logins::from(self.clone())
    }
}

impl<U: UserLike> Logins<U> {
    /// The handle registered on the request's app: `Logins<U>` or `web::Data<Logins<U>>`.
    pub(crate) fn of(req: &HttpRequest) -> Option<Self> {
        req.app_data::<Self>()
            .cloned()
            .or_else(|| req.app_data::<web::Data<Self>>().map(|data| Self::clone(data)))
    }

    /// Checks `username` and `password` and logs the user in: see [`LoginManager::login`].
    ///
    /// # Errors
    ///
    /// As [`LoginManager::login`].
    pub async fn login(&self, req: &HttpRequest, username: &str, password: &str) -> Result<UserToken, LoginError> {
        self.inner.login(req, username, password, &LoginOptions::new()).await
    }

    /// Checks `username` and `password` and logs the user in, with `options`: see
    /// [`LoginManager::login_with`].
    ///
    /// # Errors
    ///
    /// As [`LoginManager::login_with`].
    pub async fn login_with(
        &self,
        req: &HttpRequest,
        username: &str,
        password: &str,
        options: &LoginOptions,
    ) -> Result<UserToken, LoginError> {
        self.inner.login(req, username, password, options).await
    }

    /// The second factors, with [`LoginManagerBuilder::two_factor`](super::LoginManagerBuilder::two_factor).
    #[cfg(feature = "two-factor")]
    pub fn two_factor(&self) -> Option<&TwoFactor> {
        self.inner.two_factor()
    }

    /// Logs `user` in without a password (after a sign-up): see [`LoginManager::login_user`].
    ///
    /// # Errors
    ///
    /// As [`LoginManager::login_user`].
    pub fn login_user(&self, req: &HttpRequest, user: U) -> Result<UserToken, LoginError> {
        crate::session_state::login_user(req, user, self.inner.secret())
    }

    /// Ends every session and remember-me token of the user with id `user_id` (an
    /// administrator ending another user's sessions): see [`LoginManager::end_every_session`].
    ///
    /// # Errors
    ///
    /// As [`LoginManager::end_every_session`].
    pub async fn end_every_session(&self, user_id: &str) -> Result<(), LoginError> {
        self.inner.end_every_session(user_id).await
    }

    /// The secret key sessions are fingerprinted with.
    pub fn secret(&self) -> &SecretKey {
        self.inner.secret()
    }
}

impl<U: UserLike> FromRequest for Logins<U> {
    type Error = AuthError;
    type Future = Ready<Result<Self, AuthError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::of(req).ok_or_else(|| not_configured::<U>()))
    }
}

fn not_configured<U>() -> AuthError {
    tracing::error!(
        user = type_name::<U>(),
        "no Logins<{}> in the app's data: register `LoginManager::handle()` with `App::app_data`",
        type_name::<U>()
    );
    AuthError::internal("no login manager is configured")
}

/// What [`Logins`] erases: a [`LoginManager`] of any provider and hasher for users of type `U`.
trait Manage<U>: 'static {
    fn secret(&self) -> &SecretKey;
    fn login<'a>(
        &'a self,
        req: &'a HttpRequest,
        username: &'a str,
        password: &'a str,
        options: &'a LoginOptions,
    ) -> LocalBoxFuture<'a, Result<UserToken, LoginError>>;
    #[cfg(feature = "two-factor")]
    fn two_factor(&self) -> Option<&TwoFactor>;
    #[cfg(feature = "two-factor")]
    fn has_pending_login(&self, req: &HttpRequest) -> bool;
    #[cfg(feature = "two-factor")]
    fn complete_login<'a>(
        &'a self,
        req: &'a HttpRequest,
        code: &'a str,
    ) -> LocalBoxFuture<'a, Result<CompletedLogin, TwoFactorError>>;
    #[cfg(feature = "two-factor")]
    fn begin_two_factor<'a>(
        &'a self,
        req: &'a HttpRequest,
        user: &'a U,
    ) -> LocalBoxFuture<'a, Result<Enrolment, TwoFactorError>>;
    #[cfg(feature = "two-factor")]
    fn confirm_two_factor<'a>(
        &'a self,
        req: &'a HttpRequest,
        user: &'a U,
        code: &'a str,
    ) -> LocalBoxFuture<'a, Result<RecoveryCodes, TwoFactorError>>;
    #[cfg(feature = "two-factor")]
    fn disable_two_factor<'a>(
        &'a self,
        req: &'a HttpRequest,
        user: &'a U,
        password: &'a str,
    ) -> LocalBoxFuture<'a, Result<(), TwoFactorError>>;
    #[cfg(feature = "two-factor")]
    fn regenerate_recovery_codes<'a>(
        &'a self,
        req: &'a HttpRequest,
        user: &'a U,
        password: &'a str,
    ) -> LocalBoxFuture<'a, Result<RecoveryCodes, TwoFactorError>>;
    fn remember<'a>(&'a self, req: &'a HttpRequest, user: &'a U) -> LocalBoxFuture<'a, Result<(), LoginError>>;
    fn logout<'a>(&'a self, req: &'a HttpRequest) -> LocalBoxFuture<'a, Result<(), LoginError>>;
    fn logout_everywhere<'a>(&'a self, req: &'a HttpRequest) -> LocalBoxFuture<'a, Result<(), LoginError>>;
    fn end_every_session<'a>(&'a self, user_id: &'a str) -> LocalBoxFuture<'a, Result<(), LoginError>>;
    fn sessions<'a>(&'a self, req: &'a HttpRequest) -> LocalBoxFuture<'a, Result<Vec<SessionInfo>, LoginError>>;
    fn end_session<'a>(&'a self, req: &'a HttpRequest, id: &'a str) -> LocalBoxFuture<'a, Result<bool, LoginError>>;
    fn end_other_sessions<'a>(&'a self, req: &'a HttpRequest) -> LocalBoxFuture<'a, Result<u64, LoginError>>;
    fn change_password<'a>(
        &'a self,
        req: &'a HttpRequest,
        user: &'a U,
        current: &'a str,
        new: &'a str,
    ) -> LocalBoxFuture<'a, Result<(), LoginError>>;
}

impl<P, H> Manage<P::User> for LoginManager<P, H>
where
    P: UserProvider,
    P::User: Clone,
    H: PasswordHasher,
{
    fn secret(&self) -> &SecretKey {
        LoginManager::secret(self)
    }

    fn login<'a>(
        &'a self,
        req: &'a HttpRequest,
        username: &'a str,
        password: &'a str,
        options: &'a LoginOptions,
    ) -> LocalBoxFuture<'a, Result<UserToken, LoginError>> {
        Box::pin(LoginManager::login_with(self, req, username, password, options))
    }

    #[cfg(feature = "two-factor")]
    fn two_factor(&self) -> Option<&TwoFactor> {
        LoginManager::two_factor(self)
    }

    #[cfg(feature = "two-factor")]
    fn has_pending_login(&self, req: &HttpRequest) -> bool {
        LoginManager::has_pending_login(self, req)
    }

    #[cfg(feature = "two-factor")]
    fn complete_login<'a>(
        &'a self,
        req: &'a HttpRequest,
        code: &'a str,
    ) -> LocalBoxFuture<'a, Result<CompletedLogin, TwoFactorError>> {
        Box::pin(LoginManager::complete_login(self, req, code))
    }

    #[cfg(feature = "two-factor")]
    fn begin_two_factor<'a>(
        &'a self,
        req: &'a HttpRequest,
        user: &'a P::User,
    ) -> LocalBoxFuture<'a, Result<Enrolment, TwoFactorError>> {
        Box::pin(LoginManager::begin_two_factor(self, req, user))
    }

    #[cfg(feature = "two-factor")]
    fn confirm_two_factor<'a>(
        &'a self,
        req: &'a HttpRequest,
        user: &'a P::User,
        code: &'a str,
    ) -> LocalBoxFuture<'a, Result<RecoveryCodes, TwoFactorError>> {
        Box::pin(LoginManager::confirm_two_factor(self, req, user, code))
    }

    #[cfg(feature = "two-factor")]
    fn disable_two_factor<'a>(
        &'a self,
        req: &'a HttpRequest,
        user: &'a P::User,
        password: &'a str,
    ) -> LocalBoxFuture<'a, Result<(), TwoFactorError>> {
        Box::pin(LoginManager::disable_two_factor(self, req, user, password))
    }

    #[cfg(feature = "two-factor")]
    fn regenerate_recovery_codes<'a>(
        &'a self,
        req: &'a HttpRequest,
        user: &'a P::User,
        password: &'a str,
    ) -> LocalBoxFuture<'a, Result<RecoveryCodes, TwoFactorError>> {
        Box::pin(LoginManager::regenerate_recovery_codes(self, req, user, password))
    }

    fn remember<'a>(&'a self, req: &'a HttpRequest, user: &'a P::User) -> LocalBoxFuture<'a, Result<(), LoginError>> {
        Box::pin(LoginManager::remember(self, req, user))
    }

    fn logout<'a>(&'a self, req: &'a HttpRequest) -> LocalBoxFuture<'a, Result<(), LoginError>> {
        Box::pin(LoginManager::logout(self, req))
    }

    fn logout_everywhere<'a>(&'a self, req: &'a HttpRequest) -> LocalBoxFuture<'a, Result<(), LoginError>> {
        Box::pin(LoginManager::logout_everywhere(self, req))
    }

    fn end_every_session<'a>(&'a self, user_id: &'a str) -> LocalBoxFuture<'a, Result<(), LoginError>> {
        Box::pin(LoginManager::end_every_session(self, user_id))
    }

    fn sessions<'a>(&'a self, req: &'a HttpRequest) -> LocalBoxFuture<'a, Result<Vec<SessionInfo>, LoginError>> {
        Box::pin(LoginManager::sessions(self, req))
    }

    fn end_session<'a>(&'a self, req: &'a HttpRequest, id: &'a str) -> LocalBoxFuture<'a, Result<bool, LoginError>> {
        Box::pin(LoginManager::end_session(self, req, id))
    }

    fn end_other_sessions<'a>(&'a self, req: &'a HttpRequest) -> LocalBoxFuture<'a, Result<u64, LoginError>> {
        Box::pin(LoginManager::end_other_sessions(self, req))
    }

    fn change_password<'a>(
        &'a self,
        req: &'a HttpRequest,
        user: &'a P::User,
        current: &'a str,
        new: &'a str,
    ) -> LocalBoxFuture<'a, Result<(), LoginError>> {
        Box::pin(LoginManager::change_password(self, req, user, current, new))
    }
}

/// Who is there, and the way to log in and out: one extractor for every handler that deals with
/// logins, like axum-login's `AuthSession` or actix-identity's `Identity`.
///
/// Configure it once: register the app's [`LoginManager`] with
/// `App::app_data(manager.handle())` (a [`Logins<U>`]). The [`Authentication`](crate::Authentication)
/// middleware must run for the route (it finds who is there).
///
/// - [`user`](Self::user) and [`token`](Self::token): the current user (the impersonated one while
///   impersonating) and the whole token; anonymous requests extract fine (`user()` is `None`).
/// - [`login`](Self::login): checks a username and password, renews the session and stores the user.
/// - [`remember`](Self::remember): issues a remember-me token for the logged-in user.
/// - [`logout`](Self::logout): revokes this device's remember-me token and purges the session.
/// - [`logout_everywhere`](Self::logout_everywhere): ends every session and remember-me token of the
///   user, this one included.
/// - [`change_password`](Self::change_password): checks the current password, stores the new one,
///   ends the user's other sessions and keeps this one.
///
/// Serve the handlers that change the login on `POST`, behind
/// [`csrf::SameOrigin`](crate::csrf::SameOrigin).
///
/// # Examples
///
/// ```
/// use actix_session::{SessionMiddleware, storage::CookieSessionStore};
/// use actix_web::{App, HttpResponse, cookie::Key, test, web};
/// use imia::{Auth, Authentication, SecretKey, UserLike, authenticator::SessionAuthenticator, login::LoginManager,
///            password::{Argon2Hasher, PasswordHasher}, provider::InMemoryProvider};
/// use serde::Deserialize;
///
/// #[derive(Clone, UserLike)]
/// struct User { id: u32, email: String, password_hash: String }
///
/// #[derive(Deserialize)]
/// struct Credentials { username: String, password: String }
///
/// async fn login(mut auth: Auth<User>, form: web::Form<Credentials>) -> actix_web::Result<HttpResponse> {
///     auth.login(&form.username, &form.password).await?; // 401 on bad credentials
///     Ok(HttpResponse::SeeOther().insert_header(("Location", "/me")).finish())
/// }
///
/// async fn me(auth: Auth<User>) -> HttpResponse {
///     match auth.user() {
///         Some(user) => HttpResponse::Ok().body(user.email.clone()),
///         None => HttpResponse::Unauthorized().finish(),
///     }
/// }
///
/// async fn logout(mut auth: Auth<User>) -> actix_web::Result<HttpResponse> {
///     auth.logout().await?;
///     Ok(HttpResponse::SeeOther().insert_header(("Location", "/")).finish())
/// }
///
/// # actix_rt::System::new().block_on(async {
/// let hasher = Argon2Hasher::default();
/// let hash = hasher.hash("correct horse").await.unwrap();
/// let users = InMemoryProvider::new([User { id: 1, email: "ada@example.com".into(), password_hash: hash }]);
/// let secret = SecretKey::generate();
/// let logins = LoginManager::new(users.clone(), hasher, secret.clone());
///
/// let app = test::init_service(
///     App::new()
///         .app_data(logins.handle()) // configured once
///         .wrap(Authentication::new(SessionAuthenticator::new(users, secret)))
///         .wrap(SessionMiddleware::new(CookieSessionStore::default(), Key::generate()))
///         .route("/login", web::post().to(login))
///         .route("/me", web::get().to(me))
///         .route("/logout", web::post().to(logout)),
/// )
/// .await;
///
/// let req = test::TestRequest::post()
///     .uri("/login")
///     .set_form([("username", "ada@example.com"), ("password", "correct horse")])
///     .to_request();
/// let resp = test::call_service(&app, req).await;
/// assert_eq!(resp.status(), 303);
/// let session = resp.response().cookies().next().unwrap().into_owned();
///
/// let req = test::TestRequest::get().uri("/me").cookie(session).to_request();
/// assert_eq!(test::call_and_read_body(&app, req).await, "ada@example.com");
/// # });
/// ```
pub struct Auth<U> {
    req: HttpRequest,
    token: UserToken,
    logins: Logins<U>,
}

impl<U> fmt::Debug for Auth<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

impl<U: UserLike> Auth<U> {
    /// Reads the handle from a request outside of handler arguments.
    ///
    /// # Errors
    ///
    /// As for the extractor: a 500 (logged) when the middleware did not run or no [`Logins<U>`]
    /// is registered.
    pub fn from_http_request(req: &HttpRequest) -> Result<Self, AuthError> {
        let logins = Logins::of(req).ok_or_else(not_configured::<U>)?;
        Ok(Self {
            req: req.clone(),
            token: token_of(req)?,
            logins,
        })
    }

    /// The token: who is there, in which state, with which scopes (anonymous when nobody is).
    pub fn token(&self) -> &UserToken {
        &self.token
    }

    /// The current user: the impersonated one while impersonating, `None` when anonymous.
    pub fn user(&self) -> Option<&U> {
        self.token.user::<U>()
    }

    /// Whether a user is logged in.
    pub fn is_authenticated(&self) -> bool {
        self.token.is_authenticated()
    }

    /// The [`Logins`] handle this extractor uses.
    pub fn logins(&self) -> &Logins<U> {
        &self.logins
    }

    /// Checks `username` and `password`; on success renews the session, stores the user in it,
    /// and returns the new token (also [`token`](Self::token) from now on). See
    /// [`LoginManager::login`] for what is checked, counted and logged.
    ///
    /// # Errors
    ///
    /// [`LoginError::InvalidCredentials`] (401) for every credential problem; see [`LoginError`].
    pub async fn login(&mut self, username: &str, password: &str) -> Result<&UserToken, LoginError> {
        self.login_with(username, password, LoginOptions::new()).await
    }

    /// Like [`login`](Self::login), with what the form asked for besides the credentials:
    /// "remember me" (the token is issued once the user is logged in) and where to go next
    /// (kept across the second step). See [`LoginManager::login_with`].
    ///
    /// For a user with a second factor (feature `two-factor`), a right password answers
    /// [`LoginError::SecondFactorRequired`]: send the user to the code form, whose handler calls
    /// [`complete_login`](Self::complete_login). Until then the session is anonymous.
    ///
    /// # Errors
    ///
    /// As [`login`](Self::login), and [`LoginError::SecondFactorRequired`].
    pub async fn login_with(
        &mut self,
        username: &str,
        password: &str,
        options: LoginOptions,
    ) -> Result<&UserToken, LoginError> {
        let result = self.logins.inner.login(&self.req, username, password, &options).await;
        if matches!(result, Err(LoginError::SecondFactorRequired)) {
            self.token = UserToken::anonymous();
        }
        self.token = result?;
        Ok(&self.token)
    }

    /// Logs `user` in without a password: after a sign-up or a confirmed e-mail address. Renews
    /// the session like a login.
    ///
    /// # Errors
    ///
    /// [`LoginError::Internal`] when the session cannot store the values.
    pub fn login_user(&mut self, user: U) -> Result<&UserToken, LoginError> {
        self.token = self.logins.login_user(&self.req, user)?;
        Ok(&self.token)
    }

    /// Issues a remember-me token for the logged-in user (after a login with "remember me"
    /// ticked) and queues its cookie. Needs [`LoginManagerBuilder::remember_me`](super::LoginManagerBuilder::remember_me).
    ///
    /// # Errors
    ///
    /// [`LoginError::InvalidCredentials`] when nobody is logged in, [`LoginError::Internal`] when
    /// the manager has no remember-me, [`LoginError::Provider`] when the token store fails.
    pub async fn remember(&self) -> Result<(), LoginError> {
        let Some(user) = self.token.real().user::<U>() else {
            return Err(LoginError::InvalidCredentials);
        };
        self.logins.inner.remember(&self.req, user).await
    }

    /// Logs out: revokes this device's remember-me token, purges the session (server-side stores
    /// delete it) and makes the request anonymous. The session is purged even when revoking the
    /// token fails.
    ///
    /// # Errors
    ///
    /// [`LoginError::Provider`] when the remember-me store failed (the session is gone anyway).
    pub async fn logout(&mut self) -> Result<(), LoginError> {
        let result = self.logins.inner.logout(&self.req).await;
        self.token = UserToken::anonymous();
        result
    }

    /// Logs the user out everywhere: rotates their [security stamp](crate::UserLike::security_stamp)
    /// so that every session of theirs is anonymous at its next request, whatever the session
    /// store, revokes every remember-me token of theirs, and logs this request out. While
    /// impersonating, the real user is logged out everywhere.
    ///
    /// # Errors
    ///
    /// [`LoginError::Internal`] when the provider keeps no security stamps (other sessions cannot
    /// be ended; this one is), [`LoginError::Provider`] when a store fails. This session is
    /// logged out in every case.
    pub async fn logout_everywhere(&mut self) -> Result<(), LoginError> {
        let result = self.logins.inner.logout_everywhere(&self.req).await;
        self.token = UserToken::anonymous();
        result
    }

    /// The logged-in user's sessions, newest first, this one marked
    /// [`current`](SessionInfo::current) (while impersonating: the real user's). Needs a
    /// session index ([`LoginManagerBuilder::sessions`](super::LoginManagerBuilder::sessions)).
    ///
    /// # Errors
    ///
    /// [`LoginError::SessionsUnavailable`] without an index, [`LoginError::Provider`] when it
    /// fails.
    pub async fn sessions(&self) -> Result<Vec<SessionInfo>, LoginError> {
        self.logins.inner.sessions(&self.req).await
    }

    /// Ends the user's session with handle `id` ([`SessionInfo::id`]): it is anonymous at its
    /// next request. `false`, ending nothing, for an id of another user's session, an unknown or
    /// a malformed id.
    ///
    /// # Errors
    ///
    /// [`LoginError::SessionsUnavailable`] without an index, [`LoginError::Provider`] when it
    /// fails.
    pub async fn end_session(&self, id: &str) -> Result<bool, LoginError> {
        self.logins.inner.end_session(&self.req, id).await
    }

    /// "Log out all other devices": ends every other session and remember-me token of the user
    /// and keeps this one; how many indexed sessions ended. Works without an index too (through
    /// the security stamp), on every session store.
    ///
    /// # Errors
    ///
    /// See [`LoginManager::end_other_sessions`].
    pub async fn end_other_sessions(&self) -> Result<u64, LoginError> {
        self.logins.inner.end_other_sessions(&self.req).await
    }

    /// Changes the logged-in user's password after checking `current`: see
    /// [`LoginManager::change_password`]. Other sessions of the user end at their next request,
    /// this one stays logged in.
    ///
    /// # Errors
    ///
    /// [`LoginError::InvalidCredentials`] when nobody is logged in or `current` is wrong,
    /// [`LoginError::InvalidNewPassword`] for an unusable new one,
    /// [`LoginError::Impersonating`] while impersonating.
    pub async fn change_password(&self, current: &str, new: &str) -> Result<(), LoginError> {
        let Some(user) = self.user() else {
            return Err(LoginError::InvalidCredentials);
        };
        self.logins.inner.change_password(&self.req, user, current, new).await
    }
}

/// Second factors (feature `two-factor`): the second step of a login, enrolment and removal.
/// See [`two_factor`](crate::two_factor) for the flow.
#[cfg(feature = "two-factor")]
impl<U: UserLike> Auth<U> {
    /// Whether the session holds a login that waits for its second factor: show the code form
    /// when it does, the password form when it does not.
    pub fn has_pending_login(&self) -> bool {
        self.logins.inner.has_pending_login(&self.req)
    }

    /// The second step of a login: checks a TOTP or recovery code and logs the user in. See
    /// [`LoginManager::complete_login`].
    ///
    /// # Errors
    ///
    /// [`TwoFactorError::InvalidCode`] (ask again), [`TwoFactorError::TooManyAttempts`] and
    /// [`TwoFactorError::NoPendingLogin`] (back to the password form); see
    /// [`LoginManager::complete_login`].
    pub async fn complete_login(&mut self, code: &str) -> Result<CompletedLogin, TwoFactorError> {
        let completed = self.logins.inner.complete_login(&self.req, code).await?;
        self.token = completed.token.clone();
        Ok(completed)
    }

    /// Whether the logged-in user (the real one while impersonating) has a second factor on;
    /// `false` when anonymous or when second factors are not configured.
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn has_two_factor(&self) -> Result<bool, TwoFactorError> {
        match (self.logins.inner.two_factor(), self.token.real().id()) {
            (Some(two_factor), Some(id)) => Ok(two_factor.is_enabled(&id).await?),
            _ => Ok(false),
        }
    }

    /// Starts enrolling the logged-in user (a fresh login: not remembered, not impersonating):
    /// the secret, its URI and QR code to show. See [`LoginManager::begin_two_factor`].
    ///
    /// # Errors
    ///
    /// See [`LoginManager::begin_two_factor`].
    pub async fn begin_two_factor(&self) -> Result<Enrolment, TwoFactorError> {
        let user = self.own_user()?;
        self.logins.inner.begin_two_factor(&self.req, user).await
    }

    /// Completes the enrolment with a first code; answers the recovery codes to show once. The
    /// user's other sessions end. See [`LoginManager::confirm_two_factor`].
    ///
    /// # Errors
    ///
    /// See [`LoginManager::confirm_two_factor`].
    pub async fn confirm_two_factor(&mut self, code: &str) -> Result<RecoveryCodes, TwoFactorError> {
        let user = self.own_user()?;
        let codes = self.logins.inner.confirm_two_factor(&self.req, user, code).await?;
        self.token = self.token.clone().with_second_factor();
        Ok(codes)
    }

    /// Removes the logged-in user's second factor after checking their `password`. The user's
    /// other sessions end. See [`LoginManager::disable_two_factor`].
    ///
    /// # Errors
    ///
    /// See [`LoginManager::disable_two_factor`].
    pub async fn disable_two_factor(&self, password: &str) -> Result<(), TwoFactorError> {
        let user = self.own_user()?;
        self.logins.inner.disable_two_factor(&self.req, user, password).await
    }

    /// New recovery codes, replacing the old ones, after checking the user's `password`.
    ///
    /// # Errors
    ///
    /// See [`LoginManager::regenerate_recovery_codes`].
    pub async fn regenerate_recovery_codes(&self, password: &str) -> Result<RecoveryCodes, TwoFactorError> {
        let user = self.own_user()?;
        self.logins
            .inner
            .regenerate_recovery_codes(&self.req, user, password)
            .await
    }

    /// The logged-in user acting as themselves.
    fn own_user(&self) -> Result<&U, TwoFactorError> {
        if self.token.is_impersonated() {
            return Err(TwoFactorError::Impersonating);
        }
        self.user().ok_or(TwoFactorError::Unauthenticated)
    }
}

/// # Extractor behavior
///
/// Succeeds for anonymous and logged-in requests alike. Fails with a 500 (logged) when the
/// [`Authentication`](crate::Authentication) middleware did not run for the route, or when no
/// [`Logins<U>`] is registered with `App::app_data`.
impl<U: UserLike> FromRequest for Auth<U> {
    type Error = AuthError;
    type Future = Ready<Result<Self, AuthError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::from_http_request(req))
    }
}
