//! Second factors: TOTP codes (RFC 6238) and recovery codes, built into the login flow so that
//! no path authenticates a user who has one by password alone (feature `two-factor`).
//!
//! - [`TwoFactor`] keeps the second factors ([`TwoFactorStore`]: in memory, or the Diesel
//!   `DieselTwoFactorStore`), encrypts TOTP secrets at rest, checks codes once each, and hashes
//!   recovery codes. Give it to the [`LoginManager`](crate::login::LoginManager)
//!   ([`two_factor`](crate::login::LoginManagerBuilder::two_factor)).
//! - **The two-step login.** For a user with a second factor, a right password does not log in:
//!   [`Auth::login_with`](crate::Auth::login_with) answers
//!   [`LoginError::SecondFactorRequired`](crate::login::LoginError::SecondFactorRequired) and
//!   the session holds only a *pending login* (5 minutes, bound to the user and their password
//!   fingerprint), which every authenticator and extractor treats as anonymous.
//!   [`Auth::complete_login`](crate::Auth::complete_login) takes a TOTP or a recovery code,
//!   renews the session id, logs the user in and only then issues the remember-me cookie when
//!   the first step asked for it. Five wrong codes end the pending login, and each counts
//!   towards the login throttle.
//! - **Enrolment** ([`Auth::begin_two_factor`](crate::Auth::begin_two_factor), then
//!   [`Auth::confirm_two_factor`](crate::Auth::confirm_two_factor) with a first code) and
//!   **removal** ([`Auth::disable_two_factor`](crate::Auth::disable_two_factor), with the
//!   password) need a fresh login, not a remembered one, and end the user's other sessions.
//! - **HTTP Basic** refuses users with a second factor exactly like a wrong password. API keys
//!   and bearer tokens are credentials of their own and keep working: issue them only to those
//!   who should have them.
//! - **Handlers** that need a login which passed a second factor take
//!   [`SecondFactorUser`](crate::SecondFactorUser) or use `#[protected(second_factor)]`;
//!   [`UserToken::passed_second_factor`](crate::UserToken::passed_second_factor) tells.
//!
//! Audit events (`tracing`, targets `imia::two_factor` and `imia::login::two_factor`): `second factor enrolled`,
//! `second factor removed`, `second factor code accepted`, `second factor code refused`,
//! `recovery code used`, `recovery codes regenerated`, `pending login expired`.
//!
//! # Examples
//!
//! ```
//! use imia::{SecretKey, UserLike, login::LoginManager, password::Argon2Hasher, provider::InMemoryProvider,
//!            two_factor::{InMemoryTwoFactorStore, TwoFactor}};
//!
//! #[derive(Clone, UserLike)]
//! struct User { id: u32, email: String, password_hash: String, security_stamp: String }
//!
//! let secret = SecretKey::generate();
//! let users = InMemoryProvider::new(Vec::<User>::new());
//! let two_factor = TwoFactor::new(InMemoryTwoFactorStore::new(), &secret).issuer("Example");
//! let logins = LoginManager::builder(users, Argon2Hasher::default(), secret)
//!     .two_factor(two_factor)
//!     .build();
//! # let _ = logins;
//! ```

use std::{fmt, sync::Arc, time::Duration};

use crate::{SecretKey, crypto::unix_now, error::ProviderError};

mod cipher;
mod error;
mod recovery;
pub(crate) mod store;
mod totp;

use self::{cipher::SecretCipher, recovery::RecoveryHasher, store::DynTwoFactorStore};
pub use self::{
    error::TwoFactorError,
    recovery::{RECOVERY_CODES, RecoveryCodes},
    store::{InMemoryTwoFactorStore, TwoFactorRecord, TwoFactorStore},
    totp::{DIGITS, SECRET_LEN, SKEW_STEPS, STEP_SECS, TotpSecret},
};

/// How long a pending login waits for its second factor by default: 5 minutes.
pub const DEFAULT_PENDING_TTL: Duration = Duration::from_secs(300);
/// How many wrong codes end a pending login by default: 5.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

