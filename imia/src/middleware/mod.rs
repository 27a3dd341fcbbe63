//! The [`Authentication`] middleware.

use std::{error::Error as StdError, fmt, rc::Rc, sync::Arc};

use actix_web::{
    Error, HttpMessage as _, HttpRequest, ResponseError as _,
    body::{EitherBody, MessageBody},
    dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready},
    http::{
        Method,
        header::{self, HeaderValue},
    },
};
use futures_util::future::{LocalBoxFuture, Ready, ready};

use crate::{
    authenticator::{Authenticator, DynAuthenticator, Outcome, RejectionKind},
    error::{AuthError, ConfigError, Denial},
    redirect,
    token::UserToken,
};

pub(crate) mod paths;

pub use paths::PathPattern;
use paths::Protection;

/// What the middleware does when nobody authenticated on a protected path.
///
/// # Examples
///
/// ```
/// use std::borrow::Cow;
/// use actix_web::{App, test, web};
/// use imia::{Authentication, Fallback, UserLike, authenticator::TokenAuthenticator, provider::InMemoryProvider};
///
/// #[derive(Clone)]
/// struct User;
/// impl UserLike for User {
///     fn id(&self) -> Cow<'_, str> { "u".into() }
/// }
///
/// # actix_rt::System::new().block_on(async {
/// let users = InMemoryProvider::new([User]);
/// for (fallback, status) in [(Fallback::Nothing, 200), (Fallback::Error, 401)] {
///     let auth = Authentication::builder()
///         .authenticator(TokenAuthenticator::bearer(users.clone()))
///         .fallback(fallback)
///         .build()
///         .unwrap();
///     let app = test::init_service(App::new().wrap(auth).route("/", web::get().to(|| async { "hi" }))).await;
///     let resp = test::call_service(&app, test::TestRequest::get().to_request()).await;
///     assert_eq!(resp.status(), status);
/// }
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Fallback {
    /// Let the request through as anonymous; handlers decide (with [`CurrentUser`](crate::CurrentUser)
    /// or `#[protected]`). The default, as in the original library.
    #[default]
    Nothing,
    /// Answer 401 with a `WWW-Authenticate` challenge from every authenticator that has one.
    Error,
    /// Redirect browsers to the login URL with a relative `next` (303 See Other); API clients
    /// (an `Authorization` header, or `Accept` with JSON but not HTML) get the 401 instead.
    Redirect,
}

/// What the middleware does when an authenticator rejects the credentials it found.
///
/// # Examples
///
/// ```
/// use std::borrow::Cow;
/// use actix_web::{App, test, web};
/// use imia::{Authentication, OnRejected, UserLike, authenticator::TokenAuthenticator, provider::InMemoryProvider};
///
/// #[derive(Clone)]
/// struct User;
/// impl UserLike for User {
///     fn id(&self) -> Cow<'_, str> { "u".into() }
/// }
///
/// # actix_rt::System::new().block_on(async {
/// let users = InMemoryProvider::new([User]);
/// for (on_rejected, status) in [(OnRejected::Respond, 401), (OnRejected::Anonymous, 200)] {
///     let auth = Authentication::builder()
///         .authenticator(TokenAuthenticator::bearer(users.clone()))
///         .on_rejected(on_rejected)
///         .build()
///         .unwrap();
///     let app = test::init_service(App::new().wrap(auth).route("/", web::get().to(|| async { "hi" }))).await;
///     let req = test::TestRequest::get().insert_header(("Authorization", "Bearer unknown-token")).to_request();
///     assert_eq!(test::call_service(&app, req).await.status(), status);
/// }
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OnRejected {
    /// Answer at once: 400 for malformed credentials, 401 with challenges for invalid ones. The
    /// chain never falls through to weaker credentials. The default.
    #[default]
    Respond,
    /// Treat the request as anonymous (what the original library did); the [`Fallback`] then
    /// applies.
    Anonymous,
}

/// How "please authenticate" is answered: shared by the middleware, the extractors and
/// `#[protected]`, and put on every request the middleware sees.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    login_url: Option<String>,
    challenges: Arc<[HeaderValue]>,
}

