//! Helpers for testing apps that use imia with `actix_web::test`.
//!
//! Two ways to make a request come from a user:
//!
//! - **Skip authentication**: [`TestRequestExt::acting_as`] puts a [`UserToken`] on a request
//!   built by [`TestRequest`](actix_web::test::TestRequest) (`to_request()`,
//!   `to_srv_request()` or `to_http_request()`), so that [`UserToken`],
//!   [`CurrentUser`](crate::CurrentUser), [`FreshUser`](crate::FreshUser), `#[protected]`,
//!   [`require_scopes`](crate::require_scopes) and your guards see that user, with the scopes
//!   you give it ([`TestUser`] is a ready-made user type). No authenticator runs, so this is for
//!   handlers, guards and middleware tested **without** the [`Authentication`](crate::Authentication)
//!   middleware: when the middleware is wrapped, it decides who the user is and replaces the
//!   token.
//! - **Go through the real stack**: [`login_cookie`] (feature `session`) logs a user in through
//!   your own actix-session configuration and returns the session cookie, exactly as a login
//!   would have set it; requests that carry it are authenticated by
//!   [`SessionAuthenticator`](crate::authenticator::SessionAuthenticator) with every check
//!   (password fingerprint, active flag, remember-me state) in place.
//!
//! The module is always compiled, with no feature flag to turn on in `[dev-dependencies]`: it
//! grants no power that the public API lacks ([`login::login_user`](crate::login::login_user)
//! already logs a user in without a password, and a token inserted into a request's extensions
//! is ordinary actix-web), and it costs nothing at run time when unused.
//!
//! # Examples
//!
//! ```
//! use actix_web::{App, HttpResponse, test, web};
//! use imia::{UserToken, protected, testing::{TestRequestExt as _, TestUser}};
//!
//! #[protected(scopes = "admin")]
//! async fn admin(token: UserToken) -> HttpResponse {
//!     HttpResponse::Ok().body(format!("hello {}", token.display_name()))
//! }
//!
//! # actix_web::rt::System::new().block_on(async {
//! let app = test::init_service(App::new().route("/admin", web::get().to(admin))).await;
//!
//! let ann = TestUser::new("ann").with_scopes(["admin"]);
//! let req = test::TestRequest::get().uri("/admin").to_request().acting_as(ann);
//! assert_eq!(test::call_and_read_body(&app, req).await, "hello ann");
//!
//! let bob = TestUser::new("bob");
//! let req = test::TestRequest::get().uri("/admin").to_request().acting_as(bob);
//! assert_eq!(test::call_service(&app, req).await.status(), 403);
//!
//! let req = test::TestRequest::get().uri("/admin").to_request().acting_as(UserToken::anonymous());
//! assert_eq!(test::call_service(&app, req).await.status(), 401);
//! # });
//! ```

use std::{borrow::Cow, fmt};

use actix_web::HttpMessage;

use crate::{token::UserToken, user::UserLike};

#[cfg(feature = "account")]
pub use crate::account::check_store_contract as check_link_store;
#[cfg(feature = "two-factor")]
pub use crate::two_factor::store::check_store_contract as check_two_factor_store;
#[cfg(feature = "session")]
pub use session::{LoginCookieError, SessionLogin, login_cookie};

/// A user for tests: an id, and optionally a display name, a username, a password hash, an API
/// token and scopes (each set with a `with_` method); active unless [`inactive`](Self::inactive).
///
/// Use it where the handler under test only needs the [`UserToken`]; a handler that extracts
/// `CurrentUser<YourUser>` needs a token of your own type
/// (`UserToken::authenticated(your_user)`).
///
/// # Examples
///
/// ```
/// use imia::{UserLike, UserToken, testing::TestUser};
///
/// let ann = TestUser::new("7").with_name("Ann").with_username("ann@example.com").with_scopes(["admin", "billing:read"]);
/// assert_eq!(ann.id(), "7");
/// assert_eq!(ann.display_name(), "Ann");
/// assert!(ann.has_scope("billing:read"));
///
/// let token = UserToken::from(ann);
/// assert!(token.is_authenticated());
/// assert!(token.has_all(["admin", "billing:read"]));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct TestUser {
    id: String,
    name: Option<String>,
    username: Option<String>,
    password_hash: String,
    api_token: Option<String>,
    scopes: Vec<String>,
    active: bool,
}

