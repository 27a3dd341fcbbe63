//! The [`Authentication`] middleware.

use std::{error::Error as StdError, fmt, rc::Rc, sync::Arc};

use actix_web::{
    Error, HttpMessage as _, HttpRequest, ResponseError as _,
    body::{EitherBody, MessageBody},
    dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready},
    http::{Method, header},
};
use futures_util::future::{LocalBoxFuture, Ready, ready};

use crate::{
    authenticator::{DynAuthenticator, Outcome, RejectionKind},
    error::AuthError,
    token::UserToken,
};

mod builder;
pub(crate) mod paths;
mod policy;

pub(crate) use self::policy::Policy;
pub use self::{
    builder::{AuthenticationBuilder, IntoAuthenticators},
    paths::PathPattern,
    policy::{Fallback, OnRejected},
};
use paths::Protection;

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
    /// with every other setting at its default: all paths covered, [`Fallback::Anonymous`],
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
        AuthenticationBuilder::new()
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
        Outcome::Authenticated(token) | Outcome::Remembered(token) | Outcome::SecondFactor(token) => return Ok(token),
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
        Fallback::Anonymous => Ok(()),
        Fallback::Error => Err(AuthError::Unauthenticated(config.policy.challenge())),
        Fallback::Redirect => Err(AuthError::Unauthenticated(config.policy.denial(req))),
    }
}

/// Whether `req` went through the fallback only as a preflight: a covered path, a fallback that
/// would have refused it, and not the login page.
fn exempt_preflight(config: &Config, req: &HttpRequest) -> bool {
    config.allow_preflight
        && is_preflight(req)
        && config.fallback != Fallback::Anonymous
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
        error::ConfigError,
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
                .login_url(bad)
                .fallback(Fallback::Redirect)
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
            .login_url("/login?lang=en")
            .fallback(Fallback::Redirect)
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
            .login_url("/login")
            .fallback(Fallback::Redirect)
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
