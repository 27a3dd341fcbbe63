//! [`Argon2HasherBuilder`]: the hasher's settings, checked once.

use std::{fmt, sync::Arc};

use argon2::{
    Params,
    password_hash::{Output, SaltString},
};

use super::{
    Argon2Hasher, DEFAULT_MAX_PASSWORD_LEN, DEFAULT_MAX_QUEUE, Inner, Message, OWASP_ITERATIONS, OWASP_MEMORY_KIB,
    OWASP_PARALLELISM, ParamCeiling, boxed, memory::WorkingMemory,
};
use crate::password::{PasswordError, bound::HashingBound};

/// Builds an [`Argon2Hasher`]; every setter documents its default.
///
/// # Examples
///
/// ```
/// use imia::password::Argon2Hasher;
///
/// let hasher = Argon2Hasher::builder()
///     .params(19_456, 2, 1)             // OWASP: the defaults
///     .pepper(b"kept-out-of-the-database".to_vec())
///     .max_concurrent(2)
///     .build()
///     .unwrap();
/// assert!(format!("{hasher:?}").contains("<redacted>")); // the pepper never shows
/// assert!(Argon2Hasher::builder().params(1, 1, 1).build().is_err()); // below argon2's minimum
/// ```
#[derive(Clone)]
#[must_use]
pub struct Argon2HasherBuilder {
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
    pepper: Option<Vec<u8>>,
    max_password_len: usize,
    max_concurrent: usize,
    max_queue: usize,
    ceiling: ParamCeiling,
}

/// Shows the settings; the pepper only as `<redacted>`.
impl fmt::Debug for Argon2HasherBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Argon2HasherBuilder")
            .field("memory_kib", &self.memory_kib)
            .field("iterations", &self.iterations)
            .field("parallelism", &self.parallelism)
            .field("pepper", &self.pepper.as_ref().map(|_| "<redacted>"))
            .field("max_password_len", &self.max_password_len)
            .field("max_concurrent", &self.max_concurrent)
            .field("max_queue", &self.max_queue)
            .field("ceiling", &self.ceiling)
            .finish()
    }
}

impl Argon2HasherBuilder {
    /// The OWASP defaults, what [`Argon2Hasher::builder`] starts from.
    pub(super) fn owasp() -> Self {
        Self {
            memory_kib: OWASP_MEMORY_KIB,
            iterations: OWASP_ITERATIONS,
            parallelism: OWASP_PARALLELISM,
            pepper: None,
            max_password_len: DEFAULT_MAX_PASSWORD_LEN,
            max_concurrent: std::thread::available_parallelism().map_or(2, usize::from),
            max_queue: DEFAULT_MAX_QUEUE,
            ceiling: ParamCeiling::default(),
        }
    }

    /// The argon2id cost: memory in KiB, iterations, lanes. Default: OWASP's 19456, 2, 1.
    pub fn params(mut self, memory_kib: u32, iterations: u32, parallelism: u32) -> Self {
        self.memory_kib = memory_kib;
        self.iterations = iterations;
        self.parallelism = parallelism;
        self
    }

    /// A pepper: a secret mixed into every hash (argon2's secret input), kept in configuration
    /// rather than the database. Changing it invalidates every stored hash. Default: none.
    pub fn pepper(mut self, pepper: impl Into<Vec<u8>>) -> Self {
        self.pepper = Some(pepper.into());
        self
    }

    /// The longest password accepted, in bytes. Default: [`DEFAULT_MAX_PASSWORD_LEN`].
    pub fn max_password_len(mut self, bytes: usize) -> Self {
        self.max_password_len = bytes;
        self
    }

    /// How many hashes run at once, each with its own working memory (`memory_kib`), which is
    /// kept for the next hash. Default: the number of CPUs.
    pub fn max_concurrent(mut self, n: usize) -> Self {
        self.max_concurrent = n.max(1);
        self
    }

    /// How many attempts may wait for a free slot before further ones get
    /// [`PasswordError::Busy`]. Default: [`DEFAULT_MAX_QUEUE`].
    pub fn max_queue(mut self, n: usize) -> Self {
        self.max_queue = n;
        self
    }

    /// The most expensive stored hash that will be verified. Default: [`ParamCeiling::default`].
    pub fn ceiling(mut self, ceiling: ParamCeiling) -> Self {
        self.ceiling = ceiling;
        self
    }

    /// Checks the parameters and builds the hasher.
    ///
    /// # Errors
    ///
    /// [`PasswordError::Failed`] when argon2 refuses the parameters (e.g. memory below 8 KiB per
    /// lane) or they exceed the ceiling (the hasher could not verify its own hashes).
    pub fn build(self) -> Result<Argon2Hasher, PasswordError> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| boxed(Message(e.to_string())))?;
        let c = self.ceiling;
        if self.memory_kib > c.memory_kib || self.iterations > c.iterations || self.parallelism > c.parallelism {
            return Err(boxed(Message(
                "argon2 parameters above the verification ceiling".into(),
            )));
        }
        let memory = WorkingMemory::new(&params, self.max_concurrent);
        Ok(Argon2Hasher {
            inner: Arc::new(Inner {
                dummy: dummy_hash(&params),
                params,
                pepper: self.pepper,
                max_password_len: self.max_password_len,
                ceiling: c,
                bound: HashingBound::new(self.max_concurrent, self.max_queue),
                memory,
            }),
        })
    }
}

/// A well-formed hash with `params` that no password matches: verifying against it costs what
/// a real verification costs. Its salt and output are random, so it cannot be precomputed.
fn dummy_hash(params: &Params) -> String {
    let mut salt = [0u8; 16];
    let mut output = [0u8; 32];
    // Without randomness the dummy is still well-formed; it only becomes predictable, which
    // matters little since no real account uses it.
    let _ = getrandom::getrandom(&mut salt);
    let _ = getrandom::getrandom(&mut output);
    let salt = SaltString::encode_b64(&salt)
        .map(|s| s.as_str().to_owned())
        .unwrap_or_else(|_| "c2FsdHNhbHRzYWx0".into());
    let output = Output::new(&output).map(|o| o.to_string()).unwrap_or_default();
    format!(
        "$argon2id$v=19$m={},t={},p={}${salt}${output}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost()
    )
}

#[cfg(test)]
mod tests {
    use argon2::PasswordHash;

    use super::*;
    use crate::password::PasswordVerifier as _;

    #[test]
    fn the_builder_never_shows_the_pepper() {
        let builder = Argon2Hasher::builder().pepper(b"pepper-secret".to_vec());
        let dbg = format!("{builder:?}");
        assert!(dbg.contains("<redacted>"), "{dbg}");
        assert!(!dbg.contains("112, 101, 112"), "{dbg}"); // the bytes of "pep"
        assert!(!format!("{:?}", Argon2Hasher::builder()).contains("redacted"));
    }

    #[test]
    fn owasp_defaults() {
        let h = Argon2Hasher::default();
        let p = &h.inner.params;
        assert_eq!((p.m_cost(), p.t_cost(), p.p_cost()), (19_456, 2, 1));
        assert!(h.dummy_hash().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(PasswordHash::new(h.dummy_hash()).is_ok());
    }

    #[test]
    fn invalid_parameters_are_refused() {
        assert!(Argon2Hasher::builder().params(1, 1, 1).build().is_err());
        assert!(Argon2Hasher::builder().params(1 << 20, 1, 1).build().is_err());
    }
}
