//! Where second factors are kept: the [`TwoFactorStore`] trait and its in-memory
//! implementation.

use std::{
    collections::HashMap,
    fmt,
    future::Future,
    sync::{Mutex, MutexGuard, PoisonError},
};

use futures_util::future::LocalBoxFuture;

use crate::error::ProviderError;

/// One user's second factor, as a [`TwoFactorStore`] keeps it.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TwoFactorRecord {
    /// The user's id.
    pub user_id: String,
    /// The TOTP secret, encrypted (never usable as stored).
    pub secret: String,
    /// Whether the second factor is on; `false` while an enrolment waits for its first code.
    pub enabled: bool,
    /// The last TOTP time step accepted (0: none yet): a code of this step or an earlier one is
    /// refused.
    pub last_step: i64,
    /// The hashes of the unused recovery codes.
    pub recovery_codes: Vec<String>,
    /// Code attempts since the last success or password step.
    pub attempts: u32,
    /// When the enrolment began, in Unix seconds.
    pub created_at: i64,
}

impl TwoFactorRecord {
    /// A record of an enrolment that waits for its first code. For implementations of
    /// [`TwoFactorStore`].
    pub fn new(user_id: impl Into<String>, secret: impl Into<String>, created_at: i64) -> Self {
        Self {
            user_id: user_id.into(),
            secret: secret.into(),
            enabled: false,
            last_step: 0,
            recovery_codes: Vec::new(),
            attempts: 0,
            created_at,
        }
    }
}

impl fmt::Debug for TwoFactorRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwoFactorRecord")
            .field("user_id", &self.user_id)
            .field("enabled", &self.enabled)
            .field("last_step", &self.last_step)
            .field("recovery_codes", &self.recovery_codes.len())
            .field("attempts", &self.attempts)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// Keeps users' second factors: an encrypted TOTP secret, the last accepted time step, the
/// hashes of the recovery codes, and an attempt counter.
///
/// Every method that changes something is one atomic step, so that requests racing on one
/// user cannot both win: a code, or a recovery code, is accepted at most once; attempts beyond
/// the limit are refused however many run at once. Implemented in memory
/// ([`InMemoryTwoFactorStore`]) and in a database table (the Diesel `DieselTwoFactorStore`,
/// features `sqlite`, `postgres`, `mysql`).
///
/// # Examples
///
/// ```
/// # actix_rt::System::new().block_on(async {
/// use imia::two_factor::{InMemoryTwoFactorStore, TwoFactorStore};
///
/// let store = InMemoryTwoFactorStore::new();
/// assert!(store.begin("42", "v1.sealed", 1_700_000_000).await.unwrap());
/// assert!(store.enable("42", "v1.sealed", 56_666_666, &["hash".to_owned()]).await.unwrap());
/// assert!(!store.accept_step("42", 56_666_666).await.unwrap(), "the step that enabled it");
/// assert!(store.accept_step("42", 56_666_667).await.unwrap());
/// assert!(store.use_recovery_code("42", "hash").await.unwrap());
/// assert!(!store.use_recovery_code("42", "hash").await.unwrap(), "single use");
/// # });
/// ```
pub trait TwoFactorStore: Send + Sync + 'static {
    /// The user's record, enabled or waiting for its first code.
    fn find(&self, user_id: &str) -> impl Future<Output = Result<Option<TwoFactorRecord>, ProviderError>>;

    /// Starts an enrolment, or starts it over: stores `secret` as the user's secret, not enabled,
    /// with no recovery codes. Refused (`false`, nothing changed) when the user's second factor
    /// is enabled.
    fn begin(&self, user_id: &str, secret: &str, now: i64) -> impl Future<Output = Result<bool, ProviderError>>;

    /// Enables the enrolment whose secret is `secret`, with `step` as the last accepted time step
    /// and `recovery_codes` (hashes) as the recovery codes. Refused (`false`) when there is no
    /// such enrolment: another one replaced it, or it is enabled already.
    fn enable(
        &self,
        user_id: &str,
        secret: &str,
        step: i64,
        recovery_codes: &[String],
    ) -> impl Future<Output = Result<bool, ProviderError>>;

    /// Removes the user's second factor and recovery codes; whether there was one.
    fn remove(&self, user_id: &str) -> impl Future<Output = Result<bool, ProviderError>>;

    /// Accepts time step `step` for the user's enabled second factor when it comes after the last
    /// accepted one, and records it; `false` (a replay, or no second factor) otherwise.
    fn accept_step(&self, user_id: &str, step: i64) -> impl Future<Output = Result<bool, ProviderError>>;

    /// Uses the recovery code whose hash is `hash`: removes it and answers `true` when the
    /// user's enabled second factor had it.
    fn use_recovery_code(&self, user_id: &str, hash: &str) -> impl Future<Output = Result<bool, ProviderError>>;

    /// Replaces the recovery codes of the user's enabled second factor; `false` without one.
    fn replace_recovery_codes(
        &self,
        user_id: &str,
        hashes: &[String],
    ) -> impl Future<Output = Result<bool, ProviderError>>;

    /// Takes one code attempt: counts it and answers `true` while the user's count is below
    /// `max`; `false` (nothing counted) once it is reached, or without an enabled second factor.
    fn reserve_attempt(&self, user_id: &str, max: u32) -> impl Future<Output = Result<bool, ProviderError>>;

    /// Sets the user's attempt count back to zero (after a right code, or a right password).
    fn reset_attempts(&self, user_id: &str) -> impl Future<Output = Result<(), ProviderError>>;
}