impl TestUser {
    /// An active user with this id, no scopes, no password and no token.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: None,
            username: None,
            password_hash: String::new(),
            api_token: None,
            scopes: Vec::new(),
            active: true,
        }
    }

    /// The display name. Default: the username, else the id.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The username. Default: none.
    #[must_use]
    pub fn with_username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// The stored password hash (with [`InsecurePlaintextVerifier`](crate::password::InsecurePlaintextVerifier),
    /// the password itself). Default: empty, no usable password.
    #[must_use]
    pub fn with_password_hash(mut self, hash: impl Into<String>) -> Self {
        self.password_hash = hash.into();
        self
    }

    /// The API token, as a provider stores it. Default: none.
    #[must_use]
    pub fn with_api_token(mut self, token: impl Into<String>) -> Self {
        self.api_token = Some(token.into());
        self
    }

    /// The scopes, replacing any given before. Default: none.
    #[must_use]
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Marks the user inactive (authenticators and logins then refuse it).
    #[must_use]
    pub fn inactive(mut self) -> Self {
        self.active = false;
        self
    }

    /// The user as a freshly authenticated [`UserToken`].
    pub fn into_token(self) -> UserToken {
        UserToken::authenticated(self)
    }
}

/// Shows the id, name and scopes; never the password hash or the token.
impl fmt::Debug for TestUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestUser")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

impl UserLike for TestUser {
    fn id(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.id)
    }

    fn display_name(&self) -> Cow<'_, str> {
        match &self.name {
            Some(name) => Cow::Borrowed(name),
            None => self.username().unwrap_or_else(|| self.id()),
        }
    }

    fn username(&self) -> Option<Cow<'_, str>> {
        self.username.as_deref().map(Cow::Borrowed)
    }

    fn hashed_password(&self) -> &str {
        &self.password_hash
    }

    fn api_token(&self) -> Option<&str> {
        self.api_token.as_deref()
    }

    fn scopes(&self) -> Vec<String> {
        self.scopes.clone()
    }

    fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    fn is_active(&self) -> bool {
        self.active
    }
}

/// A freshly authenticated token for the test user.
impl From<TestUser> for UserToken {
    fn from(user: TestUser) -> Self {
        user.into_token()
    }
}

/// Puts an identity on a request built for a test, as the
/// [`Authentication`](crate::Authentication) middleware would have.
///
/// Implemented for every request type that carries extensions: the `Request` of
/// `TestRequest::to_request()` (for `test::call_service` on an app), `ServiceRequest`
/// (`to_srv_request()`, for middleware and guards) and `HttpRequest` (`to_http_request()`, for
/// extractors and functions called directly).
///
/// The token replaces any token already there. An app that wraps `Authentication` puts its own
/// token on every request and so overrides this one: test such apps with [`login_cookie`] or real
/// credentials instead.
///
/// # Examples
///
/// A `CurrentUser` of your own type, from a `ServiceRequest`:
///
/// ```
/// use actix_web::{FromRequest as _, test::TestRequest};
/// use imia::{CurrentUser, UserLike, UserToken, testing::TestRequestExt as _};
///
/// #[derive(UserLike)]
/// struct User { id: u32, email: String }
///
/// # actix_web::rt::System::new().block_on(async {
/// let user = User { id: 1, email: "ann@example.com".into() };
/// let req = TestRequest::get().to_srv_request().acting_as(UserToken::authenticated(user));
/// let (http, mut payload) = req.into_parts();
/// let current = CurrentUser::<User>::from_request(&http, &mut payload).await.unwrap();
/// assert_eq!(current.email, "ann@example.com");
///
/// // A session restored from a remember-me cookie is not fresh:
/// let again = User { id: 1, email: "ann@example.com".into() };
/// let req = TestRequest::get().to_http_request().acting_as(UserToken::remembered(again));
/// assert!(imia::FreshUser::<User>::extract(&req).await.is_err());
/// # });
/// ```
pub trait TestRequestExt: Sized {
    /// Puts `token` (a [`UserToken`], or a [`TestUser`]) on the request and returns it.
    #[must_use]
    fn acting_as(self, token: impl Into<UserToken>) -> Self;
}

