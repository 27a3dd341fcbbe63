//! Extractors: [`UserToken`], [`CurrentUser`], and the [`UserTokenExt`] trait.

use std::{any::type_name, fmt, ops::Deref, sync::Arc};

use actix_web::{
    FromRequest, HttpMessage, HttpRequest,
    dev::{Payload, ServiceRequest},
    guard::GuardContext,
};
use futures_util::future::{Ready, ready};

use crate::{
    error::AuthError,
    middleware::{Policy, log_error},
    token::UserToken,
    user::UserLike,
};

/// Reads the [`UserToken`] that the [`Authentication`](crate::Authentication) middleware put on a
/// request.
///
/// Implemented for `HttpRequest`, `ServiceRequest` and `GuardContext` (for actix guards).
///
/// # Examples
///
/// ```
/// use actix_web::{HttpRequest, HttpResponse};
/// use imia::UserTokenExt;
///
/// async fn handler(req: HttpRequest) -> HttpResponse {
///     match req.user_token() {
///         Some(token) if token.is_authenticated() => HttpResponse::Ok().body(token.display_name().into_owned()),
///         Some(_) => HttpResponse::Ok().body("hello, stranger"),
///         None => HttpResponse::InternalServerError().finish(), // middleware missing
///     }
/// }
/// ```
pub trait UserTokenExt {
    /// The token, or `None` when the middleware did not run for this request.
    fn user_token(&self) -> Option<UserToken>;
}

impl UserTokenExt for HttpRequest {
    fn user_token(&self) -> Option<UserToken> {
        self.extensions().get::<UserToken>().cloned()
    }
}

impl UserTokenExt for ServiceRequest {
    fn user_token(&self) -> Option<UserToken> {
        self.extensions().get::<UserToken>().cloned()
    }
}

impl UserTokenExt for GuardContext<'_> {
    fn user_token(&self) -> Option<UserToken> {
        self.req_data().get::<UserToken>().cloned()
    }
}

/// The token on `req`, or [`AuthError::MissingMiddleware`] (logged) when there is none.
pub(crate) fn token_of(req: &HttpRequest) -> Result<UserToken, AuthError> {
    req.user_token().ok_or_else(|| {
        tracing::error!(
            path = req.path(),
            "no UserToken on the request: is `Authentication` wrapped around this route?"
        );
        AuthError::MissingMiddleware
    })
}

/// # Extractor behavior
///
/// Always succeeds under the [`Authentication`](crate::Authentication) middleware, with the
/// anonymous token when nobody authenticated. Without the middleware it fails with a 500 and
/// logs that the middleware is missing.
impl FromRequest for UserToken {
    type Error = AuthError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(token_of(req))
    }
}

/// The authenticated user, typed.
///
/// Dereferences to the user. Holds a shared handle, so extracting it copies nothing.
///
/// # Extractor behavior
///
/// - Authenticated as a `U`: succeeds.
/// - Anonymous: fails with [`AuthError::Unauthenticated`], answered the way the middleware is
///   configured: a 303 redirect to the login page with `next` for browsers when a login URL is
///   set, else a 401 with the `WWW-Authenticate` challenges of the configured authenticators.
/// - Authenticated as another type than `U`, or no middleware: a 500, logged.
///
/// `Option<CurrentUser<U>>` is `None` for anonymous requests instead of failing.
///
/// # Examples
///
/// ```
/// use std::borrow::Cow;
/// use actix_web::HttpResponse;
/// use imia::{CurrentUser, UserLike};
///
/// struct User { email: String }
/// impl UserLike for User {
///     fn id(&self) -> Cow<'_, str> { Cow::Borrowed(&self.email) }
/// }
///
/// async fn profile(user: CurrentUser<User>) -> HttpResponse {
///     HttpResponse::Ok().body(format!("logged in as {}", user.email))
/// }
///
/// async fn home(user: Option<CurrentUser<User>>) -> HttpResponse {
///     match user {
///         Some(user) => HttpResponse::Ok().body(format!("hello {}", user.email)),
///         None => HttpResponse::Ok().body("hello, stranger"),
///     }
/// }
/// ```
pub struct CurrentUser<U> {
    user: Arc<U>,
    token: UserToken,
}

impl<U: UserLike> CurrentUser<U> {
    /// The shared user.
    pub fn into_inner(self) -> Arc<U> {
        self.user
    }

    /// The whole token (state, scopes, the real user while impersonating).
    pub fn token(&self) -> &UserToken {
        &self.token
    }

    /// Extracts the user from a request outside of handler arguments.
    ///
    /// # Errors
    ///
    /// As for the extractor.
    pub fn from_http_request(req: &HttpRequest) -> Result<Self, AuthError> {
        let token = token_of(req)?;
        if token.is_anonymous() {
            return Err(AuthError::Unauthenticated(Policy::of(req).denial(req)));
        }
        match token.user_arc::<U>() {
            Some(user) => Ok(Self { user, token }),
            None => {
                tracing::error!(
                    expected = type_name::<U>(),
                    "CurrentUser<{}> extracted, but the authenticated user is of another type",
                    type_name::<U>()
                );
                Err(AuthError::internal("the authenticated user has an unexpected type"))
            }
        }
    }
}

