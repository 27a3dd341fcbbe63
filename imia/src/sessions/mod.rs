//! Seeing and ending a user's sessions: "where am I logged in", "log out that device", "log out
//! all other devices".
//!
//! A server-side session store that keeps a per-user index implements [`SessionIndex`]: the
//! Diesel `DieselSessionStore` does, in its own table (features `sqlite`, `postgres`, `mysql`),
//! and `RedisSessionIndex` wraps any store, actix-session's Redis store above all, and keeps
//! the index in Redis (feature `redis`).
//! Give it to the [`LoginManager`](crate::login::LoginManager)
//! ([`sessions`](crate::login::LoginManagerBuilder::sessions)), and the [`Auth`](crate::Auth)
//! extractor lists and ends sessions: [`Auth::sessions`](crate::Auth::sessions),
//! [`Auth::end_session`](crate::Auth::end_session),
//! [`Auth::end_other_sessions`](crate::Auth::end_other_sessions).
//!
//! Sessions are addressed by an opaque random handle ([`SessionInfo::id`]), made at login and
//! kept in the session; the session key (what the cookie holds) never leaves the server.
//!
//! Each login session records when it was made, from which address and user agent, and when it
//! was last used. "Last used" is refreshed at most once a minute, so an active session costs the
//! store one extra write per minute, not one per request.
//!
//! Without an index (actix-session's cookie store), sessions cannot be listed, but ending all of
//! a user's sessions, or all but the current one, still works through the user's
//! [security stamp](crate::UserLike::security_stamp).

use std::{fmt, future::Future};

use futures_util::future::LocalBoxFuture;

use crate::error::ProviderError;

#[cfg(feature = "redis")]
mod redis;

#[cfg(feature = "redis")]
pub use self::redis::RedisSessionIndex;

/// One login session of a user, as a [`SessionIndex`] knows it.
///
/// # Examples
///
/// ```
/// use imia::sessions::SessionInfo;
///
/// let session = SessionInfo::new("k3Jx", 1_700_000_000, 1_700_000_060);
/// assert_eq!(session.created_at_rfc3339(), "2023-11-14T22:13:20Z");
/// assert_eq!(session.last_seen_at_rfc3339(), "2023-11-14T22:14:20Z");
/// assert!(!session.current);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionInfo {
    /// The session's opaque handle: what to show and to address it by. Not the session key.
    pub id: String,
    /// When the user logged in, in Unix seconds.
    pub created_at: i64,
    /// When the session was last used, in Unix seconds (refreshed at most once a minute).
    pub last_seen_at: i64,
    /// The client's address at login (the connection's peer: behind a proxy, the proxy's).
    pub ip: Option<String>,
    /// The client's `User-Agent` at login, truncated to 256 bytes.
    pub user_agent: Option<String>,
    /// Whether this is the session of the request that asked.
    pub current: bool,
}

impl SessionInfo {
    /// A session `id` made at `created_at` and last used at `last_seen_at`; no address, no user
    /// agent, not the current one. For implementations of [`SessionIndex`].
    pub fn new(id: impl Into<String>, created_at: i64, last_seen_at: i64) -> Self {
        Self {
            id: id.into(),
            created_at,
            last_seen_at,
            ip: None,
            user_agent: None,
            current: false,
        }
    }

    /// With the client's address.
    #[must_use]
    pub fn ip(mut self, ip: Option<String>) -> Self {
        self.ip = ip.filter(|ip| !ip.is_empty());
        self
    }

    /// With the client's user agent.
    #[must_use]
    pub fn user_agent(mut self, user_agent: Option<String>) -> Self {
        self.user_agent = user_agent.filter(|ua| !ua.is_empty());
        self
    }

    /// [`created_at`](Self::created_at) as RFC 3339 (UTC, `2024-05-01T12:00:00Z`).
    pub fn created_at_rfc3339(&self) -> String {
        rfc3339(self.created_at)
    }

    /// [`last_seen_at`](Self::last_seen_at) as RFC 3339 (UTC).
    pub fn last_seen_at_rfc3339(&self) -> String {
        rfc3339(self.last_seen_at)
    }
}

