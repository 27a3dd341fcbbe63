//! User impersonation: support staff acting as a user, with a permission policy and an audit
//! trail.
//!
//! - Only an authenticated *real* user (never anonymous, never while already impersonating, and
//!   with [`require_fresh`](Impersonation::require_fresh) never from a remember-me session) who
//!   holds the impersonation scope (default `auth:impersonate_others`) may impersonate; an
//!   optional async [guard](ImpersonationGuard) may add conditions but never replaces that.
//! - A [policy](ImpersonationPolicy) decides who may impersonate whom. The default refuses
//!   inactive targets, targets holding the impersonation scope themselves, targets whose scopes
//!   are not a subset of the impersonator's, and oneself.
//! - While impersonating, the token's state is
//!   [`Impersonated`](crate::LoginState::Impersonated); its user, id, name and scopes are the
//!   target's; [`UserToken::original`] is the real user. Nesting is impossible.
//! - **Stateful** (a session is present): [`Impersonation::start`] and [`stop`] are meant for POST
//!   handlers behind CSRF protection; the session stores the target bound to the real user's id
//!   (a value for another user is ignored and removed); starting and stopping renew the session
//!   id; logout ends it; the permission is re-checked on every request, and the impersonation
//!   ends the moment it is gone.
//! - **Stateless**, compatible with the original library and opt-in
//!   ([`stateless`](Impersonation::stateless)): `?_impersonate=<id>` acts for that request only;
//!   `?_impersonate=__exit__` ends a stateful impersonation. A refused attempt continues as the
//!   real user.
//! - Every start, stop and refusal is a `tracing` event (target `imia::impersonation`) with both
//!   ids.
//!
//! Wrap [`Impersonation`] *inside* [`Authentication`](crate::Authentication): `.wrap(impersonation)`
//! before `.wrap(authentication)`.

use std::{fmt, future::Future, rc::Rc, sync::Arc};

use actix_session::SessionExt as _;
use actix_web::{
    Error, HttpMessage as _, HttpRequest, HttpResponse, ResponseError,
    dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready},
    http::StatusCode,
};
use futures_util::future::{LocalBoxFuture, Ready, ready};

use crate::{UserLike, UserToken, UserTokenExt as _, error::ProviderError, provider::UserProvider};

/// The session key that holds the impersonation: `_impersonated_user_id`.
pub const IMPERSONATION_SESSION_KEY: &str = crate::session_state::IMPERSONATION_KEY;
/// The scope that allows impersonating unless configured: `auth:impersonate_others`.
pub const DEFAULT_SCOPE: &str = "auth:impersonate_others";
/// The stateless query parameter unless configured: `_impersonate`.
pub const DEFAULT_QUERY_PARAM: &str = "_impersonate";
/// The query value that ends a stateful impersonation: `__exit__`.
pub const EXIT_VALUE: &str = "__exit__";

/// Decides whether `impersonator` may act as `target`.
///
/// It is asked only about impersonators who hold the impersonation scope: a policy can narrow
/// who may be impersonated, never widen who may impersonate.
///
/// # Examples
///
/// ```
/// use imia::{UserLike, impersonation::{Impersonation, ImpersonationPolicy}, provider::InMemoryProvider};
///
/// #[derive(Clone, UserLike)]
/// struct User { id: u32, scopes: Vec<String> }
///
/// /// Support may act only as customers: active users without any scope.
/// struct CustomersOnly;
///
/// impl ImpersonationPolicy for CustomersOnly {
///     fn allows(&self, impersonator: &dyn UserLike, target: &dyn UserLike, _scope: &str) -> bool {
///         target.is_active() && target.id() != impersonator.id() && target.scopes().is_empty()
///     }
/// }
///
/// let users = InMemoryProvider::new(Vec::<User>::new());
/// let impersonation = Impersonation::new(users).policy(CustomersOnly);
/// # let _ = impersonation;
/// ```
pub trait ImpersonationPolicy: Send + Sync + 'static {
    /// Whether the impersonation is allowed. `scope` is the impersonation scope.
    fn allows(&self, impersonator: &dyn UserLike, target: &dyn UserLike, scope: &str) -> bool;
}

