//! Argon2id password hashing (RustCrypto `argon2`).

use std::{fmt, sync::Arc};

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, Version,
    password_hash::{Output, ParamsString, SaltString},
};

mod builder;
mod memory;
mod stored;

use self::memory::WorkingMemory;
pub(crate) use self::stored::parse_stored;
pub use self::{builder::Argon2HasherBuilder, stored::ParamCeiling};
use super::{PasswordError, PasswordVerifier, bound::HashingBound};

/// OWASP's recommended argon2id memory cost: 19 MiB (19456 KiB).
pub const OWASP_MEMORY_KIB: u32 = 19_456;
/// OWASP's recommended argon2id iterations for that memory: 2.
pub const OWASP_ITERATIONS: u32 = 2;
/// OWASP's recommended argon2id parallelism: 1.
pub const OWASP_PARALLELISM: u32 = 1;
/// The longest password accepted, in bytes, unless configured: 1024. Longer ones fail
/// verification (and hashing) before any work is done.
pub const DEFAULT_MAX_PASSWORD_LEN: usize = 1024;
/// How many verifications may wait for a hashing thread unless configured: 64. Beyond that,
/// attempts fail at once with [`PasswordError::Busy`] (503).
pub const DEFAULT_MAX_QUEUE: usize = 64;

/// Hashes and verifies passwords with argon2id, off the async workers and behind a
/// concurrency bound.
///
/// - OWASP parameters by default (m = 19456 KiB, t = 2, p = 1), PHC strings
///   (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), a random 128-bit salt per hash.
/// - An optional pepper (argon2's secret input), kept out of the database.
/// - Work runs on tokio's blocking threads, at most `max_concurrent` at once (default: the
///   number of CPUs); up to `max_queue` more wait, further attempts get [`PasswordError::Busy`].
///   The bound also holds for work whose request was cancelled (a client that resets its
///   connection makes actix drop the request): a hash that has started keeps its slot until it
///   finishes, and an attempt dropped while waiting leaves the queue's capacity intact.
///   argon2's working memory (`m_cost` KiB) is kept per slot and reused, so hashing holds at
///   most `max_concurrent` × `m_cost` KiB, whichever threads run it.
/// - Passwords are taken as they are: no trimming, no case folding, no truncation; longer than
///   `max_password_len` bytes is refused before hashing.
/// - A malformed stored hash verifies as `false` (logged), never panics, never succeeds; a
///   stored hash whose parameters exceed the [`ParamCeiling`] is refused before allocating.
/// - [`needs_rehash`](Self::needs_rehash) tells when a stored hash uses other parameters, so
///   logins can upgrade it.
///
/// Cloning shares the configuration and the concurrency bound.
///
/// # Examples
///
/// ```
/// use imia::password::{Argon2Hasher, PasswordVerifier};
///
/// # actix_rt::System::new().block_on(async {
/// // Small parameters keep the example fast; use `Argon2Hasher::default()` in production.
/// let hasher = Argon2Hasher::builder().params(1024, 1, 1).build().unwrap();
/// let hash = hasher.hash("correct horse").await.unwrap();
/// assert!(hash.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
/// assert!(hasher.verify("correct horse", &hash).await.unwrap());
/// assert!(!hasher.verify("Correct horse", &hash).await.unwrap());
/// assert!(!hasher.verify("correct horse", "not a hash").await.unwrap());
/// assert!(!hasher.needs_rehash(&hash));
/// assert!(Argon2Hasher::default().needs_rehash(&hash));
/// # });
/// ```
#[derive(Clone)]
pub struct Argon2Hasher {
    inner: Arc<Inner>,
}

struct Inner {
    params: Params,
    pepper: Option<Vec<u8>>,
    max_password_len: usize,
    ceiling: ParamCeiling,
    bound: HashingBound,
    memory: WorkingMemory,
    dummy: String,
}

impl fmt::Debug for Argon2Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("Argon2Hasher")
            .field("memory_kib", &i.params.m_cost())
            .field("iterations", &i.params.t_cost())
            .field("parallelism", &i.params.p_cost())
            .field("pepper", &i.pepper.as_ref().map(|_| "<redacted>"))
            .field("max_password_len", &i.max_password_len)
            .field("max_queue", &i.bound.max_queue())
            .finish_non_exhaustive()
    }
}