impl Policy {
    /// The denial for an anonymous request: a redirect for browsers when a login URL is set,
    /// else a 401 with challenges.
    pub(crate) fn denial(&self, req: &HttpRequest) -> Denial {
        match &self.login_url {
            Some(url) if !redirect::is_api_client(req) => Denial::redirect(redirect::location(url, req)),
            _ => self.challenge(),
        }
    }

    pub(crate) fn challenge(&self) -> Denial {
        Denial::challenge_shared(Arc::clone(&self.challenges))
    }

    /// The policy on a request, or a bare 401 when the middleware did not run.
    pub(crate) fn of(req: &HttpRequest) -> Arc<Policy> {
        req.extensions().get::<Arc<Policy>>().cloned().unwrap_or_else(|| {
            Arc::new(Policy {
                login_url: None,
                challenges: Arc::from([]),
            })
        })
    }
}

struct Config {
    authenticators: Vec<Box<dyn DynAuthenticator>>,
    protection: Protection,
    fallback: Fallback,
    on_rejected: OnRejected,
    allow_preflight: bool,
    login_path: Option<String>,
    policy: Arc<Policy>,
}

/// Authenticates every request and puts a [`UserToken`] on it.
///
/// Wrap it around an app or a scope. For each request it:
/// 1. decides whether the path is covered (all paths, or include/exclude patterns matched
///    against the decoded path the router dispatches on);
/// 2. runs the authenticators in order until one finds a user (first one wins) or rejects the
///    credentials it found (the chain then stops: see [`OnRejected`]);
/// 3. always inserts a [`UserToken`] (anonymous when nobody authenticated or the path is not
///    covered);
/// 4. when nobody authenticated on a covered path, applies the [`Fallback`].
///
/// A provider or store failure fails closed: an opaque 500 (503 when the store is unavailable),
/// never anonymous access.
///
/// With actix-session, wrap `Authentication` first and `SessionMiddleware` after it, so that the
/// session is loaded before authentication runs (the last `.wrap()` is the outermost).
///
/// # Examples
///
/// ```
/// use std::borrow::Cow;
/// use actix_web::{App, HttpResponse, web};
/// use imia::{
///     Authentication, CurrentUser, Fallback, UserLike,
///     authenticator::{ApiKeyAuthenticator, TokenAuthenticator},
///     provider::InMemoryProvider,
/// };
///
/// #[derive(Clone)]
/// struct User { id: &'static str, token: &'static str }
/// impl UserLike for User {
///     fn id(&self) -> Cow<'_, str> { self.id.into() }
///     fn api_token(&self) -> Option<&str> { Some(self.token) }
/// }
///
/// async fn me(user: CurrentUser<User>) -> HttpResponse {
///     HttpResponse::Ok().body(user.id)
/// }
///
/// # actix_rt::System::new().block_on(async {
/// let users = InMemoryProvider::new([User { id: "ann", token: "t-ann" }]);
/// let auth = Authentication::builder()
///     .authenticators((TokenAuthenticator::bearer(users.clone()), ApiKeyAuthenticator::new(users)))
///     .include("/api")
///     .fallback(Fallback::Error)
///     .build()
///     .expect("a valid configuration");
///
/// let app = actix_web::test::init_service(
///     App::new().wrap(auth).route("/api/me", web::get().to(me)),
/// )
/// .await;
/// let req = actix_web::test::TestRequest::get()
///     .uri("/api/me")
///     .insert_header(("Authorization", "Bearer t-ann"))
///     .to_request();
/// let resp = actix_web::test::call_service(&app, req).await;
/// assert_eq!(resp.status(), 200);
///
/// let anonymous = actix_web::test::TestRequest::get().uri("/api/me").to_request();
/// let resp = actix_web::test::call_service(&app, anonymous).await;
/// assert_eq!(resp.status(), 401);
/// assert_eq!(resp.headers().get("www-authenticate").unwrap(), "Bearer");
/// # });
/// ```
#[derive(Clone)]
pub struct Authentication {
    config: Arc<Config>,
}

impl Authentication {
    /// Authenticates with `authenticators` (one, or a tuple of up to eight, tried in order),
    /// with every other setting at its default: all paths covered, [`Fallback::Nothing`],
    /// [`OnRejected::Respond`].
    pub fn new(authenticators: impl IntoAuthenticators) -> Self {
        let mut builder = Self::builder();
        builder.authenticators = authenticators.into_authenticators().0;
        // Only the authenticator list can make a default configuration invalid, and an empty
        // list is impossible through `IntoAuthenticators`.
        builder.build_config()
    }