/// The default policy: the target is active, is not the impersonator, does not hold the
/// impersonation scope, and holds no scope the impersonator lacks.
///
/// # Examples
///
/// ```
/// use imia::{UserLike, impersonation::{DEFAULT_SCOPE, DefaultPolicy, ImpersonationPolicy}};
///
/// #[derive(UserLike)]
/// struct User { id: u32, scopes: Vec<String> }
///
/// let staff = User { id: 1, scopes: vec![DEFAULT_SCOPE.into(), "orders:read".into()] };
/// let customer = User { id: 2, scopes: vec!["orders:read".into()] };
/// let admin = User { id: 3, scopes: vec!["admin".into()] };
/// assert!(DefaultPolicy.allows(&staff, &customer, DEFAULT_SCOPE));
/// assert!(!DefaultPolicy.allows(&staff, &admin, DEFAULT_SCOPE)); // a scope staff lacks
/// assert!(!DefaultPolicy.allows(&staff, &staff, DEFAULT_SCOPE)); // oneself
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultPolicy;

impl ImpersonationPolicy for DefaultPolicy {
    fn allows(&self, impersonator: &dyn UserLike, target: &dyn UserLike, scope: &str) -> bool {
        target.is_active()
            && target.id() != impersonator.id()
            && !target.has_scope(scope)
            && target.scopes().iter().all(|s| impersonator.has_scope(s))
    }
}

/// An extra, async condition on the real user before any impersonation (office hours, a
/// second factor). It can only refuse more: the scope is required anyway.
///
/// # Examples
///
/// ```
/// use actix_web::HttpRequest;
/// use imia::{UserLike, UserToken, impersonation::{Impersonation, ImpersonationGuard}, provider::InMemoryProvider};
///
/// #[derive(Clone, UserLike)]
/// struct User { id: u32 }
///
/// /// Only from the office network (the proxy in front sets `X-Office: 1`).
/// struct FromTheOffice;
///
/// impl ImpersonationGuard for FromTheOffice {
///     async fn allow(&self, req: &HttpRequest, _real: &UserToken) -> bool {
///         req.headers().get("x-office").is_some_and(|v| v == "1")
///     }
/// }
///
/// let impersonation = Impersonation::new(InMemoryProvider::new(Vec::<User>::new())).guard(FromTheOffice);
/// # let _ = impersonation;
/// ```
pub trait ImpersonationGuard: Send + Sync + 'static {
    /// Whether `real` may impersonate at all on this request.
    fn allow(&self, req: &HttpRequest, real: &UserToken) -> impl Future<Output = bool>;
}

trait DynGuard: Send + Sync {
    fn allow_dyn<'a>(&'a self, req: &'a HttpRequest, real: &'a UserToken) -> LocalBoxFuture<'a, bool>;
}

impl<G: ImpersonationGuard> DynGuard for G {
    fn allow_dyn<'a>(&'a self, req: &'a HttpRequest, real: &'a UserToken) -> LocalBoxFuture<'a, bool> {
        Box::pin(self.allow(req, real))
    }
}

/// An explicit impersonation request was refused.
///
/// # Examples
///
/// ```
/// use actix_web::ResponseError;
/// use imia::impersonation::ImpersonationError;
///
/// let refused = ImpersonationError::Refused;
/// assert_eq!(refused.status_code(), 403); // the same for unknown and forbidden targets
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImpersonationError {
    /// Not permitted, or no such target: the same answer either way (403), so that nothing
    /// reveals whether an id exists.
    #[error("impersonation refused")]
    Refused,
    /// The user store failed (500/503).
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The session could not store the impersonation (500).
    #[error("the session could not store the impersonation")]
    Session,
}

impl ResponseError for ImpersonationError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Refused => StatusCode::FORBIDDEN,
            Self::Provider(err) => err.status(),
            Self::Session => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::new(self.status_code())
    }
}

/// What the session stores: the real user's id and the target's.
#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    original: String,
    target: String,
}