impl<U> Clone for CurrentUser<U> {
    fn clone(&self) -> Self {
        Self {
            user: Arc::clone(&self.user),
            token: self.token.clone(),
        }
    }
}

impl<U> Deref for CurrentUser<U> {
    type Target = U;

    fn deref(&self) -> &U {
        &self.user
    }
}

impl<U> fmt::Debug for CurrentUser<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CurrentUser").field("token", &self.token).finish()
    }
}

impl<U: UserLike> FromRequest for CurrentUser<U> {
    type Error = AuthError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let result = Self::from_http_request(req);
        if let Err(err) = &result {
            log_error(err);
        }
        ready(result)
    }
}

/// Like [`CurrentUser`], but only for a fresh login: a session restored from a remember-me
/// cookie is asked to log in again (the same 401 or login redirect as for anonymous requests).
/// Use it for sensitive actions: changing the e-mail address, payments, deleting the account.
///
/// # Examples
///
/// ```
/// use actix_web::HttpResponse;
/// use imia::{FreshUser, UserLike};
///
/// #[derive(UserLike)]
/// struct User { id: u64 }
///
/// async fn delete_account(user: FreshUser<User>) -> HttpResponse {
///     HttpResponse::Ok().body(format!("deleting account {}", user.id))
/// }
/// ```
pub struct FreshUser<U>(CurrentUser<U>);

impl<U> Deref for FreshUser<U> {
    type Target = U;

    fn deref(&self) -> &U {
        &self.0
    }
}

impl<U> fmt::Debug for FreshUser<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FreshUser").field(&self.0).finish()
    }
}

impl<U: UserLike> FreshUser<U> {
    /// The user as a [`CurrentUser`].
    pub fn into_current(self) -> CurrentUser<U> {
        self.0
    }

    /// The request's token.
    pub fn token(&self) -> &UserToken {
        self.0.token()
    }
}

impl<U: UserLike> FromRequest for FreshUser<U> {
    type Error = AuthError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let result = CurrentUser::<U>::from_http_request(req).and_then(|user| {
            if user.token().is_fresh() {
                Ok(Self(user))
            } else {
                tracing::debug!("a fresh login is required");
                Err(AuthError::Unauthenticated(Policy::of(req).denial(req)))
            }
        });
        if let Err(err) = &result {
            log_error(err);
        }
        ready(result)
    }
}

/// Like [`CurrentUser`], but only for a login that passed a second factor
/// ([`UserToken::passed_second_factor`]): a TOTP or recovery code in the
/// [two-step login](crate::two_factor), or a custom authenticator's
/// [`Outcome::SecondFactor`](crate::authenticator::Outcome::SecondFactor). Anonymous requests get
/// the usual 401 or login redirect; a user whose login did not pass one (a password alone, a
/// remember-me cookie, an API key) gets 403.
///
/// `#[protected(second_factor)]` checks the same without extracting the user.
///
/// # Examples
///
/// ```
/// use actix_web::HttpResponse;
/// use imia::{SecondFactorUser, UserLike};
///
/// #[derive(UserLike)]
/// struct User { id: u64 }
///
/// async fn wire_money(user: SecondFactorUser<User>) -> HttpResponse {
///     HttpResponse::Ok().body(format!("transfer ordered by {}", user.id))
/// }
/// ```
pub struct SecondFactorUser<U>(CurrentUser<U>);

impl<U> Deref for SecondFactorUser<U> {
    type Target = U;

    fn deref(&self) -> &U {
        &self.0
    }
}

impl<U> fmt::Debug for SecondFactorUser<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SecondFactorUser").field(&self.0).finish()
    }
}

impl<U: UserLike> SecondFactorUser<U> {
    /// The user as a [`CurrentUser`].
    pub fn into_current(self) -> CurrentUser<U> {
        self.0
    }

    /// The request's token.
    pub fn token(&self) -> &UserToken {
        self.0.token()
    }
}

impl<U: UserLike> FromRequest for SecondFactorUser<U> {
    type Error = AuthError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let result = CurrentUser::<U>::from_http_request(req).and_then(|user| {
            if user.token().passed_second_factor() {
                Ok(Self(user))
            } else {
                tracing::debug!(user.id = ?user.token().id(), "a second factor is required");
                Err(AuthError::Forbidden)
            }
        });
        if let Err(err) = &result {
            log_error(err);
        }
        ready(result)
    }
}

/// What a route asks of a login besides scopes: what `#[protected(fresh, second_factor)]`
/// checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LoginRequirements {
    /// Not restored from remember-me (like [`FreshUser`]).
    pub(crate) fresh: bool,
    /// Passed a second factor (like [`SecondFactorUser`]).
    pub(crate) second_factor: bool,
}

