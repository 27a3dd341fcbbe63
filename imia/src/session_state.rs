//! The authentication state imia keeps in an actix-session session: the one place that knows
//! its keys, writes, renews and purges it, and checks its fingerprint.
//!
//! | key | holds |
//! |---|---|
//! | `_auth_user_id` ([`SESSION_USER_KEY`]) | the logged-in user's id |
//! | `_auth_user_hash` ([`SESSION_HASH_KEY`]) | the session fingerprint: an HMAC, keyed by the app's [`SecretKey`], of the user's password hash and [security stamp](crate::UserLike::security_stamp); never the hash |
//! | `_auth_remembered` ([`SESSION_REMEMBERED_KEY`]) | present when the session was restored from remember-me |
//! | `_impersonated_user_id` ([`IMPERSONATION_KEY`]) | the impersonation target, bound to the real user |
//!
//! The key names are the original library's, so sessions stay compatible; they are internal to
//! imia (tests that forge a raw session write them as strings). Every key starts with `_auth_`
//! or `_impersonat`: [`StrictSessionStore`](crate::StrictSessionStore)
//! and the Diesel session store recognise login entries by these prefixes
//! ([`is_login_entry`]).
//!
//! Logging in ([`login_user`], [`LoginManager::login`](crate::login::LoginManager::login)),
//! restoring from remember-me, logging out ([`logout`]) and keeping a session across a password
//! change ([`update_session_auth_hash`]) all go through here; the
//! [`SessionAuthenticator`](crate::authenticator::SessionAuthenticator) reads it back
//! ([`stored_login`]).

use actix_session::{Session, SessionExt as _, SessionGetError};
use actix_web::{HttpMessage as _, HttpRequest};

use crate::{SecretKey, UserToken, login::LoginError, user::UserLike};

/// The session key that holds the logged-in user's id: `_auth_user_id`.
pub(crate) const SESSION_USER_KEY: &str = "_auth_user_id";
/// The session key that holds the fingerprint of the logged-in user's password hash and
/// security stamp: `_auth_user_hash`.
pub(crate) const SESSION_HASH_KEY: &str = "_auth_user_hash";
/// The session key set when the session was restored from a remember-me token rather than a
/// fresh login: `_auth_remembered`. Such sessions authenticate as
/// [`LoginState::Remembered`](crate::LoginState::Remembered) for their whole life.
pub(crate) const SESSION_REMEMBERED_KEY: &str = "_auth_remembered";
/// The session key of a stateful impersonation: `_impersonated_user_id`.
pub(crate) const IMPERSONATION_KEY: &str = "_impersonated_user_id";

/// What the names of login entries start with.
const LOGIN_ENTRY_PREFIXES: [&str; 2] = ["_auth_", "_impersonat"];

/// Whether a session state entry named `name` carries a login (and must never outlive a logout).
pub(crate) fn is_login_entry(name: &str) -> bool {
    LOGIN_ENTRY_PREFIXES.iter().any(|prefix| name.starts_with(prefix))
}

/// The login a session holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredLogin {
    /// The user's id.
    pub(crate) id: String,
    /// The fingerprint written with it (empty when missing or unreadable: it then matches no
    /// user).
    pub(crate) fingerprint: String,
    /// Whether it was restored from remember-me.
    pub(crate) remembered: bool,
}

/// The login `session` holds: `Ok(None)` without one, `Err` when the id cannot be read.
pub(crate) fn stored_login(session: &Session) -> Result<Option<StoredLogin>, SessionGetError> {
    let Some(id) = session.get::<String>(SESSION_USER_KEY)? else {
        return Ok(None);
    };
    Ok(Some(StoredLogin {
        id,
        fingerprint: session
            .get::<String>(SESSION_HASH_KEY)
            .ok()
            .flatten()
            .unwrap_or_default(),
        remembered: session.contains_key(SESSION_REMEMBERED_KEY),
    }))
}

/// The id of the user the request's session is logged in as (checked or not).
pub(crate) fn session_user_id(req: &HttpRequest) -> Option<String> {
    req.get_session().get::<String>(SESSION_USER_KEY).ok().flatten()
}

/// Whether the request's session holds a login (a valid one or not).
pub(crate) fn has_login(req: &HttpRequest) -> bool {
    req.get_session().contains_key(SESSION_USER_KEY)
}

/// Renews the session and stores the user in it.
pub(crate) fn establish<U: UserLike>(req: &HttpRequest, user: U, fingerprint: &str) -> Result<UserToken, LoginError> {
    write(req, &user.id(), fingerprint, false)?;
    let token = UserToken::authenticated(user);
    req.extensions_mut().insert(token.clone());
    Ok(token)
}

/// Renews the session and stores the user's id and fingerprint in it, marked as restored from
/// remember-me when `remembered` (a password login is always fresh). A session that belonged to
/// someone else starts over; one of the same user keeps its other data.
pub(crate) fn write(req: &HttpRequest, id: &str, fingerprint: &str, remembered: bool) -> Result<(), LoginError> {
    let session = req.get_session();
    match session.get::<String>(SESSION_USER_KEY) {
        Ok(Some(previous)) if previous == id => {}
        Ok(None) => {}
        _ => session.clear(),
    }
    session.renew();
    let internal = |e: actix_session::SessionInsertError| LoginError::Internal(Box::new(e));
    session.insert(SESSION_USER_KEY, id).map_err(internal)?;
    session.insert(SESSION_HASH_KEY, fingerprint).map_err(internal)?;
    if remembered {
        session.insert(SESSION_REMEMBERED_KEY, true).map_err(internal)?;
    } else {
        session.remove(SESSION_REMEMBERED_KEY);
    }
    Ok(())
}