/// The app's second factors: where they are kept, how their secrets are sealed, what an
/// authenticator app shows as the issuer, and the rules of the pending login.
///
/// Cloning is cheap. See the [module documentation](self) for the flow.
#[derive(Clone)]
pub struct TwoFactor {
    store: Arc<dyn DynTwoFactorStore>,
    keys: Arc<Keys>,
    issuer: Arc<str>,
    pending_ttl: Duration,
    max_attempts: u32,
}

struct Keys {
    cipher: SecretCipher,
    recovery: RecoveryHasher,
}

impl fmt::Debug for TwoFactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwoFactor")
            .field("issuer", &self.issuer)
            .field("pending_ttl", &self.pending_ttl)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

/// A started enrolment: what the user's authenticator app needs, shown once.
///
/// Its `Debug` never shows the secret.
#[derive(Clone)]
pub struct Enrolment {
    secret: TotpSecret,
    uri: String,
    qr_svg: String,
}

impl fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Enrolment(<redacted>)")
    }
}

impl Enrolment {
    /// The secret in base32, for typing into an app by hand.
    pub fn secret_base32(&self) -> String {
        self.secret.to_base32()
    }

    /// The `otpauth://totp/...` URI.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The URI as a QR code: an inline `<svg>` element.
    pub fn qr_svg(&self) -> &str {
        &self.qr_svg
    }

    /// The secret itself.
    pub fn secret(&self) -> &TotpSecret {
        &self.secret
    }
}

/// Which second factor a code was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verified {
    /// A TOTP code from the authenticator app.
    Totp,
    /// A recovery code, now used up; `remaining` are left.
    RecoveryCode {
        /// Unused recovery codes left.
        remaining: usize,
    },
}