/// [`require_scopes`], and then `requirements`: a remembered login where a fresh one is asked
/// for is asked to log in again (401 or the login redirect); a login without a second factor
/// where one is asked for gets 403.
pub(crate) fn require_login(
    req: &HttpRequest,
    all: &[&str],
    any: &[&str],
    requirements: LoginRequirements,
) -> Result<UserToken, AuthError> {
    let token = require_scopes(req, all, any)?;
    if requirements.fresh && !token.is_fresh() {
        tracing::debug!("a fresh login is required");
        return Err(AuthError::Unauthenticated(Policy::of(req).denial(req)));
    }
    if requirements.second_factor && !token.passed_second_factor() {
        tracing::debug!(user.id = ?token.id(), "a second factor is required");
        return Err(AuthError::Forbidden);
    }
    Ok(token)
}

/// Checks that the request's user is authenticated and holds every scope in `all` and at least
/// one in `any` (when `any` is not empty). What `#[protected]` calls.
///
/// # Errors
///
/// - anonymous: [`AuthError::Unauthenticated`], answered as the middleware is configured
///   (redirect for browsers when a login URL is set, else 401 with challenges);
/// - a missing scope: [`AuthError::Forbidden`] (403);
/// - no middleware: [`AuthError::MissingMiddleware`] (500, logged).
///
/// # Examples
///
/// ```
/// use actix_web::{HttpRequest, HttpResponse, ResponseError};
///
/// async fn admin(req: HttpRequest) -> HttpResponse {
///     if let Err(denied) = imia::require_scopes(&req, &["admin"], &[]) {
///         return denied.error_response();
///     }
///     HttpResponse::Ok().body("welcome")
/// }
/// ```
pub fn require_scopes(req: &HttpRequest, all: &[&str], any: &[&str]) -> Result<UserToken, AuthError> {
    let token = token_of(req)?;
    check_scopes(req, token, all, any)
}

pub(crate) fn check_scopes(
    req: &HttpRequest,
    token: UserToken,
    all: &[&str],
    any: &[&str],
) -> Result<UserToken, AuthError> {
    if token.is_anonymous() {
        return Err(AuthError::Unauthenticated(Policy::of(req).denial(req)));
    }
    let granted = all.iter().all(|s| token.has_scope(s)) && (any.is_empty() || any.iter().any(|s| token.has_scope(s)));
    if granted {
        Ok(token)
    } else {
        tracing::debug!(user.id = ?token.id(), "insufficient scope");
        Err(AuthError::Forbidden)
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use actix_web::{ResponseError, test::TestRequest};

    use super::*;

    struct Admin;
    impl UserLike for Admin {
        fn id(&self) -> Cow<'_, str> {
            "admin".into()
        }
        fn scopes(&self) -> Vec<String> {
            vec!["admin".into(), "billing:read".into()]
        }
    }

    fn with(token: Option<UserToken>) -> HttpRequest {
        let req = TestRequest::get().uri("/x").to_http_request();
        if let Some(token) = token {
            req.extensions_mut().insert(token);
        }
        req
    }

    #[test]
    fn missing_middleware_is_a_500_not_a_panic() {
        let req = with(None);
        assert!(matches!(token_of(&req), Err(AuthError::MissingMiddleware)));
        assert!(matches!(
            CurrentUser::<Admin>::from_http_request(&req),
            Err(AuthError::MissingMiddleware)
        ));
        assert_eq!(require_scopes(&req, &[], &[]).unwrap_err().status_code(), 500);
    }

    #[test]
    fn current_user_needs_an_authenticated_user_of_its_type() {
        let anon = with(Some(UserToken::anonymous()));
        assert_eq!(
            CurrentUser::<Admin>::from_http_request(&anon)
                .unwrap_err()
                .status_code(),
            401
        );
        let admin = with(Some(UserToken::authenticated(Admin)));
        assert_eq!(
            CurrentUser::<Admin>::from_http_request(&admin)
                .unwrap()
                .token()
                .id()
                .as_deref(),
            Some("admin")
        );
        struct Other;
        impl UserLike for Other {
            fn id(&self) -> Cow<'_, str> {
                "o".into()
            }
        }
        assert_eq!(
            CurrentUser::<Other>::from_http_request(&admin)
                .unwrap_err()
                .status_code(),
            500
        );
    }

    #[test]
    fn scope_requirements() {
        let admin = with(Some(UserToken::authenticated(Admin)));
        assert!(require_scopes(&admin, &["admin"], &[]).is_ok());
        assert!(require_scopes(&admin, &["admin", "billing:read"], &["x", "admin"]).is_ok());
        assert_eq!(require_scopes(&admin, &["root"], &[]).unwrap_err().status_code(), 403);
        assert_eq!(require_scopes(&admin, &[], &["x", "y"]).unwrap_err().status_code(), 403);
        let anon = with(Some(UserToken::anonymous()));
        assert_eq!(require_scopes(&anon, &[], &[]).unwrap_err().status_code(), 401);
    }
}
