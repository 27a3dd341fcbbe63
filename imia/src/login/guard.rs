//! Login guards: checks of the app's own that run before the password is verified.

use std::future::Future;

use actix_web::HttpRequest;
use futures_util::future::LocalBoxFuture;

/// A check run before the password is verified: refuse a login for a reason of the app's
/// (a closed account, a maintenance window, a CAPTCHA). `user` is `None` when the username is
/// unknown: do not reveal that through your answer.
///
/// # Examples
///
/// ```
/// use actix_web::HttpRequest;
/// use imia::{SecretKey, UserLike, login::{LoginGuard, LoginManager}, password::Argon2Hasher, provider::InMemoryProvider};
///
/// #[derive(Clone, UserLike)]
/// struct User { id: u32, locked: bool }
///
/// /// Refuses locked accounts with the answer a wrong password gets.
/// struct NotLocked;
///
/// impl LoginGuard<User> for NotLocked {
///     async fn check(&self, _req: &HttpRequest, _username: &str, user: Option<&User>) -> Result<(), actix_web::Error> {
///         match user {
///             Some(user) if user.locked => Err(actix_web::error::ErrorUnauthorized("")),
///             _ => Ok(()),
///         }
///     }
/// }
///
/// let users = InMemoryProvider::new(Vec::<User>::new());
/// let logins = LoginManager::builder(users, Argon2Hasher::default(), SecretKey::generate())
///     .guard(NotLocked)
///     .build();
/// # let _ = logins;
/// ```
pub trait LoginGuard<U>: Send + Sync + 'static {
    /// `Ok(())` to go on, or the error to answer with.
    fn check(
        &self,
        req: &HttpRequest,
        username: &str,
        user: Option<&U>,
    ) -> impl Future<Output = Result<(), actix_web::Error>>;
}

pub(super) trait DynGuard<U>: Send + Sync {
    fn check_dyn<'a>(
        &'a self,
        req: &'a HttpRequest,
        username: &'a str,
        user: Option<&'a U>,
    ) -> LocalBoxFuture<'a, Result<(), actix_web::Error>>;
}

impl<U, G: LoginGuard<U>> DynGuard<U> for G {
    fn check_dyn<'a>(
        &'a self,
        req: &'a HttpRequest,
        username: &'a str,
        user: Option<&'a U>,
    ) -> LocalBoxFuture<'a, Result<(), actix_web::Error>> {
        Box::pin(self.check(req, username, user))
    }
}
