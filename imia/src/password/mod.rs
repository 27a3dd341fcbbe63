//! Password hashing and verification.
//!
//! Authenticators that check passwords (HTTP Basic, the login flow) go through a
//! [`PasswordVerifier`]. [`Argon2Hasher`] is the one to use (argon2id, OWASP parameters);
//! [`InsecurePlaintextVerifier`] exists for tests and examples only. [`PasswordPolicy`] says
//! what a new password must be.

use std::{fmt, future::Future};

pub(crate) mod argon2;
mod bound;
mod policy;

pub use self::argon2::{
    Argon2Hasher, Argon2HasherBuilder, DEFAULT_MAX_PASSWORD_LEN, DEFAULT_MAX_QUEUE, OWASP_ITERATIONS, OWASP_MEMORY_KIB,
    OWASP_PARALLELISM, ParamCeiling,
};
pub use self::policy::{DEFAULT_MIN_PASSWORD_CHARS, PasswordPolicy, PolicyViolation};

use crate::error::BoxError;

/// Checks a password against a stored hash.
///
/// # Security
///
/// Implementations compare in constant time, never log the password or the hash, and answer
/// `Ok(false)` (not an error) for a hash they cannot parse: a broken stored hash must not be
/// mistaken for an outage, nor ever for a match.
///
/// When the user does not exist, imia still verifies the offered password once against
/// [`dummy_hash`](PasswordVerifier::dummy_hash), so that unknown users cost the same time as
/// known ones.
///
/// # Examples
///
/// ```
/// use imia::password::{InsecurePlaintextVerifier, PasswordVerifier};
///
/// # actix_rt::System::new().block_on(async {
/// let v = InsecurePlaintextVerifier;
/// assert!(v.verify("pa$$word", "pa$$word").await.unwrap());
/// assert!(!v.verify("pa$$word", "other").await.unwrap());
/// assert!(!v.verify("", "").await.unwrap()); // an empty hash never matches
/// # });
/// ```
pub trait PasswordVerifier: Send + Sync + 'static {
    /// Whether `password` matches `hash`. An empty `hash` must never match.
    fn verify(&self, password: &str, hash: &str) -> impl Future<Output = Result<bool, PasswordError>>;

    /// A hash made with the current parameters, verified against when the user is unknown or has
    /// no usable password, to spend the same work. Its result is ignored.
    fn dummy_hash(&self) -> &str {
        ""
    }
}

/// Makes password hashes, for sign-up, password changes and rehashing on login.
///
/// [`Argon2Hasher`] implements it; so does [`InsecurePlaintextVerifier`] (its "hash" is the
/// password, for tests only).
///
/// # Examples
///
/// A sign-up step written once for any hasher (tests can pass the plain-text one):
///
/// ```
/// use imia::password::{Argon2Hasher, InsecurePlaintextVerifier, PasswordError, PasswordHasher, PasswordVerifier};
///
/// async fn new_password_hash<H: PasswordHasher>(hasher: &H, password: &str) -> Result<String, PasswordError> {
///     hasher.hash(password).await
/// }
///
/// # actix_rt::System::new().block_on(async {
/// let argon2 = Argon2Hasher::builder().params(1024, 1, 1).build().unwrap();
/// let hash = new_password_hash(&argon2, "correct horse").await.unwrap();
/// assert!(argon2.verify("correct horse", &hash).await.unwrap());
/// assert_eq!(new_password_hash(&InsecurePlaintextVerifier, "pw").await.unwrap(), "pw");
/// # });
/// ```
pub trait PasswordHasher: PasswordVerifier {
    /// Hashes `password` with the current parameters.
    fn hash(&self, password: &str) -> impl Future<Output = Result<String, PasswordError>>;

    /// Whether a stored hash was made with other parameters and should be replaced after the
    /// next successful login. Default: never.
    fn needs_rehash(&self, hash: &str) -> bool {
        let _ = hash;
        false
    }
}

impl PasswordHasher for Argon2Hasher {
    fn hash(&self, password: &str) -> impl Future<Output = Result<String, PasswordError>> {
        Argon2Hasher::hash(self, password)
    }

    fn needs_rehash(&self, hash: &str) -> bool {
        Argon2Hasher::needs_rehash(self, hash)
    }
}

impl PasswordHasher for InsecurePlaintextVerifier {
    async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        Ok(password.to_owned())
    }
}