    /// Starts a builder for the other settings.
    pub fn builder() -> AuthenticationBuilder {
        AuthenticationBuilder {
            authenticators: Vec::new(),
            include: Vec::new(),
            exclude: Vec::new(),
            fallback: Fallback::Nothing,
            on_rejected: OnRejected::Respond,
            login_url: None,
            allow_preflight: false,
        }
    }
}

impl fmt::Debug for Authentication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self.config.authenticators.iter().map(|a| a.name()).collect();
        f.debug_struct("Authentication")
            .field("authenticators", &names)
            .field("protection", &self.config.protection)
            .field("fallback", &self.config.fallback)
            .field("on_rejected", &self.config.on_rejected)
            .field("login_url", &self.config.policy.login_url)
            .field("allow_preflight", &self.config.allow_preflight)
            .finish()
    }
}

/// One authenticator, or a tuple of them, for [`Authentication::new`] and
/// [`AuthenticationBuilder::authenticators`].
///
/// # Examples
///
/// One chain for two middlewares (pages with a login redirect, an API with 401s), built once:
///
/// ```
/// use std::borrow::Cow;
/// use imia::{
///     Authentication, Fallback, IntoAuthenticators, UserLike,
///     authenticator::{ApiKeyAuthenticator, TokenAuthenticator},
///     provider::InMemoryProvider,
/// };
///
/// #[derive(Clone)]
/// struct User;
/// impl UserLike for User {
///     fn id(&self) -> Cow<'_, str> { "u".into() }
/// }
///
/// fn chain(users: &InMemoryProvider<User>) -> impl IntoAuthenticators + use<> {
///     (TokenAuthenticator::bearer(users.clone()), ApiKeyAuthenticator::new(users.clone()))
/// }
///
/// let users = InMemoryProvider::new([User]);
/// let pages = Authentication::builder().authenticators(chain(&users)).login_url("/login").build().unwrap();
/// let api = Authentication::builder().authenticators(chain(&users)).fallback(Fallback::Error).build().unwrap();
/// # let _ = (pages, api);
/// ```
pub trait IntoAuthenticators {
    #[doc(hidden)]
    fn into_authenticators(self) -> Chain;
}

/// Authenticators in chain order (an implementation detail of [`IntoAuthenticators`]).
#[doc(hidden)]
pub struct Chain(Vec<Box<dyn DynAuthenticator>>);

impl fmt::Debug for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter().map(|a| a.name())).finish()
    }
}

impl<A: Authenticator> IntoAuthenticators for A {
    fn into_authenticators(self) -> Chain {
        Chain(vec![Box::new(self)])
    }
}

macro_rules! tuple_authenticators {
    ($($name:ident)+) => {
        impl<$($name: Authenticator),+> IntoAuthenticators for ($($name,)+) {
            #[allow(non_snake_case)]
            fn into_authenticators(self) -> Chain {
                let ($($name,)+) = self;
                Chain(vec![$(Box::new($name)),+])
            }
        }
    };
}

tuple_authenticators!(A);
tuple_authenticators!(A B);
tuple_authenticators!(A B C);
tuple_authenticators!(A B C D);
tuple_authenticators!(A B C D E);
tuple_authenticators!(A B C D E F);
tuple_authenticators!(A B C D E F G);
tuple_authenticators!(A B C D E F G H);

/// Builds an [`Authentication`] middleware. Every setter documents its default.
///
/// # Examples
///
/// ```
/// use std::borrow::Cow;
/// use imia::{
///     Authentication, PathPattern, UserLike,
///     authenticator::{ApiKeyAuthenticator, SessionAuthenticator},
///     error::ConfigError,
///     provider::InMemoryProvider,
///     SecretKey,
/// };
///
/// #[derive(Clone)]
/// struct User;
/// impl UserLike for User {
///     fn id(&self) -> Cow<'_, str> { "u".into() }
/// }
///
/// let users = InMemoryProvider::new([User]);
/// let pages = Authentication::builder()
///     .authenticator(SessionAuthenticator::new(users.clone(), SecretKey::generate()))
///     .authenticator(ApiKeyAuthenticator::new(users.clone()))
///     .exclude("/static")
///     .exclude(PathPattern::exact("/health"))
///     .redirect_to("/login") // anonymous browsers go to the login page
///     .build()
///     .unwrap();
/// # let _ = pages;
///
/// let both = Authentication::builder()
///     .authenticator(ApiKeyAuthenticator::new(users))
///     .include("/api")
///     .exclude("/api/public")
///     .build();
/// assert!(matches!(both, Err(ConfigError::IncludeAndExclude)));
/// ```
#[must_use]
pub struct AuthenticationBuilder {
    authenticators: Vec<Box<dyn DynAuthenticator>>,
    include: Vec<PathPattern>,
    exclude: Vec<PathPattern>,
    fallback: Fallback,
    on_rejected: OnRejected,
    login_url: Option<String>,
    allow_preflight: bool,
}