/// Impersonation middleware and API; see the [module docs](self). Cloning shares it.
///
/// # Examples
///
/// ```
/// use actix_web::{App, HttpRequest, HttpResponse, web};
/// use imia::{UserLike, impersonation::Impersonation, provider::InMemoryProvider};
///
/// #[derive(Clone, UserLike)]
/// struct User { id: u32, scopes: Vec<String> }
///
/// type Users = InMemoryProvider<User>;
///
/// async fn start(req: HttpRequest, imp: web::Data<Impersonation<Users>>, form: web::Form<Vec<(String, String)>>) -> HttpResponse {
///     let target = form.iter().find(|(k, _)| k == "user_id").map(|(_, v)| v.as_str()).unwrap_or("");
///     match imp.start(&req, target).await {
///         Ok(_) => HttpResponse::SeeOther().insert_header(("Location", "/app")).finish(),
///         Err(refused) => HttpResponse::from_error(refused),
///     }
/// }
///
/// let users = InMemoryProvider::new(Vec::<User>::new());
/// let impersonation = Impersonation::new(users).stateless(true);
/// let app = App::new()
///     .app_data(web::Data::new(impersonation.clone()))
///     .wrap(impersonation) // inside Authentication: wrap it first
///     .route("/impersonate", web::post().to(start));
/// # let _ = app;
/// ```
pub struct Impersonation<P> {
    inner: Arc<Inner<P>>,
}

/// The configuration: cheap to copy (the provider, the policy and the guard are shared), so
/// that configuring a clone copies it instead of changing, or ignoring, the others'.
struct Inner<P> {
    provider: Arc<P>,
    scope: String,
    policy: Arc<dyn ImpersonationPolicy>,
    guard: Option<Arc<dyn DynGuard>>,
    query_param: Option<String>,
    require_fresh: bool,
}

impl<P> Clone for Inner<P> {
    fn clone(&self) -> Self {
        Self {
            provider: Arc::clone(&self.provider),
            scope: self.scope.clone(),
            policy: Arc::clone(&self.policy),
            guard: self.guard.clone(),
            query_param: self.query_param.clone(),
            require_fresh: self.require_fresh,
        }
    }
}

impl<P> Clone for Impersonation<P> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<P> fmt::Debug for Impersonation<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Impersonation")
            .field("scope", &self.inner.scope)
            .field("query_param", &self.inner.query_param)
            .field("require_fresh", &self.inner.require_fresh)
            .finish_non_exhaustive()
    }
}

impl<P> Impersonation<P> {
    /// Impersonation of users from `provider`, with the defaults: scope
    /// `auth:impersonate_others`, [`DefaultPolicy`], no guard, stateful only, remembered
    /// sessions allowed.
    pub fn new(provider: P) -> Self {
        Self {
            inner: Arc::new(Inner {
                provider: Arc::new(provider),
                scope: DEFAULT_SCOPE.to_owned(),
                policy: Arc::new(DefaultPolicy),
                guard: None,
                query_param: None,
                require_fresh: false,
            }),
        }
    }

    /// Changes this handle's configuration. A handle configured after being cloned gets a
    /// configuration of its own (the provider, policy and guard stay shared); the clones made
    /// before keep theirs.
    fn configure(mut self, f: impl FnOnce(&mut Inner<P>)) -> Self {
        f(Arc::make_mut(&mut self.inner));
        self
    }

    /// The scope that allows impersonating. Default: [`DEFAULT_SCOPE`].
    #[must_use]
    pub fn scope(self, scope: impl Into<String>) -> Self {
        let scope = scope.into();
        self.configure(|i| i.scope = scope)
    }

    /// Who may impersonate whom. Default: [`DefaultPolicy`].
    #[must_use]
    pub fn policy(self, policy: impl ImpersonationPolicy) -> Self {
        self.configure(|i| i.policy = Arc::new(policy))
    }

    /// An extra condition on the real user. Default: none.
    #[must_use]
    pub fn guard(self, guard: impl ImpersonationGuard) -> Self {
        self.configure(|i| i.guard = Some(Arc::new(guard)))
    }

    /// Whether `?_impersonate=<id>` works (for one request; `__exit__` ends a stateful
    /// impersonation). Default: `false`. GET parameters are open to cross-site requests; enable
    /// it only where that is acceptable.
    #[must_use]
    pub fn stateless(self, enabled: bool) -> Self {
        self.configure(|i| i.query_param = enabled.then(|| DEFAULT_QUERY_PARAM.to_owned()))
    }