/// Second factors in memory: for tests, and single-process apps that enrol nobody for real
/// (everything is lost at restart).
#[derive(Default)]
pub struct InMemoryTwoFactorStore {
    records: Mutex<HashMap<String, TwoFactorRecord>>,
}

impl fmt::Debug for InMemoryTwoFactorStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryTwoFactorStore")
            .field("records", &self.lock().len())
            .finish()
    }
}

impl InMemoryTwoFactorStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, TwoFactorRecord>> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `change` on the user's enabled record; `false` without one.
    fn with_enabled(&self, user_id: &str, change: impl FnOnce(&mut TwoFactorRecord) -> bool) -> bool {
        match self.lock().get_mut(user_id) {
            Some(record) if record.enabled => change(record),
            _ => false,
        }
    }
}

impl TwoFactorStore for InMemoryTwoFactorStore {
    async fn find(&self, user_id: &str) -> Result<Option<TwoFactorRecord>, ProviderError> {
        Ok(self.lock().get(user_id).cloned())
    }

    async fn begin(&self, user_id: &str, secret: &str, now: i64) -> Result<bool, ProviderError> {
        let mut records = self.lock();
        if records.get(user_id).is_some_and(|r| r.enabled) {
            return Ok(false);
        }
        records.insert(user_id.to_owned(), TwoFactorRecord::new(user_id, secret, now));
        Ok(true)
    }

    async fn enable(
        &self,
        user_id: &str,
        secret: &str,
        step: i64,
        recovery_codes: &[String],
    ) -> Result<bool, ProviderError> {
        Ok(match self.lock().get_mut(user_id) {
            Some(record) if !record.enabled && record.secret == secret => {
                record.enabled = true;
                record.last_step = step;
                record.recovery_codes = recovery_codes.to_vec();
                record.attempts = 0;
                true
            }
            _ => false,
        })
    }

    async fn remove(&self, user_id: &str) -> Result<bool, ProviderError> {
        Ok(self.lock().remove(user_id).is_some())
    }

    async fn accept_step(&self, user_id: &str, step: i64) -> Result<bool, ProviderError> {
        Ok(self.with_enabled(user_id, |record| {
            let later = step > record.last_step;
            if later {
                record.last_step = step;
            }
            later
        }))
    }