/// A per-user index of login sessions, kept by a server-side session store.
///
/// Implemented by [`DieselSessionStore`](crate::diesel::DieselSessionStore). An implementation
/// must only ever list or end sessions of the `user_id` it is given: an id of another user's
/// session is "no such session".
///
/// # Examples
///
/// ```
/// use std::{collections::HashMap, sync::Mutex};
/// use imia::{error::ProviderError, sessions::{SessionIndex, SessionInfo}};
///
/// /// Sessions by user, in memory (a real index lives beside the session store).
/// #[derive(Default)]
/// struct Index(Mutex<HashMap<String, Vec<SessionInfo>>>);
///
/// impl SessionIndex for Index {
///     async fn sessions(&self, user_id: &str) -> Result<Vec<SessionInfo>, ProviderError> {
///         Ok(self.0.lock().unwrap().get(user_id).cloned().unwrap_or_default())
///     }
///     async fn end_session(&self, user_id: &str, id: &str) -> Result<bool, ProviderError> {
///         let mut users = self.0.lock().unwrap();
///         let Some(sessions) = users.get_mut(user_id) else { return Ok(false) };
///         let before = sessions.len();
///         sessions.retain(|s| s.id != id);
///         Ok(sessions.len() < before)
///     }
///     async fn end_sessions(&self, user_id: &str, except: Option<&str>) -> Result<u64, ProviderError> {
///         let mut users = self.0.lock().unwrap();
///         let Some(sessions) = users.get_mut(user_id) else { return Ok(0) };
///         let before = sessions.len();
///         sessions.retain(|s| Some(s.id.as_str()) == except);
///         Ok((before - sessions.len()) as u64)
///     }
/// }
/// ```
pub trait SessionIndex: Send + Sync + 'static {
    /// The live login sessions of the user with id `user_id`, newest first.
    fn sessions(&self, user_id: &str) -> impl Future<Output = Result<Vec<SessionInfo>, ProviderError>>;

    /// Ends the session with handle `id` if it belongs to the user with id `user_id`; whether
    /// there was one.
    fn end_session(&self, user_id: &str, id: &str) -> impl Future<Output = Result<bool, ProviderError>>;

    /// Ends every session of the user with id `user_id` but the one with handle `except`;
    /// how many ended.
    fn end_sessions(&self, user_id: &str, except: Option<&str>) -> impl Future<Output = Result<u64, ProviderError>>;
}

/// A [`SessionIndex`] behind a box, as the login manager keeps it.
pub(crate) trait DynSessionIndex: Send + Sync {
    fn sessions_dyn<'a>(&'a self, user_id: &'a str) -> LocalBoxFuture<'a, Result<Vec<SessionInfo>, ProviderError>>;
    fn end_session_dyn<'a>(&'a self, user_id: &'a str, id: &'a str) -> LocalBoxFuture<'a, Result<bool, ProviderError>>;
    fn end_sessions_dyn<'a>(
        &'a self,
        user_id: &'a str,
        except: Option<&'a str>,
    ) -> LocalBoxFuture<'a, Result<u64, ProviderError>>;
}

impl<T: SessionIndex> DynSessionIndex for T {
    fn sessions_dyn<'a>(&'a self, user_id: &'a str) -> LocalBoxFuture<'a, Result<Vec<SessionInfo>, ProviderError>> {
        Box::pin(self.sessions(user_id))
    }

    fn end_session_dyn<'a>(&'a self, user_id: &'a str, id: &'a str) -> LocalBoxFuture<'a, Result<bool, ProviderError>> {
        Box::pin(self.end_session(user_id, id))
    }

    fn end_sessions_dyn<'a>(
        &'a self,
        user_id: &'a str,
        except: Option<&'a str>,
    ) -> LocalBoxFuture<'a, Result<u64, ProviderError>> {
        Box::pin(self.end_sessions(user_id, except))
    }
}

impl fmt::Debug for dyn DynSessionIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionIndex")
    }
}

/// Whether `id` could be a session handle: 1 to 64 URL-safe base64 characters. Anything else is
/// answered "no such session" without asking the store.
pub(crate) fn is_handle(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `unix` seconds as RFC 3339 in UTC.
fn rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(rfc3339(4_102_444_800), "2100-01-01T00:00:00Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn handles_are_short_and_url_safe() {
        assert!(is_handle("k3Jx-_9"));
        assert!(!is_handle(""));
        assert!(!is_handle(&"a".repeat(65)));
        assert!(!is_handle("a b"));
        assert!(!is_handle("../x"));
        assert!(!is_handle("é"));
    }
}
