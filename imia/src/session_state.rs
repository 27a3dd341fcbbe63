//! The authentication state imia keeps in an actix-session session: the one place that knows
//! its keys, writes, renews and purges it, and checks its fingerprint.
//!
//! | key | holds |
//! |---|---|
//! | `_auth_user_id` ([`SESSION_USER_KEY`]) | the logged-in user's id |
//! | `_auth_user_hash` ([`SESSION_HASH_KEY`]) | the session fingerprint: an HMAC, keyed by the app's [`SecretKey`], of the user's password hash and [security stamp](crate::UserLike::security_stamp); never the hash |
//! | `_auth_remembered` ([`SESSION_REMEMBERED_KEY`]) | present when the session was restored from remember-me |
//! | `_auth_session` ([`SESSION_META_KEY`]) | what the session index shows: an opaque handle (never the session key), when and from where the login happened |
//! | `_auth_seen` ([`SESSION_SEEN_KEY`]) | when the session was last used, in Unix milliseconds, refreshed at most once a minute |
//! | `_auth_mfa` ([`SESSION_MFA_KEY`]) | present when the login passed a second factor |
//! | `_auth_pending` ([`PENDING_KEY`]) | a login waiting for its second factor: the user's id and fingerprint, an expiry, what the first step asked for; never authenticates |
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

use std::collections::HashMap;

use crate::{
    SecretKey, UserToken,
    crypto::{random_b64url, unix_now_ms},
    login::LoginError,
    user::UserLike,
};

/// The session key that holds the logged-in user's id: `_auth_user_id`.
pub(crate) const SESSION_USER_KEY: &str = "_auth_user_id";
/// The session key that holds the fingerprint of the logged-in user's password hash and
/// security stamp: `_auth_user_hash`.
pub(crate) const SESSION_HASH_KEY: &str = "_auth_user_hash";
/// The session key set when the session was restored from a remember-me token rather than a
/// fresh login: `_auth_remembered`. Such sessions authenticate as
/// [`LoginState::Remembered`](crate::LoginState::Remembered) for their whole life.
pub(crate) const SESSION_REMEMBERED_KEY: &str = "_auth_remembered";
/// The session key set when the login passed a second factor: `_auth_mfa`.
pub(crate) const SESSION_MFA_KEY: &str = "_auth_mfa";
/// The session key of a login that waits for its second factor: `_auth_pending`.
pub(crate) const PENDING_KEY: &str = "_auth_pending";
/// The session key of the login's description for the session index: `_auth_session`.
pub(crate) const SESSION_META_KEY: &str = "_auth_session";
/// The session key of the time the session was last used: `_auth_seen`.
pub(crate) const SESSION_SEEN_KEY: &str = "_auth_seen";
/// How often, at most, `_auth_seen` is rewritten (and the session store written for it), in
/// milliseconds.
pub(crate) const SEEN_EVERY_MS: i64 = 60_000;
/// How much of the client's `User-Agent` a session keeps.
const MAX_USER_AGENT: usize = 256;
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
    /// Whether the login passed a second factor.
    pub(crate) second_factor: bool,
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
        second_factor: session.contains_key(SESSION_MFA_KEY),
    }))
}

/// The id of the user the request's session is logged in as (checked or not).
pub(crate) fn session_user_id(req: &HttpRequest) -> Option<String> {
    req.get_session().get::<String>(SESSION_USER_KEY).ok().flatten()
}

/// What a login session tells the session index about itself: written at login, kept across
/// session renewals.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct SessionMeta {
    /// The session's opaque, random handle: what users see and address it by. Never the
    /// session key.
    pub(crate) handle: String,
    /// When the login happened, in Unix milliseconds (so that two logins within a second still
    /// list in order).
    pub(crate) created_at: i64,
    /// The client's address at login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ip: Option<String>,
    /// The client's `User-Agent` at login, truncated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) user_agent: Option<String>,
}