impl fmt::Debug for AuthenticationBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthenticationBuilder")
            .field("authenticators", &self.authenticators.len())
            .field("include", &self.include)
            .field("exclude", &self.exclude)
            .field("fallback", &self.fallback)
            .field("on_rejected", &self.on_rejected)
            .field("login_url", &self.login_url)
            .field("allow_preflight", &self.allow_preflight)
            .finish()
    }
}

impl AuthenticationBuilder {
    /// Appends one authenticator to the chain (tried after those added before it).
    pub fn authenticator(mut self, authenticator: impl Authenticator) -> Self {
        self.authenticators.push(Box::new(authenticator));
        self
    }

    /// Appends authenticators (one, or a tuple tried in order) to the chain.
    pub fn authenticators(mut self, authenticators: impl IntoAuthenticators) -> Self {
        self.authenticators.extend(authenticators.into_authenticators().0);
        self
    }

    /// Covers only paths matching this pattern (call again for more). A `&str` is a
    /// segment-aware prefix starting with `/`, compared literally; see [`PathPattern`]. Default:
    /// every path is covered. Exclusive with [`exclude`](Self::exclude).
    pub fn include(mut self, pattern: impl Into<PathPattern>) -> Self {
        self.include.push(pattern.into());
        self
    }

    /// Covers every path except those matching this pattern (call again for more). Paths the
    /// router could read differently (encoded slashes, dot segments, `;`) are never excluded.
    /// A `&str` is a prefix starting with `/`, as for [`include`](Self::include). Exclusive with
    /// [`include`](Self::include).
    pub fn exclude(mut self, pattern: impl Into<PathPattern>) -> Self {
        self.exclude.push(pattern.into());
        self
    }

    /// What to do when nobody authenticated on a covered path. Default: [`Fallback::Nothing`].
    pub fn fallback(mut self, fallback: Fallback) -> Self {
        self.fallback = fallback;
        self
    }

    /// What to do with rejected credentials. Default: [`OnRejected::Respond`].
    pub fn on_rejected(mut self, on_rejected: OnRejected) -> Self {
        self.on_rejected = on_rejected;
        self
    }

    /// The login page (a local path, may carry a query). When set, browsers that must
    /// authenticate are redirected there with `next` (by the middleware under
    /// [`Fallback::Redirect`], and by [`CurrentUser`](crate::CurrentUser) and `#[protected]`
    /// under any fallback); the login page itself is never redirected. Default: none.
    pub fn login_url(mut self, url: impl Into<String>) -> Self {
        self.login_url = Some(url.into());
        self
    }

    /// Shorthand for `.login_url(url).fallback(Fallback::Redirect)`.
    pub fn redirect_to(self, url: impl Into<String>) -> Self {
        self.login_url(url).fallback(Fallback::Redirect)
    }

    /// Lets CORS preflight requests (`OPTIONS` with `Access-Control-Request-Method`, which never
    /// carry credentials) through the fallback, for a CORS layer wrapped inside this middleware
    /// to answer. Default: `false`.
    ///
    /// Anyone can send such a request, so only a CORS answer (one that carries
    /// `Access-Control-Allow-Origin`) is let out: when a handler that takes every method
    /// answers instead, its response is replaced by the fallback's 401. Such a handler still
    /// runs; prefer wrapping the CORS layer outside `Authentication`, so that preflights never
    /// reach it.
    pub fn allow_preflight(mut self, allow: bool) -> Self {
        self.allow_preflight = allow;
        self
    }