impl Default for Argon2Hasher {
    /// OWASP parameters, no pepper, the other defaults.
    fn default() -> Self {
        Self::builder().build().expect("the OWASP parameters are valid")
    }
}

impl Argon2Hasher {
    /// Starts a builder with the OWASP defaults.
    pub fn builder() -> Argon2HasherBuilder {
        Argon2HasherBuilder::owasp()
    }

    /// Hashes `password` with the current parameters and a fresh random salt.
    ///
    /// # Errors
    ///
    /// [`PasswordError::TooLong`], [`PasswordError::Busy`] when too many hashes are queued, or
    /// [`PasswordError::Failed`].
    pub async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        self.check_len(password)?;
        let mut salt = [0u8; 16];
        getrandom::getrandom(&mut salt).map_err(|e| PasswordError::Failed(Box::new(e)))?;
        let password = password.to_owned();
        self.run(move |inner| {
            let salt = SaltString::encode_b64(&salt).map_err(boxed)?;
            inner.hash_blocking(&password, &salt)
        })
        .await
    }

    /// Whether `hash` should be replaced by a hash with the current parameters: another
    /// algorithm or version, other parameters, or a hash that cannot be parsed.
    pub fn needs_rehash(&self, hash: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(hash) else {
            return true;
        };
        let Ok(params) = Params::try_from(&parsed) else {
            return true;
        };
        parsed.algorithm != Algorithm::Argon2id.ident()
            || parsed.version != Some(Version::V0x13.into())
            || params.m_cost() != self.inner.params.m_cost()
            || params.t_cost() != self.inner.params.t_cost()
            || params.p_cost() != self.inner.params.p_cost()
    }

    /// [`verify`](PasswordVerifier::verify) on the calling thread, without the concurrency
    /// limit (for the fuzz targets).
    #[cfg(feature = "fuzzing")]
    pub(crate) fn verify_now(&self, password: &str, hash: &str) -> Result<bool, PasswordError> {
        self.check_len(password)?;
        self.inner.verify_blocking(password, hash)
    }

    fn check_len(&self, password: &str) -> Result<(), PasswordError> {
        if password.len() > self.inner.max_password_len {
            Err(PasswordError::TooLong)
        } else {
            Ok(())
        }
    }

    /// Runs `work` on a blocking thread within the concurrency bound (see [`HashingBound`]):
    /// once a slot is free, or fails fast when the queue is full.
    async fn run<T, F>(&self, work: F) -> Result<T, PasswordError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T, PasswordError> + Send + 'static,
    {
        let shared = Arc::clone(&self.inner);
        self.inner.bound.run(move || work(&shared)).await
    }
}

fn boxed(err: impl std::error::Error + Send + Sync + 'static) -> PasswordError {
    PasswordError::Failed(Box::new(err))
}