impl SessionMeta {
    /// A new description of the login `req` makes now.
    fn new(req: &HttpRequest) -> Result<Self, LoginError> {
        let handle = random_b64url(16).map_err(|e| LoginError::Internal(Box::new(e)))?;
        let user_agent = req
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| truncate(ua, MAX_USER_AGENT).to_owned())
            .filter(|ua| !ua.is_empty());
        Ok(Self {
            handle,
            created_at: unix_now_ms(),
            ip: req.peer_addr().map(|a| a.ip().to_string()),
            user_agent,
        })
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The handle of the session `req` belongs to, when it is a login session.
pub(crate) fn current_handle(req: &HttpRequest) -> Option<String> {
    req.get_session()
        .get::<SessionMeta>(SESSION_META_KEY)
        .ok()
        .flatten()
        .map(|meta| meta.handle)
}

/// Records that the logged-in session of `session` was used now: rewrites `_auth_seen` when it is
/// missing or older than a minute, so that the store writes at most once a minute for it.
pub(crate) fn touch(session: &Session) {
    let now = unix_now_ms();
    let seen = session.get::<i64>(SESSION_SEEN_KEY).ok().flatten();
    if seen.is_none_or(|seen| now.saturating_sub(seen) >= SEEN_EVERY_MS || seen > now) {
        // A failure only delays the next "last seen".
        let _ = session.insert(SESSION_SEEN_KEY, now);
    }
}

/// The login a stored session state holds, as the session index records it: read from the raw
/// state a session store receives (each value is JSON). `None` for a session without a login.
#[cfg_attr(not(any(feature = "diesel", feature = "redis")), allow(dead_code))]
pub(crate) fn index_entry(state: &HashMap<String, String>) -> Option<IndexEntry> {
    let user_id = serde_json::from_str::<String>(state.get(SESSION_USER_KEY)?).ok()?;
    let meta = serde_json::from_str::<SessionMeta>(state.get(SESSION_META_KEY)?).ok()?;
    let last_seen_at = state
        .get(SESSION_SEEN_KEY)
        .and_then(|seen| serde_json::from_str::<i64>(seen).ok())
        .unwrap_or(meta.created_at);
    Some(IndexEntry {
        user_id,
        last_seen_at,
        meta,
    })
}

/// One login session, as a session index records it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(not(any(feature = "diesel", feature = "redis")), allow(dead_code))]
pub(crate) struct IndexEntry {
    /// The logged-in user's id.
    pub(crate) user_id: String,
    /// When the session was last used, in Unix milliseconds (the login time until then).
    pub(crate) last_seen_at: i64,
    /// The handle, login time, address and user agent.
    pub(crate) meta: SessionMeta,
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
    // Every login is a session of its own in the user's list; a renewal keeps its handle.
    session
        .insert(SESSION_META_KEY, SessionMeta::new(req)?)
        .map_err(internal)?;
    session.insert(SESSION_SEEN_KEY, unix_now_ms()).map_err(internal)?;
    if remembered {
        session.insert(SESSION_REMEMBERED_KEY, true).map_err(internal)?;
    } else {
        session.remove(SESSION_REMEMBERED_KEY);
    }
    // A new login passed no second factor until it says so; none is pending any more.
    session.remove(SESSION_MFA_KEY);
    session.remove(PENDING_KEY);
    Ok(())
}

/// Marks the session's login as having passed a second factor (or not).
#[cfg_attr(not(feature = "two-factor"), allow(dead_code))]
pub(crate) fn mark_second_factor(req: &HttpRequest, passed: bool) -> Result<(), LoginError> {
    let session = req.get_session();
    if passed {
        session
            .insert(SESSION_MFA_KEY, true)
            .map_err(|e| LoginError::Internal(Box::new(e)))?;
    } else {
        session.remove(SESSION_MFA_KEY);
    }
    Ok(())
}

/// A login waiting for its second factor, as the session keeps it: the password was right, the
/// session is still anonymous.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(not(feature = "two-factor"), allow(dead_code))]
pub(crate) struct PendingLogin {
    /// The user's id.
    pub(crate) user_id: String,
    /// The username as typed at the first step: the second step counts towards the same
    /// throttle entry.
    pub(crate) username: String,
    /// The user's session fingerprint when the password was checked: a password change or a
    /// rotated security stamp in between ends the pending login.
    pub(crate) fingerprint: String,
    /// When the pending login ends, in Unix milliseconds.
    pub(crate) expires_at: i64,
    /// Whether the first step asked to be remembered.
    #[serde(default)]
    pub(crate) remember: bool,
    /// Where the first step asked to go afterwards (already checked to be local).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) next: Option<String>,
    /// Wrong codes so far.
    #[serde(default)]
    pub(crate) failures: u32,
}

/// Replaces whatever login the session holds with `pending`: the session id is renewed, the
/// session is anonymous until the second step. A session of another user starts over.
#[cfg_attr(not(feature = "two-factor"), allow(dead_code))]
pub(crate) fn begin_pending(req: &HttpRequest, pending: &PendingLogin) -> Result<(), LoginError> {
    let session = req.get_session();
    match session.get::<String>(SESSION_USER_KEY) {
        Ok(Some(previous)) if previous == pending.user_id => remove_login_entries(&session),
        Ok(None) => remove_login_entries(&session),
        _ => session.clear(),
    }
    session.renew();
    session
        .insert(PENDING_KEY, pending)
        .map_err(|e| LoginError::Internal(Box::new(e)))
}

/// The pending login the session holds, if any (expired or not). An unreadable one is removed.
#[cfg_attr(not(feature = "two-factor"), allow(dead_code))]
pub(crate) fn pending(req: &HttpRequest) -> Option<PendingLogin> {
    let session = req.get_session();
    match session.get::<PendingLogin>(PENDING_KEY) {
        Ok(pending) => pending,
        Err(_) => {
            session.remove(PENDING_KEY);
            None
        }
    }
}

/// Stores the pending login again (after a wrong code).
#[cfg_attr(not(feature = "two-factor"), allow(dead_code))]
pub(crate) fn update_pending(req: &HttpRequest, pending: &PendingLogin) -> Result<(), LoginError> {
    req.get_session()
        .insert(PENDING_KEY, pending)
        .map_err(|e| LoginError::Internal(Box::new(e)))
}

/// Ends the session's pending login.
#[cfg_attr(not(feature = "two-factor"), allow(dead_code))]
pub(crate) fn end_pending(req: &HttpRequest) {
    req.get_session().remove(PENDING_KEY);
}

/// Removes every login entry from `session` and keeps the rest.
fn remove_login_entries(session: &Session) {
    let names: Vec<String> = session
        .entries()
        .keys()
        .filter(|name| is_login_entry(name))
        .cloned()
        .collect();
    for name in names {
        session.remove(&name);
    }
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
            SESSION_META_KEY,
            SESSION_SEEN_KEY,
            SESSION_MFA_KEY,
            PENDING_KEY,
            IMPERSONATION_KEY,
        ] {
            assert!(is_login_entry(key), "{key}");
        }
        for other in ["cart", "_imia_session_origin", "auth_user_id", "_authx"] {
            assert!(!is_login_entry(other), "{other}");
        }
    }

    #[test]
    fn index_entries_are_read_from_the_raw_state() {
        let meta = SessionMeta {
            handle: "h".into(),
            created_at: 10,
            ip: Some("127.0.0.1".into()),
            user_agent: None,
        };
        let mut state = HashMap::from([
            (SESSION_USER_KEY.to_owned(), serde_json::to_string("42").unwrap()),
            (SESSION_META_KEY.to_owned(), serde_json::to_string(&meta).unwrap()),
        ]);
        let entry = index_entry(&state).expect("a login");
        assert_eq!((entry.user_id.as_str(), entry.last_seen_at), ("42", 10));
        assert_eq!(entry.meta, meta);
        state.insert(SESSION_SEEN_KEY.to_owned(), "70".into());
        assert_eq!(index_entry(&state).unwrap().last_seen_at, 70);
        state.remove(SESSION_USER_KEY);
        assert_eq!(index_entry(&state), None, "no login, nothing to index");
        let anonymous = HashMap::from([("cart".to_owned(), "\"3\"".to_owned())]);
        assert_eq!(index_entry(&anonymous), None);
    }

    #[test]
    fn user_agents_are_cut_on_a_character_boundary() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("abcdef", 3), "abc");
        assert_eq!(truncate("aé", 2), "a");
    }
}