    async fn use_recovery_code(&self, user_id: &str, hash: &str) -> Result<bool, ProviderError> {
        Ok(self.with_enabled(user_id, |record| {
            let before = record.recovery_codes.len();
            record.recovery_codes.retain(|stored| stored != hash);
            record.recovery_codes.len() < before
        }))
    }

    async fn replace_recovery_codes(&self, user_id: &str, hashes: &[String]) -> Result<bool, ProviderError> {
        Ok(self.with_enabled(user_id, |record| {
            record.recovery_codes = hashes.to_vec();
            true
        }))
    }

    async fn reserve_attempt(&self, user_id: &str, max: u32) -> Result<bool, ProviderError> {
        Ok(self.with_enabled(user_id, |record| {
            let below = record.attempts < max;
            if below {
                record.attempts += 1;
            }
            below
        }))
    }

    async fn reset_attempts(&self, user_id: &str) -> Result<(), ProviderError> {
        if let Some(record) = self.lock().get_mut(user_id) {
            record.attempts = 0;
        }
        Ok(())
    }
}

/// A shared store is a store: one [`TwoFactorStore`] behind an `Arc` serves several owners.
impl<S: TwoFactorStore> TwoFactorStore for std::sync::Arc<S> {
    fn find(&self, user_id: &str) -> impl Future<Output = Result<Option<TwoFactorRecord>, ProviderError>> {
        S::find(self, user_id)
    }

    fn begin(&self, user_id: &str, secret: &str, now: i64) -> impl Future<Output = Result<bool, ProviderError>> {
        S::begin(self, user_id, secret, now)
    }

    fn enable(
        &self,
        user_id: &str,
        secret: &str,
        step: i64,
        recovery_codes: &[String],
    ) -> impl Future<Output = Result<bool, ProviderError>> {
        S::enable(self, user_id, secret, step, recovery_codes)
    }

    fn remove(&self, user_id: &str) -> impl Future<Output = Result<bool, ProviderError>> {
        S::remove(self, user_id)
    }

    fn accept_step(&self, user_id: &str, step: i64) -> impl Future<Output = Result<bool, ProviderError>> {
        S::accept_step(self, user_id, step)
    }

    fn use_recovery_code(&self, user_id: &str, hash: &str) -> impl Future<Output = Result<bool, ProviderError>> {
        S::use_recovery_code(self, user_id, hash)
    }

    fn replace_recovery_codes(
        &self,
        user_id: &str,
        hashes: &[String],
    ) -> impl Future<Output = Result<bool, ProviderError>> {
        S::replace_recovery_codes(self, user_id, hashes)
    }

    fn reserve_attempt(&self, user_id: &str, max: u32) -> impl Future<Output = Result<bool, ProviderError>> {
        S::reserve_attempt(self, user_id, max)
    }

    fn reset_attempts(&self, user_id: &str) -> impl Future<Output = Result<(), ProviderError>> {
        S::reset_attempts(self, user_id)
    }
}