/// Password verification could not run.
///
/// # Examples
///
/// ```
/// use imia::password::{Argon2Hasher, PasswordError, PasswordVerifier};
///
/// # actix_rt::System::new().block_on(async {
/// let hasher = Argon2Hasher::builder().params(1024, 1, 1).max_password_len(16).build().unwrap();
/// let err = hasher.verify(&"x".repeat(17), "$argon2id$...").await.unwrap_err();
/// assert!(matches!(err, PasswordError::TooLong)); // logins treat it as a wrong password
/// # });
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// The password is longer than the verifier accepts. Treated as a wrong password.
    #[error("password too long")]
    TooLong,
    /// Too many verifications are queued; try again later. Answers 503.
    #[error("password verification is saturated")]
    Busy,
    /// The verifier failed for another reason. Answers 500.
    #[error("password verification failed")]
    Failed(#[source] BoxError),
}

/// Compares passwords as plain text, in constant time. **Insecure**: it expects the stored
/// "hash" to be the password itself. For tests and examples only.
///
/// # Examples
///
/// ```
/// use imia::{SecretKey, UserLike, login::LoginManager, password::InsecurePlaintextVerifier, provider::InMemoryProvider};
///
/// #[derive(Clone, UserLike)]
/// struct User { id: u32, email: String, password_hash: String }
///
/// // In a test: the stored "hash" is the password, and no argon2 work slows the suite down.
/// let users = InMemoryProvider::new([User { id: 1, email: "ann@example.com".into(), password_hash: "pw".into() }]);
/// let logins = LoginManager::new(users, InsecurePlaintextVerifier, SecretKey::generate());
/// # let _ = logins;
/// ```
#[derive(Clone, Copy, Default)]
pub struct InsecurePlaintextVerifier;

impl fmt::Debug for InsecurePlaintextVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InsecurePlaintextVerifier")
    }
}

impl PasswordVerifier for InsecurePlaintextVerifier {
    async fn verify(&self, password: &str, hash: &str) -> Result<bool, PasswordError> {
        Ok(constant_time_eq(password.as_bytes(), hash.as_bytes()) && !hash.is_empty())
    }
}

/// The one password check that every login path runs (the login form, HTTP Basic, password
/// changes): whether `password` is the password of `user`.
///
/// - A user who is unknown (`None`), inactive or without a password hash is never a match;
/// - the verifier runs exactly once whatever happens, against the user's hash or, when there is
///   no usable one, against [`dummy_hash`](PasswordVerifier::dummy_hash), so that the work done
///   does not tell which usernames exist;
/// - a password longer than the verifier accepts is a wrong password, not an error.
///
/// Errors are the verifier's other failures (busy, broken).
pub(crate) async fn check_password<U, V>(verifier: &V, user: Option<&U>, password: &str) -> Result<bool, PasswordError>
where
    U: crate::UserLike + ?Sized,
    V: PasswordVerifier + ?Sized,
{
    let usable = user.filter(|u| u.is_active() && !u.hashed_password().is_empty());
    let hash = usable.map_or_else(|| verifier.dummy_hash(), |u| u.hashed_password());
    match verifier.verify(password, hash).await {
        Ok(matched) => Ok(matched && usable.is_some()),
        Err(PasswordError::TooLong) => Ok(false),
        Err(err) => Err(err),
    }
}

/// The work of one password check spent on nothing, for an attempt refused before its password
/// is looked at (a throttled username): the refusal then costs what a wrong password costs.
pub(crate) async fn spend_one_check<V: PasswordVerifier + ?Sized>(
    verifier: &V,
    password: &str,
) -> Result<(), PasswordError> {
    match verifier.verify(password, verifier.dummy_hash()).await {
        Ok(_) | Err(PasswordError::TooLong) => Ok(()),
        Err(err) => Err(err),
    }
}

pub(crate) use crate::crypto::constant_time_eq;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_verifier_matches_exactly() {
        actix_rt::System::new().block_on(async {
            let v = InsecurePlaintextVerifier;
            assert!(v.verify("a:b", "a:b").await.unwrap());
            assert!(!v.verify("a:b", "a:B").await.unwrap());
            assert!(!v.verify("a", "a ").await.unwrap());
            assert!(!v.verify("", "").await.unwrap());
            assert_eq!(v.dummy_hash(), "");
        });
    }
}
