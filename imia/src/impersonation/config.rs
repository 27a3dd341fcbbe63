//! [`Impersonation`] and its configuration: the scope, the policy, the guard, the stateless
//! parameter and fresh logins.

use std::{fmt, sync::Arc};

use super::{
    DEFAULT_QUERY_PARAM, DEFAULT_SCOPE,
    policy::{DefaultPolicy, DynGuard, ImpersonationGuard, ImpersonationPolicy},
};

/// Impersonation middleware and API; see the [module docs](super). Cloning shares it.
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
    pub(super) inner: Arc<Inner<P>>,
}

/// The configuration: cheap to copy (the provider, the policy and the guard are shared), so
/// that configuring a clone copies it instead of changing, or ignoring, the others'.
pub(super) struct Inner<P> {
    pub(super) provider: Arc<P>,
    pub(super) scope: String,
    pub(super) policy: Arc<dyn ImpersonationPolicy>,
    pub(super) guard: Option<Arc<dyn DynGuard>>,
    pub(super) query_param: Option<String>,
    pub(super) require_fresh: bool,
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

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;
    use crate::{UserToken, impersonation::tests::Staff, provider::InMemoryProvider};

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
}