    /// Whether only a fresh login (not a remember-me session) may impersonate. Default: `false`.
    #[must_use]
    pub fn require_fresh(self, yes: bool) -> Self {
        self.configure(|i| i.require_fresh = yes)
    }
}

impl<P: UserProvider> Impersonation<P> {
    /// Whether the real user behind `token` may impersonate at all.
    async fn permitted(&self, req: &HttpRequest, real: &UserToken) -> bool {
        let inner = &self.inner;
        real.is_authenticated()
            && !real.is_impersonated()
            && (!inner.require_fresh || real.is_fresh())
            && real.has_scope(&inner.scope)
            && match &inner.guard {
                Some(guard) => guard.allow_dyn(req, real).await,
                None => true,
            }
    }

    /// The target as an impersonated token, if `real` may act as it.
    async fn target(&self, real: &UserToken, target_id: &str) -> Result<Option<UserToken>, ProviderError> {
        let Some(impersonator) = real.user_like() else {
            return Ok(None);
        };
        let Some(target) = self.inner.provider.find_by_id(target_id).await? else {
            return Ok(None);
        };
        if !self.inner.policy.allows(impersonator, &target, &self.inner.scope) {
            return Ok(None);
        }
        Ok(Some(UserToken::impersonated(target, real.clone())))
    }

    /// Starts a stateful impersonation of `target_id` for the request's real user: checks the
    /// permission and the policy, stores the target in the session bound to the real user,
    /// renews the session id, and returns the new token (also put on the request).
    ///
    /// # Errors
    ///
    /// [`ImpersonationError::Refused`] (403) for anyone without the permission, an unknown,
    /// malformed or refused target, or an impersonation already running; the identity does not
    /// change.
    pub async fn start(&self, req: &HttpRequest, target_id: &str) -> Result<UserToken, ImpersonationError> {
        let real = req.user_token().unwrap_or_default();
        let target = if self.permitted(req, &real).await && !target_id.is_empty() {
            self.target(&real, target_id).await?
        } else {
            None
        };
        let Some(token) = target else {
            audit_refused(&real, target_id, "start");
            return Err(ImpersonationError::Refused);
        };
        let session = req.get_session();
        session.renew();
        let stored = Stored {
            original: real.id().unwrap_or_default().into_owned(),
            target: token.id().unwrap_or_default().into_owned(),
        };
        session
            .insert(IMPERSONATION_SESSION_KEY, &stored)
            .map_err(|_| ImpersonationError::Session)?;
        tracing::info!(
            target: "imia::impersonation",
            event = "start",
            impersonator.id = %stored.original,
            target.id = %stored.target,
            "impersonation started"
        );
        req.extensions_mut().insert(token.clone());
        Ok(token)
    }
}

/// Ends a stateful impersonation: removes it from the session and renews the session id.
/// Returns whether one was running. The request's token becomes the real user's again.
///
/// # Examples
///
/// ```
/// use actix_web::{HttpRequest, HttpResponse};
/// use imia::impersonation;
///
/// /// `POST /impersonate/exit`, the banner's button.
/// async fn exit(req: HttpRequest) -> HttpResponse {
///     impersonation::stop(&req);
///     HttpResponse::SeeOther().insert_header(("Location", "/")).finish()
/// }
/// ```
pub fn stop(req: &HttpRequest) -> bool {
    let session = req.get_session();
    let Ok(Some(stored)) = session.remove_as::<Stored>(IMPERSONATION_SESSION_KEY).transpose() else {
        return false;
    };
    session.renew();
    tracing::info!(
        target: "imia::impersonation",
        event = "stop",
        impersonator.id = %stored.original,
        target.id = %stored.target,
        "impersonation stopped"
    );
    if let Some(token) = req.user_token()
        && let Some(real) = token.original()
    {
        req.extensions_mut().insert(real.clone());
    }
    true
}