/// The object-safe form of [`TwoFactorStore`] that [`TwoFactor`](super::TwoFactor) keeps.
pub(crate) trait DynTwoFactorStore: Send + Sync + 'static {
    fn find_dyn<'a>(&'a self, user_id: &'a str) -> LocalBoxFuture<'a, Result<Option<TwoFactorRecord>, ProviderError>>;
    fn begin_dyn<'a>(
        &'a self,
        user_id: &'a str,
        secret: &'a str,
        now: i64,
    ) -> LocalBoxFuture<'a, Result<bool, ProviderError>>;
    fn enable_dyn<'a>(
        &'a self,
        user_id: &'a str,
        secret: &'a str,
        step: i64,
        recovery_codes: &'a [String],
    ) -> LocalBoxFuture<'a, Result<bool, ProviderError>>;
    fn remove_dyn<'a>(&'a self, user_id: &'a str) -> LocalBoxFuture<'a, Result<bool, ProviderError>>;
    fn accept_step_dyn<'a>(&'a self, user_id: &'a str, step: i64) -> LocalBoxFuture<'a, Result<bool, ProviderError>>;
    fn use_recovery_code_dyn<'a>(
        &'a self,
        user_id: &'a str,
        hash: &'a str,
    ) -> LocalBoxFuture<'a, Result<bool, ProviderError>>;
    fn replace_recovery_codes_dyn<'a>(
        &'a self,
        user_id: &'a str,
        hashes: &'a [String],
    ) -> LocalBoxFuture<'a, Result<bool, ProviderError>>;
    fn reserve_attempt_dyn<'a>(&'a self, user_id: &'a str, max: u32)
    -> LocalBoxFuture<'a, Result<bool, ProviderError>>;
    fn reset_attempts_dyn<'a>(&'a self, user_id: &'a str) -> LocalBoxFuture<'a, Result<(), ProviderError>>;
}

impl<S: TwoFactorStore> DynTwoFactorStore for S {
    fn find_dyn<'a>(&'a self, user_id: &'a str) -> LocalBoxFuture<'a, Result<Option<TwoFactorRecord>, ProviderError>> {
        Box::pin(self.find(user_id))
    }

    fn begin_dyn<'a>(
        &'a self,
        user_id: &'a str,
        secret: &'a str,
        now: i64,
    ) -> LocalBoxFuture<'a, Result<bool, ProviderError>> {
        Box::pin(self.begin(user_id, secret, now))
    }

    fn enable_dyn<'a>(
        &'a self,
        user_id: &'a str,
        secret: &'a str,
        step: i64,
        recovery_codes: &'a [String],
    ) -> LocalBoxFuture<'a, Result<bool, ProviderError>> {
        Box::pin(self.enable(user_id, secret, step, recovery_codes))
    }

    fn remove_dyn<'a>(&'a self, user_id: &'a str) -> LocalBoxFuture<'a, Result<bool, ProviderError>> {
        Box::pin(self.remove(user_id))
    }

    fn accept_step_dyn<'a>(&'a self, user_id: &'a str, step: i64) -> LocalBoxFuture<'a, Result<bool, ProviderError>> {
        Box::pin(self.accept_step(user_id, step))
    }

    fn use_recovery_code_dyn<'a>(
        &'a self,
        user_id: &'a str,
        hash: &'a str,
    ) -> LocalBoxFuture<'a, Result<bool, ProviderError>> {
        Box::pin(self.use_recovery_code(user_id, hash))
    }

    fn replace_recovery_codes_dyn<'a>(
        &'a self,
        user_id: &'a str,
        hashes: &'a [String],
    ) -> LocalBoxFuture<'a, Result<bool, ProviderError>> {
        Box::pin(self.replace_recovery_codes(user_id, hashes))
    }

    fn reserve_attempt_dyn<'a>(
        &'a self,
        user_id: &'a str,
        max: u32,
    ) -> LocalBoxFuture<'a, Result<bool, ProviderError>> {
        Box::pin(self.reserve_attempt(user_id, max))
    }

    fn reset_attempts_dyn<'a>(&'a self, user_id: &'a str) -> LocalBoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(self.reset_attempts(user_id))
    }
}