    /// Checks the configuration and builds the middleware.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when no authenticator was given, both include and exclude patterns were
    /// given, a pattern cannot be a path ([`ConfigError::InvalidPattern`]: a prefix or exact
    /// path without its leading `/`, a prefix holding regular-expression characters, as in
    /// `"app2"` or `"^/admin"`), [`Fallback::Redirect`] has no login URL, or the login URL is not
    /// a local path.
    ///
    /// ```
    /// # use std::borrow::Cow;
    /// use imia::{Authentication, UserLike, authenticator::ApiKeyAuthenticator, error::ConfigError, provider::InMemoryProvider};
    /// # #[derive(Clone)]
    /// # struct User;
    /// # impl UserLike for User {
    /// #     fn id(&self) -> Cow<'_, str> { "u".into() }
    /// # }
    /// let users = InMemoryProvider::new([User]);
    /// for pattern in ["app2", "^/admin"] {
    ///     let err = Authentication::builder()
    ///         .authenticator(ApiKeyAuthenticator::new(users.clone()))
    ///         .include(pattern)
    ///         .build()
    ///         .unwrap_err();
    ///     assert!(matches!(err, ConfigError::InvalidPattern { .. }));
    /// }
    /// ```
    pub fn build(self) -> Result<Authentication, ConfigError> {
        if self.authenticators.is_empty() {
            return Err(ConfigError::NoAuthenticator);
        }
        if !self.include.is_empty() && !self.exclude.is_empty() {
            return Err(ConfigError::IncludeAndExclude);
        }
        for pattern in self.include.iter().chain(&self.exclude) {
            pattern.check_is_path()?;
        }
        if self.fallback == Fallback::Redirect && self.login_url.is_none() {
            return Err(ConfigError::MissingLoginUrl);
        }
        if let Some(url) = &self.login_url
            && (redirect::safe_next(url).is_none() || HeaderValue::from_str(url).is_err())
        {
            return Err(ConfigError::InvalidLoginUrl(url.clone()));
        }
        Ok(self.build_config())
    }

    fn build_config(self) -> Authentication {
        let protection = if !self.include.is_empty() {
            Protection::Include(self.include)
        } else if !self.exclude.is_empty() {
            Protection::Exclude(self.exclude)
        } else {
            Protection::All
        };
        let challenges: Vec<HeaderValue> = self
            .authenticators
            .iter()
            .filter_map(|a| a.challenge_dyn())
            .map(|c| c.header_value().clone())
            .fold(Vec::new(), |mut acc, c| {
                if !acc.contains(&c) {
                    acc.push(c);
                }
                acc
            });
        let login_path = self
            .login_url
            .as_deref()
            .map(|u| u.split(['?', '#']).next().unwrap_or(u).to_owned());
        let authenticators = self.authenticators;
        Authentication {
            config: Arc::new(Config {
                authenticators,
                protection,
                fallback: self.fallback,
                on_rejected: self.on_rejected,
                allow_preflight: self.allow_preflight,
                login_path,
                policy: Arc::new(Policy {
                    login_url: self.login_url,
                    challenges: challenges.into(),
                }),
            }),
        }
    }
}

impl<S, B> Transform<S, ServiceRequest> for Authentication
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = AuthenticationMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(AuthenticationMiddleware {
            service: Rc::new(service),
            config: Arc::clone(&self.config),
        }))
    }
}

/// The service behind [`Authentication`].
#[doc(hidden)]
pub struct AuthenticationMiddleware<S> {
    service: Rc<S>,
    config: Arc<Config>,
}

impl<S> fmt::Debug for AuthenticationMiddleware<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthenticationMiddleware").finish_non_exhaustive()
    }
}

