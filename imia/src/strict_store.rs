//! A session store wrapper that never lets a write bring a login back after the session ended.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration as Ttl;

use crate::provider::hash_token;

/// The entry [`StrictSessionStore`] adds to every state it loads: the SHA-256 of the key it
/// came from. It is removed again before anything is written.
const ORIGIN_KEY: &str = "_imia_session_origin";

/// The entry [`StrictSessionStore`] adds to every state it loads.
#[deprecated(since = "0.2.0", note = "internal to imia; the entry is `_imia_session_origin`")]
#[doc(hidden)]
pub const SESSION_ORIGIN_KEY: &str = ORIGIN_KEY;

// State entries that carry a login: `_auth_*` (user, fingerprint, remembered) and
// `_impersonat*` (a running impersonation); the session-state module owns the names.
use crate::session_state::is_login_entry as is_auth_key;

/// How long a "this session had already ended" note is kept for the request that found it.
const GONE_NOTE_TTL: Duration = Duration::from_secs(120);
/// Above this many notes, old ones are dropped on each new one.
const PRUNE_ABOVE: usize = 1024;

/// Wraps a server-side session store (Redis, a database) so that a request that began before
/// a logout and writes its session after it cannot bring the login back.
///
/// actix-session writes a session at the end of each request, from the state it loaded at the
/// start. When a concurrent logout deleted the session in between:
///
/// - a changed session goes through [`SessionStore::update`], which actix-session's
///   `RedisSessionStore` turns into a fresh save of the whole stale state when the key is gone;
/// - a renewed session ([`Session::renew`](actix_session::Session::renew): a password change,
///   impersonation start or stop, a login over an existing session) goes through
///   [`SessionStore::delete`] and then [`SessionStore::save`], which writes the stale state under
///   a new key, whatever the store.
///
/// Either way the logged-out user would be logged in again. This wrapper notices both cases
/// and writes the session without its login entries (`_auth_*`, `_impersonat*`); the other
/// values survive in a new, anonymous session:
///
/// - `update` compares the key the store answers with the key it was given: a store that had to
///   re-create the session answers a new one, which the wrapper deletes and replaces with the
///   anonymous state;
/// - `delete` first overwrites the session (an atomic "update if it exists" in every
///   server-side store) to learn whether it still existed; if not, the session's origin is
///   noted, and a `save` of a state loaded from that session (the wrapper tags every loaded
///   state with the SHA-256 of its key, under `_imia_session_origin`, and removes the tag
///   before writing) drops the login.
///
/// A logout that reaches the store *after* a concurrent request already finished renewing the
/// session ends only the old id; the browser keeps whichever cookie it receives last.
///
/// Around a cookie store it changes nothing: a cookie session cannot be revoked, and its "key"
/// (the sealed state) changes on every write, which the wrapper tells from a vanished session
/// by loading the old one.
///
/// The bookkeeping (which sessions a `delete` found already gone) lives in the wrapper: a
/// request's delete and save go through the same one, so building one per server worker is
/// fine.
///
/// # Examples
///
/// ```
/// use actix_session::{SessionMiddleware, storage::SessionStore};
/// use actix_web::cookie::Key;
/// use imia::StrictSessionStore;
///
/// /// `store` is the server-side store: actix-session's `RedisSessionStore`, imia's
/// /// `DieselSessionStore`, or your own.
/// fn sessions<S: SessionStore>(store: S, key: Key) -> SessionMiddleware<StrictSessionStore<S>> {
///     SessionMiddleware::new(StrictSessionStore::new(store), key)
/// }
/// # let _ = sessions::<actix_session::storage::CookieSessionStore>;
/// ```
///
/// # Errors
///
/// Whatever the wrapped store answers. When the existence check of `delete` fails, the session
/// is treated as gone (a following save cannot carry the login) and the delete goes on.
pub struct StrictSessionStore<S> {
    inner: S,
    ended: EndedSessions,
}