/// Logs `user` in without checking a password: after a sign-up, or to set up tests. Renews
/// the session like a login.
///
/// For tests, [`testing::login_cookie`](crate::testing::login_cookie) returns the session cookie
/// of such a login without a route in the app.
///
/// # Examples
///
/// ```
/// use actix_web::{HttpRequest, HttpResponse, web};
/// use imia::{SecretKey, UserLike, login::login_user};
///
/// #[derive(UserLike)]
/// struct User { id: u64, email: String }
///
/// /// After the e-mail address is confirmed: the new user is logged in.
/// async fn confirm(req: HttpRequest, secret: web::Data<SecretKey>) -> actix_web::Result<HttpResponse> {
///     let user = User { id: 42, email: "new@example.com".into() }; // from the database
///     login_user(&req, user, &secret)?;
///     Ok(HttpResponse::SeeOther().insert_header(("Location", "/app")).finish())
/// }
/// ```
///
/// # Errors
///
/// [`LoginError::Internal`] when the session cannot store the values.
pub fn login_user<U: UserLike>(req: &HttpRequest, user: U, secret: &SecretKey) -> Result<UserToken, LoginError> {
    let fingerprint = secret.user_fingerprint(&user);
    establish(req, user, &fingerprint)
}

/// Logs out: purges the session (server-side stores delete it) and makes the request anonymous.
///
/// Also call [`RememberMe::forget`](crate::remember::RememberMe::forget) first when the app uses
/// remember-me. Serve it on `POST` behind [`csrf::SameOrigin`](crate::csrf::SameOrigin), so that
/// other sites cannot log users out.
///
/// # Examples
///
/// ```
/// use actix_web::{HttpRequest, HttpResponse};
///
/// async fn logout(req: HttpRequest) -> HttpResponse {
///     imia::login::logout(&req);
///     HttpResponse::SeeOther().insert_header(("Location", "/login")).finish()
/// }
/// ```
pub fn logout(req: &HttpRequest) {
    let session = req.get_session();
    if let Ok(Some(id)) = session.get::<String>(SESSION_USER_KEY) {
        tracing::info!(user.id = %id, "logout");
    }
    session.purge();
    req.extensions_mut().insert(UserToken::anonymous());
}

/// After the current user's password changed to `new_hash`: renews the session id and stores the
/// new fingerprint, so this session stays logged in while every other one ends.
///
/// The fingerprint also covers the security stamp of the user the request is authenticated as.
/// Remember-me tokens are bound to the old password: they are refused (and deleted) at their
/// next use, this device's included. Prefer
/// [`LoginManager::update_session_auth_hash`](crate::login::LoginManager::update_session_auth_hash),
/// which also revokes the other tokens at once and keeps this device remembered;
/// [`LoginManager::change_password`](crate::login::LoginManager::change_password) calls it.
///
/// # Examples
///
/// ```
/// use actix_web::{HttpRequest, HttpResponse, web};
/// use imia::{SecretKey, login::update_session_auth_hash};
///
/// async fn after_reset(req: HttpRequest, secret: web::Data<SecretKey>) -> actix_web::Result<HttpResponse> {
///     let new_hash = "$argon2id$v=19$..."; // what was just stored for the user
///     update_session_auth_hash(&req, new_hash, &secret)?;
///     Ok(HttpResponse::Ok().body("password changed; your other sessions have ended"))
/// }
/// ```
///
/// # Errors
///
/// [`LoginError::Internal`] when the session cannot store the value.
pub fn update_session_auth_hash(req: &HttpRequest, new_hash: &str, secret: &SecretKey) -> Result<(), LoginError> {
    let stamp = req
        .extensions()
        .get::<UserToken>()
        .and_then(|token| token.real().user_like().map(|u| u.security_stamp().into_owned()))
        .unwrap_or_default();
    renew_fingerprint(req, &secret.session_fingerprint(new_hash, &stamp))
}

/// Renews the session id and stores `fingerprint` as the session's.
pub(crate) fn renew_fingerprint(req: &HttpRequest, fingerprint: &str) -> Result<(), LoginError> {
    let session = req.get_session();
    session.renew();
    session
        .insert(SESSION_HASH_KEY, fingerprint)
        .map_err(|e| LoginError::Internal(Box::new(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_a_login_entry() {
        for key in [
            SESSION_USER_KEY,
            SESSION_HASH_KEY,
            SESSION_REMEMBERED_KEY,
            IMPERSONATION_KEY,
        ] {
            assert!(is_login_entry(key), "{key}");
        }
        for other in ["cart", "_imia_session_origin", "auth_user_id", "_authx"] {
            assert!(!is_login_entry(other), "{other}");
        }
    }
}