impl<S, B> Service<ServiceRequest> for AuthenticationMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let config = Arc::clone(&self.config);
        Box::pin(async move {
            match authenticate_request(&config, req.request()).await {
                Ok(token) => {
                    let preflight = token.is_anonymous() && exempt_preflight(&config, req.request());
                    {
                        let mut ext = req.extensions_mut();
                        ext.insert(token);
                        ext.insert(Arc::clone(&config.policy));
                    }
                    let mut res = service.call(req).await?;
                    if preflight && !res.headers().contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
                        // No CORS layer answered the preflight, a handler did: the fallback
                        // applies after all, and the handler's answer is dropped.
                        let err = AuthError::Unauthenticated(config.policy.challenge());
                        log_error(&err);
                        let res = ServiceResponse::new(res.request().clone(), err.error_response());
                        return Ok(res.map_into_right_body());
                    }
                    set_queued_cookies(&mut res);
                    Ok(res.map_into_left_body())
                }
                Err(err) => {
                    log_error(&err);
                    // Downstream extractors still find an identity if anything inspects it.
                    req.extensions_mut().insert(UserToken::anonymous());
                    let mut res = req.error_response(err);
                    set_queued_cookies(&mut res);
                    Ok(res.map_into_right_body())
                }
            }
        })
    }
}

/// Adds the cookies that authenticators and handlers queued (see `crate::cookies`).
fn set_queued_cookies<B>(res: &mut ServiceResponse<B>) {
    let cookies = crate::cookies::take(&mut res.request().extensions_mut());
    for cookie in cookies {
        if let Err(err) = res.response_mut().add_cookie(&cookie) {
            tracing::error!(error.display = %err, cookie = cookie.name(), "could not set a cookie");
        }
    }
}

/// Resolves the identity of `req` under `config`: the token to insert, or the answer to give.
async fn authenticate_request(config: &Config, req: &HttpRequest) -> Result<UserToken, AuthError> {
    if !config.protection.covers(req.path(), req.match_info().as_str()) {
        return Ok(UserToken::anonymous());
    }
    match run_chain(&config.authenticators, req).await? {
        Outcome::Authenticated(token) | Outcome::Remembered(token) => return Ok(token),
        Outcome::Rejected(rejection) => {
            tracing::debug!(reason = rejection.reason(), "credentials rejected");
            match (config.on_rejected, rejection.kind()) {
                (OnRejected::Anonymous, _) => {}
                (_, RejectionKind::Malformed) => return Err(AuthError::Malformed),
                (_, _) => return Err(AuthError::Unauthenticated(config.policy.challenge())),
            }
        }
        Outcome::NoCredentials => {}
    }
    apply_fallback(config, req).map(|()| UserToken::anonymous())
}

/// Runs the authenticators in order: the first that authenticates or rejects decides.
async fn run_chain(chain: &[Box<dyn DynAuthenticator>], req: &HttpRequest) -> Result<Outcome<UserToken>, AuthError> {
    for authenticator in chain {
        match authenticator.authenticate_dyn(req).await? {
            Outcome::NoCredentials => continue,
            decided => return Ok(decided),
        }
    }
    Ok(Outcome::NoCredentials)
}

/// What happens to an anonymous request on a covered path.
fn apply_fallback(config: &Config, req: &HttpRequest) -> Result<(), AuthError> {
    let exempt = (config.allow_preflight && is_preflight(req))
        || config.login_path.as_deref() == Some(req.match_info().as_str());
    match config.fallback {
        _ if exempt => Ok(()),
        Fallback::Nothing => Ok(()),
        Fallback::Error => Err(AuthError::Unauthenticated(config.policy.challenge())),
        Fallback::Redirect => Err(AuthError::Unauthenticated(config.policy.denial(req))),
    }
}

/// Whether `req` went through the fallback only as a preflight: a covered path, a fallback that
/// would have refused it, and not the login page.
fn exempt_preflight(config: &Config, req: &HttpRequest) -> bool {
    config.allow_preflight
        && is_preflight(req)
        && config.fallback != Fallback::Nothing
        && config.login_path.as_deref() != Some(req.match_info().as_str())
        && config.protection.covers(req.path(), req.match_info().as_str())
}

fn is_preflight(req: &HttpRequest) -> bool {
    req.method() == Method::OPTIONS && req.headers().contains_key("access-control-request-method")
}