impl<S> StrictSessionStore<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            ended: EndedSessions::default(),
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S: Clone> Clone for StrictSessionStore<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            ended: self.ended.clone(),
        }
    }
}

/// Sessions (by the SHA-256 of their key) that a `delete` found already gone, kept briefly for
/// the `save` of the same request. Clones share the notes.
#[derive(Clone, Default)]
struct EndedSessions(Arc<Mutex<HashMap<String, Instant>>>);

impl EndedSessions {
    /// Notes that the session with key hash `origin` had ended before its request wrote it.
    fn note(&self, origin: String) {
        let now = Instant::now();
        let mut gone = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if gone.len() >= PRUNE_ABOVE {
            gone.retain(|_, at| now.duration_since(*at) < GONE_NOTE_TTL);
        }
        gone.insert(origin, now);
    }

    /// Whether the session with key hash `origin` was noted as ended (forgetting the note).
    fn take(&self, origin: &str) -> bool {
        let mut gone = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        gone.remove(origin).is_some_and(|at| at.elapsed() < GONE_NOTE_TTL)
    }

    /// For `save`: removes the origin tag from `state` and, when that session had ended during
    /// the request, its login entries too.
    fn settle(&self, state: &mut HashMap<String, String>) {
        let Some(origin) = take_origin(state) else { return };
        if self.take(&origin) {
            let dropped = drop_login(state);
            if dropped > 0 {
                tracing::info!(
                    dropped_auth_keys = dropped,
                    "a renewed session had ended during the request; saving it without the login"
                );
            }
        }
    }
}

impl fmt::Debug for EndedSessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndedSessions").finish_non_exhaustive()
    }
}

/// Tags a loaded state with the SHA-256 of the key it came from.
fn tag_origin(state: &mut HashMap<String, String>, key: &str) {
    let origin = serde_json::Value::String(hash_token(key)).to_string();
    state.insert(ORIGIN_KEY.to_owned(), origin);
}

/// Removes the origin tag from a state about to be written; the key hash it named.
fn take_origin(state: &mut HashMap<String, String>) -> Option<String> {
    state
        .remove(ORIGIN_KEY)
        .and_then(|v| serde_json::from_str::<String>(&v).ok())
}

/// Removes the login entries from `state`; how many there were.
fn drop_login(state: &mut HashMap<String, String>) -> usize {
    let before = state.len();
    state.retain(|name, _| !is_auth_key(name));
    before - state.len()
}

impl<S> fmt::Debug for StrictSessionStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StrictSessionStore").finish_non_exhaustive()
    }
}

/// `state` without its login entries; how many were dropped.
fn without_login(mut state: HashMap<String, String>) -> (HashMap<String, String>, usize) {
    let dropped = drop_login(&mut state);
    (state, dropped)
}

fn same_key(key: &str) -> Result<SessionKey, anyhow::Error> {
    SessionKey::try_from(key.to_owned()).map_err(|e| anyhow::anyhow!("{e}"))
}

impl<S: SessionStore> StrictSessionStore<S> {
    /// Whether the session `key` can still be loaded (a failure counts as "no").
    async fn still_there(&self, key: &str) -> bool {
        match same_key(key) {
            Ok(key) => matches!(self.inner.load(&key).await, Ok(Some(_))),
            Err(_) => false,
        }
    }
}

impl<S: SessionStore> SessionStore for StrictSessionStore<S> {
    async fn load(&self, session_key: &SessionKey) -> Result<Option<HashMap<String, String>>, LoadError> {
        let Some(mut state) = self.inner.load(session_key).await? else {
            return Ok(None);
        };
        tag_origin(&mut state, session_key.as_ref());
        Ok(Some(state))
    }

    async fn save(&self, mut session_state: HashMap<String, String>, ttl: &Ttl) -> Result<SessionKey, SaveError> {
        self.ended.settle(&mut session_state);
        self.inner.save(session_state, ttl).await
    }