impl TwoFactor {
    /// Second factors kept in `store`, their secrets sealed under a key derived from `secret`
    /// (the app's key: changing it makes every enrolled secret unreadable). Issuer `imia`,
    /// pending logins of 5 minutes, 5 attempts.
    pub fn new(store: impl TwoFactorStore, secret: &SecretKey) -> Self {
        Self {
            store: Arc::new(store),
            keys: Arc::new(Keys {
                cipher: SecretCipher::new(secret),
                recovery: RecoveryHasher::new(secret),
            }),
            issuer: "imia".into(),
            pending_ttl: DEFAULT_PENDING_TTL,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }

    /// The name authenticator apps show beside the account: the app's name. Default `imia`.
    #[must_use]
    pub fn issuer(mut self, issuer: &str) -> Self {
        self.issuer = issuer.into();
        self
    }

    /// How long a pending login waits for its second factor. Default: 5 minutes.
    #[must_use]
    pub fn pending_ttl(mut self, ttl: Duration) -> Self {
        self.pending_ttl = ttl;
        self
    }

    /// How many wrong codes end a pending login (at least 1). Default: 5.
    #[must_use]
    pub fn max_attempts(mut self, max: u32) -> Self {
        self.max_attempts = max.max(1);
        self
    }

    /// How long a pending login waits.
    pub(crate) fn pending_ttl_value(&self) -> Duration {
        self.pending_ttl
    }

    /// How many wrong codes end a pending login.
    pub(crate) fn max_attempts_value(&self) -> u32 {
        self.max_attempts
    }

    /// Whether the user with id `user_id` has a second factor on.
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn is_enabled(&self, user_id: &str) -> Result<bool, ProviderError> {
        Ok(self.store.find_dyn(user_id).await?.is_some_and(|r| r.enabled))
    }

    /// How many unused recovery codes the user has; `None` without a second factor.
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn recovery_codes_left(&self, user_id: &str) -> Result<Option<usize>, ProviderError> {
        Ok(self
            .store
            .find_dyn(user_id)
            .await?
            .filter(|r| r.enabled)
            .map(|r| r.recovery_codes.len()))
    }

    /// Starts an enrolment for the user with id `user_id`, shown in apps as `account` (their
    /// e-mail address, say): a new secret, replacing one that waits for confirmation. The
    /// request-level rules (a fresh login) are [`Auth::begin_two_factor`](crate::Auth::begin_two_factor)'s.
    ///
    /// # Errors
    ///
    /// [`TwoFactorError::AlreadyEnabled`] when the user has a second factor on,
    /// [`TwoFactorError::Provider`] when the store fails.
    pub async fn begin(&self, user_id: &str, account: &str) -> Result<Enrolment, TwoFactorError> {
        let secret = TotpSecret::generate();
        let sealed = self
            .keys
            .cipher
            .seal(user_id, secret.as_bytes())
            .map_err(|e| TwoFactorError::Internal(Box::new(e)))?;
        if !self.store.begin_dyn(user_id, &sealed, unix_now()).await? {
            return Err(TwoFactorError::AlreadyEnabled);
        }
        let uri = secret.uri(&self.issuer, account);
        let qr_svg = secret.qr_svg(&self.issuer, account);
        tracing::info!(user.id = %user_id, "second factor enrolment started");
        Ok(Enrolment { secret, uri, qr_svg })
    }

    /// Completes the user's enrolment with a first `code` from their app: the second factor is
    /// on, and these are the recovery codes, to show once.
    ///
    /// # Errors
    ///
    /// [`TwoFactorError::InvalidCode`] for a wrong code (nothing enabled),
    /// [`TwoFactorError::NoEnrolment`] without a started enrolment (or when another one
    /// replaced it meanwhile), [`TwoFactorError::AlreadyEnabled`], [`TwoFactorError::Provider`].
    pub async fn confirm(&self, user_id: &str, code: &str) -> Result<RecoveryCodes, TwoFactorError> {
        let record = match self.store.find_dyn(user_id).await? {
            Some(record) if record.enabled => return Err(TwoFactorError::AlreadyEnabled),
            Some(record) => record,
            None => return Err(TwoFactorError::NoEnrolment),
        };
        let secret = self.open(&record)?;
        let Some(step) = secret.verify(code, now_secs()) else {
            tracing::info!(user.id = %user_id, stage = "enrolment", "second factor code refused");
            return Err(TwoFactorError::InvalidCode);
        };
        let codes = RecoveryCodes::generate();
        let hashes = codes.hashes(&self.keys.recovery, user_id);
        let step = i64::try_from(step).unwrap_or(i64::MAX);
        if !self.store.enable_dyn(user_id, &record.secret, step, &hashes).await? {
            return Err(TwoFactorError::NoEnrolment);
        }
        tracing::info!(user.id = %user_id, "second factor enrolled");
        Ok(codes)
    }

    /// Removes the user's second factor and recovery codes; whether there was one. The
    /// request-level rules (a fresh login, the password) are
    /// [`Auth::disable_two_factor`](crate::Auth::disable_two_factor)'s.
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn remove(&self, user_id: &str) -> Result<bool, ProviderError> {
        let removed = self.store.remove_dyn(user_id).await?;
        if removed {
            tracing::info!(user.id = %user_id, "second factor removed");
        }
        Ok(removed)
    }

    /// New recovery codes for the user, replacing every old one.
    ///
    /// # Errors
    ///
    /// [`TwoFactorError::NotEnabled`] without a second factor, [`TwoFactorError::Provider`].
    pub async fn regenerate_recovery_codes(&self, user_id: &str) -> Result<RecoveryCodes, TwoFactorError> {
        let codes = RecoveryCodes::generate();
        let hashes = codes.hashes(&self.keys.recovery, user_id);
        if !self.store.replace_recovery_codes_dyn(user_id, &hashes).await? {
            return Err(TwoFactorError::NotEnabled);
        }
        tracing::info!(user.id = %user_id, "recovery codes regenerated");
        Ok(codes)
    }

    /// Checks `code`, a TOTP code or a recovery code, against the user's second factor and uses
    /// it up: a TOTP code of a time step at or before the last one accepted is refused (no
    /// replay), a recovery code works once. `None` when it is neither.
    ///
    /// This is the bare check: [`Auth::complete_login`](crate::Auth::complete_login) adds the
    /// attempt limit and the throttle. Use it directly to ask for a code again before a
    /// sensitive action ("step-up"), behind a throttle of your own.
    ///
    /// # Errors
    ///
    /// [`TwoFactorError::NotEnabled`] without a second factor, [`TwoFactorError::Provider`].
    pub async fn verify(&self, user_id: &str, code: &str) -> Result<Option<Verified>, TwoFactorError> {
        let record = match self.store.find_dyn(user_id).await? {
            Some(record) if record.enabled => record,
            _ => return Err(TwoFactorError::NotEnabled),
        };
        let typed = code.trim();
        if typed.len() <= DIGITS + 2 && typed.bytes().all(|b| b.is_ascii_digit() || b == b' ' || b == b'-') {
            let secret = self.open(&record)?;
            let Some(step) = secret.verify(typed, now_secs()) else {
                tracing::info!(user.id = %user_id, reason = "wrong code", "second factor code refused");
                return Ok(None);
            };
            let step = i64::try_from(step).unwrap_or(i64::MAX);
            if self.store.accept_step_dyn(user_id, step).await? {
                tracing::info!(user.id = %user_id, method = "totp", "second factor code accepted");
                return Ok(Some(Verified::Totp));
            }
            tracing::warn!(user.id = %user_id, reason = "replayed code", "second factor code refused");
            return Ok(None);
        }
        let Some(hash) = self.keys.recovery.hash(user_id, typed) else {
            tracing::info!(user.id = %user_id, reason = "not a code", "second factor code refused");
            return Ok(None);
        };
        if self.store.use_recovery_code_dyn(user_id, &hash).await? {
            let remaining = record.recovery_codes.len().saturating_sub(1);
            tracing::warn!(user.id = %user_id, remaining, "recovery code used");
            return Ok(Some(Verified::RecoveryCode { remaining }));
        }
        tracing::info!(user.id = %user_id, reason = "unknown recovery code", "second factor code refused");
        Ok(None)
    }

    /// Takes one code attempt for the user: `false` once [`max_attempts`](Self::max_attempts)
    /// were taken since the last reset.
    pub(crate) async fn reserve_attempt(&self, user_id: &str) -> Result<bool, ProviderError> {
        self.store.reserve_attempt_dyn(user_id, self.max_attempts).await
    }

    /// Sets the user's attempt count back to zero.
    pub(crate) async fn reset_attempts(&self, user_id: &str) -> Result<(), ProviderError> {
        self.store.reset_attempts_dyn(user_id).await
    }

    /// The TOTP secret of `record`.
    fn open(&self, record: &TwoFactorRecord) -> Result<TotpSecret, TwoFactorError> {
        self.keys
            .cipher
            .open(&record.user_id, &record.secret)
            .and_then(|bytes| TotpSecret::from_bytes(&bytes))
            .ok_or_else(|| {
                tracing::error!(

                    user.id = %record.user_id,
                    "the stored second-factor secret does not open: was the secret key changed?"
                );
                TwoFactorError::Internal("the stored second-factor secret does not open".into())
            })
    }
}

/// Now, in Unix seconds, for TOTP.
fn now_secs() -> u64 {
    u64::try_from(unix_now()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_factor() -> (TwoFactor, SecretKey) {
        let key = SecretKey::generate();
        (TwoFactor::new(InMemoryTwoFactorStore::new(), &key).issuer("Test"), key)
    }

    #[actix_rt::test]
    async fn enrolment_needs_a_valid_first_code() {
        let (tf, _) = two_factor();
        assert!(matches!(
            tf.confirm("1", "123456").await,
            Err(TwoFactorError::NoEnrolment)
        ));
        let first = tf.begin("1", "ann@example.com").await.unwrap();
        assert!(first.uri().starts_with("otpauth://totp/Test:ann%40example.com?secret="));
        assert!(first.qr_svg().starts_with("<svg"));
        assert_eq!(format!("{first:?}"), "Enrolment(<redacted>)");
        // Setup again: the first secret is replaced.
        let second = tf.begin("1", "ann@example.com").await.unwrap();
        assert_ne!(first.secret_base32(), second.secret_base32());
        let now = now_secs();
        let stale = first.secret().code_at(now);
        if stale != second.secret().code_at(now) {
            assert!(matches!(
                tf.confirm("1", &stale).await,
                Err(TwoFactorError::InvalidCode)
            ));
        }
        assert!(!tf.is_enabled("1").await.unwrap());
        let codes = tf.confirm("1", &second.secret().code_at(now)).await.unwrap();
        assert_eq!(codes.len(), RECOVERY_CODES);
        assert!(tf.is_enabled("1").await.unwrap());
        assert_eq!(tf.recovery_codes_left("1").await.unwrap(), Some(10));
        assert!(matches!(tf.begin("1", "x").await, Err(TwoFactorError::AlreadyEnabled)));
        // The code that enabled it cannot log in: its step is used.
        assert_eq!(tf.verify("1", &second.secret().code_at(now)).await.unwrap(), None);
    }

    #[actix_rt::test]
    async fn codes_are_accepted_once() {
        let (tf, _) = two_factor();
        let enrolment = tf.begin("1", "ann").await.unwrap();
        let now = now_secs();
        let codes = tf.confirm("1", &enrolment.secret().code_at(now - 30)).await.unwrap();
        let code = enrolment.secret().code_at(now);
        assert_eq!(tf.verify("1", &code).await.unwrap(), Some(Verified::Totp));
        assert_eq!(tf.verify("1", &code).await.unwrap(), None, "replayed");
        let wrong = if code == "000000" { "111111" } else { "000000" };
        assert_eq!(tf.verify("1", wrong).await.unwrap(), None);
        let recovery = codes.as_slice()[3].clone();
        assert_eq!(
            tf.verify("1", &recovery.to_uppercase()).await.unwrap(),
            Some(Verified::RecoveryCode { remaining: 9 })
        );
        assert_eq!(tf.verify("1", &recovery).await.unwrap(), None, "used");
        assert_eq!(tf.verify("1", "not a code at all").await.unwrap(), None);
        assert!(matches!(tf.verify("2", &code).await, Err(TwoFactorError::NotEnabled)));
        // Regenerating replaces every code.
        let fresh = tf.regenerate_recovery_codes("1").await.unwrap();
        assert_eq!(tf.verify("1", &codes.as_slice()[0]).await.unwrap(), None);
        assert!(tf.verify("1", &fresh.as_slice()[0]).await.unwrap().is_some());
        assert!(tf.remove("1").await.unwrap());
        assert!(!tf.is_enabled("1").await.unwrap());
        assert!(matches!(
            tf.regenerate_recovery_codes("1").await,
            Err(TwoFactorError::NotEnabled)
        ));
    }

    #[actix_rt::test]
    async fn secrets_are_sealed_at_rest() {
        let key = SecretKey::generate();
        let store = Arc::new(InMemoryTwoFactorStore::new());
        let tf = TwoFactor::new(Arc::clone(&store), &key);
        let enrolment = tf.begin("1", "ann").await.unwrap();
        let record = store.find("1").await.unwrap().unwrap();
        assert!(!record.secret.contains(&enrolment.secret_base32()));
        assert!(record.secret.starts_with("v1."));
        // Under another key, the secret does not open: an error, never a code accepted.
        let other = TwoFactor::new(Arc::clone(&store), &SecretKey::generate());
        assert!(matches!(
            other.confirm("1", "123456").await,
            Err(TwoFactorError::Internal(_))
        ));
    }
}