/// Logs failures with their causes (never credentials: errors carry none).
pub(crate) fn log_error(err: &AuthError) {
    if err.is_server_error() {
        let mut causes = String::new();
        let mut source = StdError::source(err);
        while let Some(cause) = source {
            causes.push_str(": ");
            causes.push_str(&cause.to_string());
            source = cause.source();
        }
        tracing::error!(error.display = %err, error.causes = %causes, "authentication failed on the server side");
    } else {
        tracing::debug!(error.display = %err, "authentication denied");
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use actix_web::test::TestRequest;

    use super::*;
    use crate::{
        UserLike,
        authenticator::{ApiKeyAuthenticator, BasicAuthenticator, TokenAuthenticator},
        password::InsecurePlaintextVerifier,
        provider::InMemoryProvider,
    };

    #[derive(Clone)]
    struct U;
    impl UserLike for U {
        fn id(&self) -> Cow<'_, str> {
            "u".into()
        }
    }

    fn users() -> InMemoryProvider<U> {
        InMemoryProvider::new([U])
    }

    #[test]
    fn builder_rejects_impossible_configurations() {
        assert!(matches!(
            Authentication::builder().build(),
            Err(ConfigError::NoAuthenticator)
        ));
        let both = Authentication::builder()
            .authenticator(ApiKeyAuthenticator::new(users()))
            .include("/a")
            .exclude("/b")
            .build();
        assert!(matches!(both, Err(ConfigError::IncludeAndExclude)));
        let redirect = Authentication::builder()
            .authenticator(ApiKeyAuthenticator::new(users()))
            .fallback(Fallback::Redirect)
            .build();
        assert!(matches!(redirect, Err(ConfigError::MissingLoginUrl)));
        let patterns: [(bool, PathPattern); 5] = [
            (true, "app2".into()),
            (false, "^/admin".into()),
            (true, PathPattern::exact("login")),
            (false, "".into()),
            (true, r"/users/\d+".into()),
        ];
        for (include, pattern) in patterns {
            let builder = Authentication::builder().authenticator(ApiKeyAuthenticator::new(users()));
            let builder = if include {
                builder.include("/fine").include(pattern.clone())
            } else {
                builder.exclude("/fine").exclude(pattern.clone())
            };
            assert!(
                matches!(builder.build(), Err(ConfigError::InvalidPattern { .. })),
                "{pattern:?}"
            );
        }
        for bad in ["https://evil.example/login", "//evil.example", "login"] {
            let r = Authentication::builder()
                .authenticator(ApiKeyAuthenticator::new(users()))
                .redirect_to(bad)
                .build();
            assert!(matches!(r, Err(ConfigError::InvalidLoginUrl(_))), "{bad}");
        }
    }

    #[test]
    fn challenges_are_collected_once_in_chain_order() {
        let auth = Authentication::new((
            ApiKeyAuthenticator::new(users()),
            BasicAuthenticator::new(users(), InsecurePlaintextVerifier),
            TokenAuthenticator::bearer(users()),
            TokenAuthenticator::bearer(users()),
        ));
        let c: Vec<_> = auth
            .config
            .policy
            .challenges
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(c, ["Basic realm=\"Protected access\"", "Bearer"]);
        assert_eq!(auth.config.authenticators.len(), 4);
    }

    #[test]
    fn fallback_exempts_the_login_page_and_preflight() {
        let auth = Authentication::builder()
            .authenticator(ApiKeyAuthenticator::new(users()))
            .redirect_to("/login?lang=en")
            .allow_preflight(true)
            .build()
            .unwrap();
        let login = TestRequest::get().uri("/login?next=%2F").to_http_request();
        assert!(apply_fallback(&auth.config, &login).is_ok());
        let preflight = TestRequest::default()
            .method(Method::OPTIONS)
            .uri("/app")
            .insert_header(("Access-Control-Request-Method", "POST"))
            .to_http_request();
        assert!(apply_fallback(&auth.config, &preflight).is_ok());
        let app = TestRequest::get().uri("/app").to_http_request();
        let Err(AuthError::Unauthenticated(denial)) = apply_fallback(&auth.config, &app) else {
            panic!("anonymous /app must be denied");
        };
        assert!(denial.is_redirect());
    }

    #[test]
    fn redirect_fallback_gives_api_clients_a_401() {
        let auth = Authentication::builder()
            .authenticator(ApiKeyAuthenticator::new(users()))
            .redirect_to("/login")
            .build()
            .unwrap();
        let api = TestRequest::get()
            .uri("/app")
            .insert_header(("Accept", "application/json"))
            .to_http_request();
        let Err(AuthError::Unauthenticated(denial)) = apply_fallback(&auth.config, &api) else {
            panic!("anonymous /app must be denied");
        };
        assert!(!denial.is_redirect());
    }

    #[test]
    fn middleware_config_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<Authentication>();
    }
}