/// `argon2::Error` and `password_hash::Error` are not `std::error::Error` without their `std`
/// features in every version; carry their message.
#[derive(Debug)]
struct Message(String);

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Message {}
impl Inner {
    fn argon2(&self, params: Params) -> Result<Argon2<'_>, PasswordError> {
        match &self.pepper {
            Some(pepper) => Argon2::new_with_secret(pepper, Algorithm::Argon2id, Version::V0x13, params)
                .map_err(|e| boxed(Message(e.to_string()))),
            None => Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params)),
        }
    }

    /// Hashes in the calling (blocking) thread: what `argon2`'s `hash_password` does, with
    /// kept memory.
    fn hash_blocking(&self, password: &str, salt: &SaltString) -> Result<String, PasswordError> {
        let argon2 = self.argon2(self.params.clone())?;
        let salt = salt.as_salt();
        let mut salt_buf = [0u8; 64];
        let salt_bytes = salt.decode_b64(&mut salt_buf).map_err(boxed)?;
        let output_len = self.params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        let output = self
            .memory
            .with(&self.params, |memory| {
                Output::init_with(output_len, |out| {
                    Ok(argon2.hash_password_into_with_memory(password.as_bytes(), salt_bytes, out, memory)?)
                })
            })
            .map_err(boxed)?;
        let hash = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&self.params).map_err(boxed)?,
            salt: Some(salt),
            hash: Some(output),
        };
        Ok(hash.to_string())
    }

    /// Verifies in the calling (blocking) thread: what `argon2`'s `verify_password` does (the
    /// stored hash's algorithm, version, parameters and output length; a constant-time
    /// comparison), with kept memory. `Ok(false)` for anything that is not a match.
    fn verify_blocking(&self, password: &str, hash: &str) -> Result<bool, PasswordError> {
        let Some(stored) = parse_stored(hash, &self.ceiling) else {
            return Ok(false);
        };
        let (Some(salt), Some(expected)) = (stored.parsed.salt, stored.parsed.hash) else {
            return Ok(false);
        };
        let mut salt_buf = [0u8; 64];
        let Ok(salt_bytes) = salt.decode_b64(&mut salt_buf) else {
            return Ok(false);
        };
        let argon2 = match &self.pepper {
            Some(pepper) => Argon2::new_with_secret(pepper, stored.algorithm, stored.version, stored.params.clone())
                .map_err(|e| boxed(Message(e.to_string())))?,
            None => Argon2::new(stored.algorithm, stored.version, stored.params.clone()),
        };
        let computed = self.memory.with(&stored.params, |memory| {
            Output::init_with(expected.len(), |out| {
                Ok(argon2.hash_password_into_with_memory(password.as_bytes(), salt_bytes, out, memory)?)
            })
        });
        // `Output`'s equality is constant-time.
        Ok(computed.is_ok_and(|computed| computed == expected))
    }
}

impl PasswordVerifier for Argon2Hasher {
    async fn verify(&self, password: &str, hash: &str) -> Result<bool, PasswordError> {
        self.check_len(password)?;
        if hash.is_empty() {
            return Ok(false);
        }
        let (password, hash) = (password.to_owned(), hash.to_owned());
        self.run(move |inner| inner.verify_blocking(&password, &hash)).await
    }