impl<R: HttpMessage> TestRequestExt for R {
    fn acting_as(self, token: impl Into<UserToken>) -> Self {
        self.extensions_mut().insert(token.into());
        self
    }
}

#[cfg(feature = "session")]
mod session {
    use std::sync::Arc;

    use actix_session::{SessionMiddleware, storage::SessionStore};
    use actix_web::{
        App, HttpRequest, HttpResponse, ResponseError as _,
        cookie::Cookie,
        http::StatusCode,
        test::{self, TestRequest},
        web,
    };

    use crate::{SecretKey, session_state, user::UserLike};

    /// A logged-in session for a test, made through the app's own session configuration.
    ///
    /// It writes what a successful login writes (the user's id and the password fingerprint
    /// keyed by the app's [`SecretKey`], and for [`remembered`](Self::remembered) sessions the
    /// remember-me mark) through a `SessionMiddleware` built like the app's, in a throwaway
    /// request, and returns the cookie that middleware set. [`login_cookie`] is the short form.
    ///
    /// The `SessionMiddleware` must match the app's: the same store (for server-side stores, a
    /// clone sharing the same database or Redis), the same cookie key and the same cookie name.
    /// Build both from one function.
    ///
    /// # Examples
    ///
    /// ```
    /// use actix_session::{SessionMiddleware, storage::CookieSessionStore};
    /// use actix_web::{App, cookie::Key, test, web};
    /// use imia::{
    ///     Authentication, FreshUser, SecretKey, UserLike,
    ///     authenticator::SessionAuthenticator,
    ///     provider::InMemoryProvider,
    ///     testing::SessionLogin,
    /// };
    ///
    /// #[derive(Clone, UserLike)]
    /// struct User { id: u32 }
    ///
    /// async fn delete_account(user: FreshUser<User>) -> String {
    ///     format!("deleting {}", user.id)
    /// }
    ///
    /// # actix_web::rt::System::new().block_on(async {
    /// let secret = SecretKey::generate();
    /// let key = Key::generate();
    /// let sessions = || SessionMiddleware::new(CookieSessionStore::default(), key.clone());
    /// let users = InMemoryProvider::new([User { id: 1 }]);
    /// let app = test::init_service(
    ///     App::new()
    ///         .wrap(Authentication::new(SessionAuthenticator::new(users, secret.clone())))
    ///         .wrap(sessions())
    ///         .route("/account/delete", web::post().to(delete_account)),
    /// )
    /// .await;
    ///
    /// let fresh = SessionLogin::new(&User { id: 1 }, &secret).cookie(sessions()).await.unwrap();
    /// let req = test::TestRequest::post().uri("/account/delete").cookie(fresh).to_request();
    /// assert_eq!(test::call_and_read_body(&app, req).await, "deleting 1");
    ///
    /// // A session restored from a remember-me cookie must log in again first.
    /// let remembered = SessionLogin::new(&User { id: 1 }, &secret).remembered(true).cookie(sessions()).await.unwrap();
    /// let req = test::TestRequest::post().uri("/account/delete").cookie(remembered).to_request();
    /// assert_eq!(test::call_service(&app, req).await.status(), 401);
    /// # });
    /// ```
    #[derive(Clone)]
    pub struct SessionLogin {
        id: String,
        fingerprint: String,
        remembered: bool,
    }