/// Whether the request is made by a real user acting as another.
///
/// # Examples
///
/// ```
/// use actix_web::test::TestRequest;
/// use imia::{UserToken, impersonation, testing::{TestRequestExt as _, TestUser}};
///
/// let real = TestUser::new("staff").into_token();
/// let req = TestRequest::get().to_http_request().acting_as(UserToken::impersonated(TestUser::new("customer"), real));
/// assert!(impersonation::is_impersonating(&req));
/// assert_eq!(impersonation::original_user(&req).and_then(|t| t.id().map(|i| i.into_owned())).as_deref(), Some("staff"));
/// ```
pub fn is_impersonating(req: &HttpRequest) -> bool {
    req.user_token().is_some_and(|t| t.is_impersonated())
}

/// The real user behind the request: the original user while impersonating, else the user.
pub fn original_user(req: &HttpRequest) -> Option<UserToken> {
    req.user_token().map(|t| t.real().clone())
}

fn audit_refused(real: &UserToken, target_id: &str, how: &'static str) {
    tracing::warn!(
        target: "imia::impersonation",
        event = "refused",
        how,
        impersonator.id = %real.id().as_deref().unwrap_or("<anonymous>"),
        target.id = %target_id.chars().take(64).collect::<String>(),
        "impersonation refused"
    );
}

impl<P: UserProvider> Impersonation<P> {
    /// Applies stored or stateless impersonation to the request's token.
    async fn apply(&self, req: &HttpRequest) -> Result<(), ProviderError> {
        let Some(real) = req.user_token() else { return Ok(()) };
        if real.is_anonymous() {
            // Nobody to act for. The path may simply be outside this authentication's patterns
            // (another one may cover it), so a stored impersonation is left alone.
            if let Some(param) = self.inner.query_param.as_deref()
                && let Some((_, target)) =
                    form_urlencoded::parse(req.query_string().as_bytes()).find(|(k, _)| k == param)
                && target != EXIT_VALUE
            {
                audit_refused(&real, &target, "query");
            }
            return Ok(());
        }
        let session = req.get_session();
        let stored = match session.get::<Stored>(IMPERSONATION_SESSION_KEY) {
            Ok(stored) => stored,
            Err(_) => {
                session.remove(IMPERSONATION_SESSION_KEY);
                None
            }
        };
        let query = self.inner.query_param.as_deref().and_then(|param| {
            form_urlencoded::parse(req.query_string().as_bytes())
                .find(|(k, _)| k == param)
                .map(|(_, v)| v.into_owned())
        });

        if query.as_deref() == Some(EXIT_VALUE) {
            stop(req);
            return Ok(());
        }
        if let Some(stored) = stored {
            let bound = real.id().is_some_and(|id| id == stored.original.as_str());
            let token = if bound && self.permitted(req, &real).await {
                self.target(&real, &stored.target).await?
            } else {
                None
            };
            match token {
                Some(token) => {
                    req.extensions_mut().insert(token);
                    return Ok(());
                }
                None => {
                    // Forged, stale, for another user, or no longer permitted: it ends now.
                    session.remove(IMPERSONATION_SESSION_KEY);
                    tracing::warn!(
                        target: "imia::impersonation",
                        event = "ended",
                        impersonator.id = %stored.original,
                        target.id = %stored.target,
                        bound,
                        "stored impersonation no longer valid; removed"
                    );
                }
            }
        }
        if let Some(target_id) = query {
            let token = if self.permitted(req, &real).await {
                self.target(&real, &target_id).await?
            } else {
                None
            };
            match token {
                Some(token) => {
                    tracing::info!(
                        target: "imia::impersonation",
                        event = "stateless",
                        impersonator.id = %real.id().unwrap_or_default(),
                        target.id = %token.id().unwrap_or_default(),
                        "impersonating for one request"
                    );
                    req.extensions_mut().insert(token);
                }
                None => audit_refused(&real, &target_id, "query"),
            }
        }
        Ok(())
    }
}

impl<S, B, P> Transform<S, ServiceRequest> for Impersonation<P>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
    P: UserProvider,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Transform = ImpersonationMiddleware<S, P>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(ImpersonationMiddleware {
            service: Rc::new(service),
            imp: self.clone(),
        }))
    }
}

/// The service behind [`Impersonation`].
#[doc(hidden)]
pub struct ImpersonationMiddleware<S, P> {
    service: Rc<S>,
    imp: Impersonation<P>,
}

