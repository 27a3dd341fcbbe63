//! Who may impersonate whom: the policy on the pair, and the guard on the real user.

use std::future::Future;

use actix_web::HttpRequest;
use futures_util::future::LocalBoxFuture;

use crate::{UserLike, UserToken};

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

/// [`ImpersonationGuard`] as a trait object.
pub(super) trait DynGuard: Send + Sync {
    fn allow_dyn<'a>(&'a self, req: &'a HttpRequest, real: &'a UserToken) -> LocalBoxFuture<'a, bool>;
}

impl<G: ImpersonationGuard> DynGuard for G {
    fn allow_dyn<'a>(&'a self, req: &'a HttpRequest, real: &'a UserToken) -> LocalBoxFuture<'a, bool> {
        Box::pin(self.allow(req, real))
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::impersonation::DEFAULT_SCOPE;

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