    impl std::fmt::Debug for SessionLogin {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("SessionLogin")
                .field("id", &self.id)
                .field("remembered", &self.remembered)
                .finish_non_exhaustive()
        }
    }

    impl SessionLogin {
        /// A fresh login of `user`, fingerprinted with `secret` (the key the app's
        /// [`SessionAuthenticator`](crate::authenticator::SessionAuthenticator) checks with).
        ///
        /// The user need not be known to the app's provider: a session for a user who does not
        /// exist (or whose password hash differs) is what a stale session looks like, and the
        /// app must treat it as anonymous.
        pub fn new<U: UserLike>(user: &U, secret: &SecretKey) -> Self {
            Self {
                id: user.id().into_owned(),
                fingerprint: secret.user_fingerprint(user),
                remembered: false,
            }
        }

        /// Whether the session is marked as restored from a remember-me cookie: it then
        /// authenticates as [`LoginState::Remembered`](crate::LoginState::Remembered), which
        /// [`FreshUser`](crate::FreshUser) refuses. Default: `false`.
        #[must_use]
        pub fn remembered(mut self, yes: bool) -> Self {
            self.remembered = yes;
            self
        }

        /// Runs the login through `sessions` and returns the session cookie it set.
        ///
        /// Needs an actix runtime (`#[actix_web::test]`).
        ///
        /// # Errors
        ///
        /// [`LoginCookieError::Failed`] when the session could not be saved (the store failed),
        /// [`LoginCookieError::NoCookie`] when the middleware set no cookie.
        pub async fn cookie<S: SessionStore + 'static>(
            self,
            sessions: SessionMiddleware<S>,
        ) -> Result<Cookie<'static>, LoginCookieError> {
            let login = Arc::new(self);
            let app = test::init_service(App::new().wrap(sessions).default_service(web::to(
                move |req: HttpRequest| {
                    let login = Arc::clone(&login);
                    async move {
                        match session_state::write(&req, &login.id, &login.fingerprint, login.remembered) {
                            Ok(()) => HttpResponse::Ok().finish(),
                            Err(err) => err.error_response(),
                        }
                    }
                },
            )))
            .await;
            let resp = match test::try_call_service(&app, TestRequest::post().uri("/").to_request()).await {
                Ok(resp) => resp,
                Err(err) => return Err(LoginCookieError::Failed(err.as_response_error().status_code())),
            };
            if !resp.status().is_success() {
                return Err(LoginCookieError::Failed(resp.status()));
            }
            resp.response()
                .cookies()
                .find(|c| !c.value().is_empty())
                .map(|c| c.into_owned())
                .ok_or(LoginCookieError::NoCookie)
        }
    }

    /// Logs `user` in through `sessions` (a `SessionMiddleware` configured like the app's) and
    /// returns the session cookie; the short form of [`SessionLogin`].
    ///
    /// # Errors
    ///
    /// See [`SessionLogin::cookie`].
    ///
    /// # Examples
    ///
    /// ```
    /// use actix_session::{SessionMiddleware, storage::CookieSessionStore};
    /// use actix_web::{App, cookie::Key, test, web};
    /// use imia::{
    ///     Authentication, CurrentUser, SecretKey, UserLike,
    ///     authenticator::SessionAuthenticator,
    ///     provider::InMemoryProvider,
    ///     testing::login_cookie,
    /// };
    ///
    /// #[derive(Clone, UserLike)]
    /// struct User { id: u32, email: String, password_hash: String }
    ///
    /// async fn me(user: CurrentUser<User>) -> String {
    ///     user.email.clone()
    /// }
    ///
    /// fn sessions(key: &Key) -> SessionMiddleware<CookieSessionStore> {
    ///     SessionMiddleware::new(CookieSessionStore::default(), key.clone())
    /// }
    ///
    /// # actix_web::rt::System::new().block_on(async {
    /// let ann = User { id: 1, email: "ann@example.com".into(), password_hash: "$argon2id$...".into() };
    /// let (secret, key) = (SecretKey::generate(), Key::generate());
    /// let users = InMemoryProvider::new([ann.clone()]);
    /// let app = test::init_service(
    ///     App::new()
    ///         .wrap(Authentication::new(SessionAuthenticator::new(users, secret.clone())))
    ///         .wrap(sessions(&key))
    ///         .route("/me", web::get().to(me)),
    /// )
    /// .await;
    ///
    /// let cookie = login_cookie(sessions(&key), &ann, &secret).await.unwrap();
    /// let req = test::TestRequest::get().uri("/me").cookie(cookie).to_request();
    /// assert_eq!(test::call_and_read_body(&app, req).await, "ann@example.com");
    /// # });
    /// ```
    pub async fn login_cookie<U: UserLike, S: SessionStore + 'static>(
        sessions: SessionMiddleware<S>,
        user: &U,
        secret: &SecretKey,
    ) -> Result<Cookie<'static>, LoginCookieError> {
        SessionLogin::new(user, secret).cookie(sessions).await
    }

    /// A test login could not produce a session cookie.
    #[derive(Debug, thiserror::Error)]
    #[non_exhaustive]
    pub enum LoginCookieError {
        /// The login request failed with this status (the session store failed: 500, or 503).
        #[error("the test login failed with status {0}")]
        Failed(StatusCode),
        /// The session middleware set no cookie.
        #[error("the session middleware set no cookie")]
        NoCookie,
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;
    use crate::UserTokenExt as _;

    #[test]
    fn acting_as_puts_the_token_on_every_request_type() {
        let srv = TestRequest::get()
            .to_srv_request()
            .acting_as(TestUser::new("ann").with_scopes(["a"]));
        assert_eq!(
            srv.user_token().and_then(|t| t.id().map(|i| i.into_owned())).as_deref(),
            Some("ann")
        );
        let http = TestRequest::get().to_http_request().acting_as(UserToken::anonymous());
        assert!(http.user_token().is_some_and(|t| t.is_anonymous()));
        let req = TestRequest::get().to_request().acting_as(TestUser::new("bob"));
        assert!(
            req.extensions()
                .get::<UserToken>()
                .is_some_and(|t| t.has_all::<[&str; 0]>([]))
        );
    }

    #[test]
    fn test_user_debug_hides_secrets() {
        let user = TestUser::new("ann")
            .with_password_hash("secret-hash")
            .with_api_token("secret-token");
        let dbg = format!("{user:?}");
        assert!(dbg.contains("ann"), "{dbg}");
        assert!(!dbg.contains("secret"), "{dbg}");
    }

    #[test]
    fn test_user_defaults() {
        let user = TestUser::new("7");
        assert_eq!(user.display_name(), "7");
        assert_eq!(user.clone().with_username("u").display_name(), "u");
        assert!(user.is_active());
        assert!(!user.clone().inactive().is_active());
        assert_eq!(user.hashed_password(), "");
        assert_eq!(user.api_token(), None);
    }

    #[cfg(feature = "session")]
    #[actix_web::test]
    async fn a_failing_store_is_reported_not_a_panic() {
        use actix_session::{
            SessionMiddleware,
            storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError},
        };
        use actix_web::cookie::{Key, time::Duration};

        #[derive(Clone)]
        struct Down;
        type State = std::collections::HashMap<String, String>;
        impl SessionStore for Down {
            async fn load(&self, _: &SessionKey) -> Result<Option<State>, LoadError> {
                Err(LoadError::Other(anyhow::anyhow!("down")))
            }
            async fn save(&self, _: State, _: &Duration) -> Result<SessionKey, SaveError> {
                Err(SaveError::Other(anyhow::anyhow!("down")))
            }
            async fn update(&self, _: SessionKey, _: State, _: &Duration) -> Result<SessionKey, UpdateError> {
                Err(UpdateError::Other(anyhow::anyhow!("down")))
            }
            async fn update_ttl(&self, _: &SessionKey, _: &Duration) -> Result<(), anyhow::Error> {
                Err(anyhow::anyhow!("down"))
            }
            async fn delete(&self, _: &SessionKey) -> Result<(), anyhow::Error> {
                Err(anyhow::anyhow!("down"))
            }
        }
        let err = login_cookie(
            SessionMiddleware::new(Down, Key::generate()),
            &TestUser::new("ann"),
            &crate::SecretKey::generate(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, LoginCookieError::Failed(s) if s == 500), "{err:?}");
    }
}