    fn dummy_hash(&self) -> &str {
        &self.inner.dummy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> Argon2Hasher {
        Argon2Hasher::builder().params(64, 1, 1).build().unwrap()
    }

    pub(super) fn block<F: std::future::Future>(f: F) -> F::Output {
        actix_rt::System::new().block_on(f)
    }

    #[test]
    fn round_trip_and_exactness() {
        block(async {
            let h = fast();
            for pw in ["p", "pa$$word", " spaced ", "ÜNICODE ✓ 密码", "a:b:c"] {
                let hash = h.hash(pw).await.unwrap();
                assert!(h.verify(pw, &hash).await.unwrap(), "{pw:?}");
                assert!(!h.verify(pw.trim(), &hash).await.unwrap() || pw.trim() == pw);
                assert!(!h.verify(&pw.to_uppercase(), &hash).await.unwrap() || pw.to_uppercase() == pw);
            }
            let a = h.hash("same").await.unwrap();
            let b = h.hash("same").await.unwrap();
            assert_ne!(a, b, "salts differ");
        });
    }

    #[test]
    fn malformed_and_hostile_hashes_never_match() {
        block(async {
            let h = fast();
            for bad in [
                "",
                "plain",
                "$argon2id$",
                "$argon2id$v=19$m=64,t=1,p=1$$",
                "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$",
                "$bcrypt$whatever",
                "$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
                "$argon2id$v=19$m=64,t=4294967295,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
                "$argon2id$v=19$m=64,t=1,p=255$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
            ] {
                assert!(!h.verify("password", bad).await.unwrap(), "{bad:?}");
            }
            assert!(!h.verify("password", h.dummy_hash()).await.unwrap());
        });
    }

    #[test]
    fn long_passwords_are_refused_before_hashing() {
        block(async {
            let h = Argon2Hasher::builder()
                .params(64, 1, 1)
                .max_password_len(8)
                .build()
                .unwrap();
            assert!(matches!(h.hash("123456789").await, Err(PasswordError::TooLong)));
            let hash = h.hash("12345678").await.unwrap();
            assert!(matches!(
                h.verify("123456789", &hash).await,
                Err(PasswordError::TooLong)
            ));
        });
    }

    #[test]
    fn pepper_is_required_to_verify() {
        block(async {
            let peppered = Argon2Hasher::builder()
                .params(64, 1, 1)
                .pepper(b"s3cret".to_vec())
                .build()
                .unwrap();
            let hash = peppered.hash("pw").await.unwrap();
            assert!(peppered.verify("pw", &hash).await.unwrap());
            assert!(!fast().verify("pw", &hash).await.unwrap());
            assert!(!format!("{peppered:?}").contains("s3cret"));
        });
    }

    #[test]
    fn rehash_is_needed_when_parameters_change() {
        block(async {
            let old = fast();
            let hash = old.hash("pw").await.unwrap();
            assert!(!old.needs_rehash(&hash));
            let new = Argon2Hasher::builder().params(128, 1, 1).build().unwrap();
            assert!(new.needs_rehash(&hash));
            assert!(new.verify("pw", &hash).await.unwrap(), "old hashes still verify");
            assert!(new.needs_rehash("garbage"));
        });
    }

    #[test]
    fn a_full_queue_answers_busy() {
        block(async {
            let h = Argon2Hasher::builder()
                .params(8192, 3, 1)
                .max_concurrent(1)
                .max_queue(2)
                .build()
                .unwrap();
            let hash = h.hash("pw").await.unwrap();
            let attempts = (0..12).map(|_| {
                let h = h.clone();
                let hash = hash.clone();
                async move { h.verify("pw", &hash).await }
            });
            let results = futures_util::future::join_all(attempts).await;
            let ok = results.iter().filter(|r| matches!(r, Ok(true))).count();
            let busy = results.iter().filter(|r| matches!(r, Err(PasswordError::Busy))).count();
            assert_eq!(ok + busy, 12, "every attempt either succeeds or is refused as busy");
            assert!(ok >= 3, "the running one and the queued ones succeed: {ok}");
            assert!(busy >= 1, "beyond the queue, attempts are refused: {busy}");
        });
    }

    /// Hashing and verifying with kept memory give what `argon2`'s own `hash_password` and
    /// `verify_password` give, for every stored shape that may be verified.
    #[test]
    fn kept_memory_matches_the_argon2_crate() {
        use argon2::{PasswordHasher as _, PasswordVerifier as _};
        block(async {
            let h = Argon2Hasher::builder().params(64, 2, 1).build().unwrap();
            let ours = h.hash("pw").await.unwrap();
            let stock = Argon2::new(
                Algorithm::Argon2id,
                Version::V0x13,
                Params::new(64, 2, 1, None).unwrap(),
            );
            let parsed = PasswordHash::new(&ours).unwrap();
            assert!(stock.verify_password(b"pw", &parsed).is_ok(), "{ours}");
            assert!(stock.verify_password(b"pW", &parsed).is_err());
            let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
            for (algorithm, version, m, t, p, len) in [
                (Algorithm::Argon2id, Version::V0x13, 64, 2, 1, 32),
                (Algorithm::Argon2id, Version::V0x13, 256, 1, 2, 64), // more memory than kept
                (Algorithm::Argon2id, Version::V0x13, 32, 3, 1, 16),
                (Algorithm::Argon2i, Version::V0x13, 64, 2, 1, 32),
                (Algorithm::Argon2d, Version::V0x10, 64, 2, 1, 32),
            ] {
                let params = Params::new(m, t, p, Some(len)).unwrap();
                let stored = Argon2::new(algorithm, version, params)
                    .hash_password(b"pw", &salt)
                    .unwrap()
                    .to_string();
                assert!(h.verify("pw", &stored).await.unwrap(), "{stored}");
                assert!(!h.verify("pw ", &stored).await.unwrap(), "{stored}");
            }
            let peppered = Argon2Hasher::builder()
                .params(64, 2, 1)
                .pepper(b"pep".to_vec())
                .build()
                .unwrap();
            let ours = peppered.hash("pw").await.unwrap();
            let stock = Argon2::new_with_secret(
                b"pep",
                Algorithm::Argon2id,
                Version::V0x13,
                Params::new(64, 2, 1, None).unwrap(),
            )
            .unwrap();
            assert!(stock.verify_password(b"pw", &PasswordHash::new(&ours).unwrap()).is_ok());
        });
    }
}