impl<S, P> fmt::Debug for ImpersonationMiddleware<S, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImpersonationMiddleware").finish_non_exhaustive()
    }
}

impl<S, B, P> Service<ServiceRequest> for ImpersonationMiddleware<S, P>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
    P: UserProvider,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let imp = self.imp.clone();
        Box::pin(async move {
            if let Err(err) = imp.apply(req.request()).await {
                // Fail closed: no identity change on a store failure, and an opaque error.
                let err = crate::error::AuthError::from(err);
                crate::middleware::log_error(&err);
                return Err(err.into());
            }
            service.call(req).await
        })
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use actix_web::test::TestRequest;

    use super::*;
    use crate::provider::InMemoryProvider;

    #[derive(Clone)]
    struct Staff;
    impl UserLike for Staff {
        fn id(&self) -> Cow<'_, str> {
            "staff".into()
        }
        fn scopes(&self) -> Vec<String> {
            vec![DEFAULT_SCOPE.to_owned()]
        }
    }

    #[test]
    fn only_fresh_real_users_with_the_scope_are_permitted() {
        actix_rt::System::new().block_on(async {
            let req = TestRequest::default().to_http_request();
            let imp = Impersonation::new(InMemoryProvider::<Staff>::new([]));
            assert!(imp.permitted(&req, &UserToken::authenticated(Staff)).await);
            assert!(imp.permitted(&req, &UserToken::remembered(Staff)).await);
            assert!(!imp.permitted(&req, &UserToken::anonymous()).await);
            let nested = UserToken::impersonated(Staff, UserToken::authenticated(Staff));
            assert!(!imp.permitted(&req, &nested).await, "never while impersonating");
            let fresh_only = Impersonation::new(InMemoryProvider::<Staff>::new([])).require_fresh(true);
            assert!(fresh_only.permitted(&req, &UserToken::authenticated(Staff)).await);
            assert!(!fresh_only.permitted(&req, &UserToken::remembered(Staff)).await);
            let other_scope = Impersonation::new(InMemoryProvider::<Staff>::new([])).scope("support");
            assert!(!other_scope.permitted(&req, &UserToken::authenticated(Staff)).await);
        });
    }

    #[test]
    fn configuring_a_clone_leaves_the_original_alone() {
        actix_rt::System::new().block_on(async {
            let req = TestRequest::default().to_http_request();
            let original = Impersonation::new(InMemoryProvider::<Staff>::new([]));
            let copy = original.clone().require_fresh(true);
            assert!(original.permitted(&req, &UserToken::remembered(Staff)).await);
            assert!(
                !copy.permitted(&req, &UserToken::remembered(Staff)).await,
                "not dropped"
            );
            assert!(Arc::ptr_eq(&original.inner.provider, &copy.inner.provider));
        });
    }

    struct U(&'static str, &'static [&'static str], bool);
    impl UserLike for U {
        fn id(&self) -> Cow<'_, str> {
            self.0.into()
        }
        fn scopes(&self) -> Vec<String> {
            self.1.iter().map(|s| s.to_string()).collect()
        }
        fn is_active(&self) -> bool {
            self.2
        }
    }

    #[test]
    fn default_policy() {
        let p = DefaultPolicy;
        let root = U("root", &["admin", DEFAULT_SCOPE], true);
        let user = U("user", &[], true);
        let staff = U("staff", &[DEFAULT_SCOPE], true);
        let admin = U("admin2", &["admin"], true);
        let superuser = U("super", &["admin", "billing"], true);
        assert!(p.allows(&root, &user, DEFAULT_SCOPE));
        assert!(p.allows(&root, &admin, DEFAULT_SCOPE), "a subset of scopes");
        assert!(!p.allows(&root, &root, DEFAULT_SCOPE), "oneself");
        assert!(!p.allows(&root, &staff, DEFAULT_SCOPE), "another impersonator");
        assert!(
            !p.allows(&root, &superuser, DEFAULT_SCOPE),
            "more scopes than the impersonator"
        );
        assert!(!p.allows(&root, &U("gone", &[], false), DEFAULT_SCOPE), "inactive");
    }
}
