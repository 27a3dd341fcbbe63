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

use actix_session::SessionExt as _;
use actix_web::{HttpMessage as _, HttpRequest};

mod config;
mod error;
mod middleware;
mod policy;

pub use self::{
    config::Impersonation,
    error::ImpersonationError,
    middleware::ImpersonationMiddleware,
    policy::{DefaultPolicy, ImpersonationGuard, ImpersonationPolicy},
};
use crate::{
    UserToken, UserTokenExt as _, error::ProviderError, provider::UserProvider, session_state::IMPERSONATION_KEY as KEY,
};

/// The session key that holds the impersonation: `_impersonated_user_id`.
#[deprecated(since = "0.2.0", note = "internal to imia; the key is `_impersonated_user_id`")]
#[doc(hidden)]
pub const IMPERSONATION_SESSION_KEY: &str = KEY;
/// The scope that allows impersonating unless configured: `auth:impersonate_others`.
pub const DEFAULT_SCOPE: &str = "auth:impersonate_others";
/// The stateless query parameter unless configured: `_impersonate`.
pub const DEFAULT_QUERY_PARAM: &str = "_impersonate";
/// The query value that ends a stateful impersonation: `__exit__`.
pub const EXIT_VALUE: &str = "__exit__";

/// What the session stores: the real user's id and the target's.
#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    original: String,
    target: String,
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
        session.insert(KEY, &stored).map_err(|_| ImpersonationError::Session)?;
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
    let Ok(Some(stored)) = session.remove_as::<Stored>(KEY).transpose() else {
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

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use actix_web::test::TestRequest;

    use super::*;
    use crate::{UserLike, provider::InMemoryProvider};

    #[derive(Clone)]
    pub(super) struct Staff;
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
}