/// Checks that `store` behaves as [`TwoFactorStore`] says, with `user` (and `user` followed by
/// `-other`) as users who have no second factor yet: for a store of your own, as imia checks its
/// own. Panics at the first difference.
///
/// # Examples
///
/// ```
/// # actix_rt::System::new().block_on(async {
/// use imia::{testing::check_two_factor_store, two_factor::InMemoryTwoFactorStore};
///
/// check_two_factor_store(&InMemoryTwoFactorStore::new(), "42").await;
/// # });
/// ```
///
/// # Panics
///
/// When the store fails or misbehaves.
pub async fn check_store_contract(store: &impl TwoFactorStore, user: &str) {
    let other = format!("{user}-other");
    assert!(store.find(user).await.unwrap().is_none());
    assert!(!store.accept_step(user, 1).await.unwrap(), "no second factor");
    assert!(!store.reserve_attempt(user, 5).await.unwrap(), "no second factor");
    // An enrolment, started over, then enabled with the secret it ended with.
    assert!(store.begin(user, "v1.first", 100).await.unwrap());
    assert!(store.begin(user, "v1.second", 101).await.unwrap());
    let pending = store.find(user).await.unwrap().unwrap();
    assert_eq!((pending.secret.as_str(), pending.enabled), ("v1.second", false));
    assert!(!store.accept_step(user, 1).await.unwrap(), "not enabled yet");
    assert!(!store.enable(user, "v1.first", 10, &[]).await.unwrap(), "replaced");
    let codes = vec!["a".repeat(64), "b".repeat(64)];
    assert!(store.enable(user, "v1.second", 10, &codes).await.unwrap());
    assert!(
        !store.enable(user, "v1.second", 11, &codes).await.unwrap(),
        "enabled already"
    );
    assert!(
        !store.begin(user, "v1.third", 102).await.unwrap(),
        "enabled: no new enrolment"
    );
    let record = store.find(user).await.unwrap().unwrap();
    assert!(record.enabled);
    assert_eq!((record.secret.as_str(), record.last_step), ("v1.second", 10));
    assert_eq!(record.recovery_codes.len(), 2);
    // Steps only move forward.
    assert!(!store.accept_step(user, 10).await.unwrap());
    assert!(!store.accept_step(user, 9).await.unwrap());
    assert!(store.accept_step(user, 12).await.unwrap());
    assert!(!store.accept_step(user, 11).await.unwrap());
    assert!(!store.accept_step(&other, 13).await.unwrap(), "another user has none");
    // Recovery codes: once each, for their user only.
    assert!(!store.use_recovery_code(&other, &codes[0]).await.unwrap());
    assert!(store.use_recovery_code(user, &codes[0]).await.unwrap());
    assert!(!store.use_recovery_code(user, &codes[0]).await.unwrap());
    assert_eq!(
        store.find(user).await.unwrap().unwrap().recovery_codes,
        vec![codes[1].clone()]
    );
    let fresh = vec!["c".repeat(64)];
    assert!(store.replace_recovery_codes(user, &fresh).await.unwrap());
    assert!(!store.use_recovery_code(user, &codes[1]).await.unwrap(), "replaced");
    assert!(!store.replace_recovery_codes(&other, &fresh).await.unwrap());
    // Attempts: at most `max` until reset.
    for _ in 0..3 {
        assert!(store.reserve_attempt(user, 3).await.unwrap());
    }
    assert!(!store.reserve_attempt(user, 3).await.unwrap());
    assert_eq!(store.find(user).await.unwrap().unwrap().attempts, 3);
    store.reset_attempts(user).await.unwrap();
    assert!(store.reserve_attempt(user, 3).await.unwrap());
    store.reset_attempts(&other).await.unwrap();
    // Removal.
    assert!(store.remove(user).await.unwrap());
    assert!(!store.remove(user).await.unwrap());
    assert!(store.find(user).await.unwrap().is_none());
    assert!(store.begin(user, "v1.again", 103).await.unwrap(), "can enrol again");
    assert!(store.remove(user).await.unwrap());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn in_memory_store_keeps_the_contract() {
        check_store_contract(&InMemoryTwoFactorStore::new(), "42").await;
    }

    #[test]
    fn debug_shows_no_secret() {
        let mut record = TwoFactorRecord::new("42", "v1.sealed-secret", 0);
        record.recovery_codes = vec!["hash".into()];
        let shown = format!("{record:?}");
        assert!(!shown.contains("sealed") && !shown.contains("hash"), "{shown}");
    }
}