    async fn update(
        &self,
        session_key: SessionKey,
        mut session_state: HashMap<String, String>,
        ttl: &Ttl,
    ) -> Result<SessionKey, UpdateError> {
        session_state.remove(ORIGIN_KEY);
        let carries_login = session_state.keys().any(|k| is_auth_key(k));
        let asked = session_key.as_ref().to_owned();
        let stored = self.inner.update(session_key, session_state.clone(), ttl).await?;
        if !carries_login || stored.as_ref() == asked || self.still_there(&asked).await {
            // Same key, or a store whose keys change on every write (a cookie store) and
            // whose session still exists.
            return Ok(stored);
        }
        // The store answered another key and the old one is gone: the session had vanished (a
        // logout deleted it) and the store re-created it. Nobody knows that key yet; replace it
        // with the state without the login.
        self.inner.delete(&stored).await.map_err(UpdateError::Other)?;
        let (state, dropped) = without_login(session_state);
        tracing::info!(
            dropped_auth_keys = dropped,
            "the session ended during the request; its other changes go to a new session, without the login"
        );
        self.inner.save(state, ttl).await.map_err(|e| match e {
            SaveError::Serialization(e) => UpdateError::Serialization(e),
            SaveError::Other(e) => UpdateError::Other(e),
        })
    }

    async fn update_ttl(&self, session_key: &SessionKey, ttl: &Ttl) -> Result<(), anyhow::Error> {
        self.inner.update_ttl(session_key, ttl).await
    }

    async fn delete(&self, session_key: &SessionKey) -> Result<(), anyhow::Error> {
        let origin = hash_token(session_key.as_ref());
        // "Update if it exists" tells whether it still did: a store answers another key when it
        // had to create the session anew.
        let claim = self
            .inner
            .update(same_key(session_key.as_ref())?, HashMap::new(), &Ttl::seconds(60))
            .await;
        match claim {
            Ok(stored) if stored.as_ref() == session_key.as_ref() => {}
            Ok(_) if self.still_there(session_key.as_ref()).await => {}
            Ok(created) => {
                self.ended.note(origin);
                self.inner.delete(&created).await?;
            }
            Err(err) => {
                tracing::warn!(error.display = %err, "could not check that a session still exists; treating it as ended");
                self.ended.note(origin);
            }
        }
        self.inner.delete(session_key).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_entries_are_recognised() {
        let state: HashMap<String, String> = [
            ("_auth_user_id", "\"1\""),
            ("_auth_user_hash", "\"h\""),
            ("_impersonated_user_id", "{}"),
            ("cart", "\"x\""),
            ("auth_user_id", "\"2\""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let (kept, dropped) = without_login(state);
        assert_eq!(dropped, 3);
        let mut names: Vec<_> = kept.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["auth_user_id", "cart"]);
    }

    #[test]
    fn ended_notes_are_taken_once() {
        let ended = EndedSessions::default();
        ended.note("a".into());
        assert!(ended.take("a"));
        assert!(!ended.take("a"));
        assert!(!ended.take("b"));
    }

    #[test]
    fn settle_drops_the_tag_and_only_an_ended_sessions_login() {
        let ended = EndedSessions::default();
        let state = |key: &str| {
            let mut state: HashMap<String, String> = [("_auth_user_id", "\"1\""), ("cart", "\"x\"")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            tag_origin(&mut state, key);
            state
        };
        let mut live = state("live-key");
        ended.settle(&mut live);
        assert_eq!(live.len(), 2, "the tag goes, the login stays: {live:?}");
        assert!(!live.contains_key(ORIGIN_KEY));

        ended.note(hash_token("ended-key"));
        let mut gone = state("ended-key");
        ended.settle(&mut gone);
        assert_eq!(gone.keys().collect::<Vec<_>>(), ["cart"]);
    }
}
