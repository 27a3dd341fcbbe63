//! Which stored hashes may be verified: the parameter ceiling, checked before anything is
//! allocated for a hash.

use argon2::{Algorithm, Params, PasswordHash, Version};

/// The most expensive stored hash that will be verified: above these, a stored hash is refused
/// before allocating (a hostile or corrupted hash must not make one login take gigabytes).
///
/// # Examples
///
/// ```
/// use imia::password::{Argon2Hasher, ParamCeiling, PasswordVerifier};
///
/// # actix_rt::System::new().block_on(async {
/// let strict = Argon2Hasher::builder()
///     .params(1024, 1, 1)
///     .ceiling(ParamCeiling { memory_kib: 4096, iterations: 4, parallelism: 1 })
///     .build()
///     .unwrap();
/// let costly = Argon2Hasher::builder().params(8192, 1, 1).build().unwrap();
/// let hash = costly.hash("pw").await.unwrap();
/// assert!(!strict.verify("pw", &hash).await.unwrap()); // refused before allocating 8 MiB
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamCeiling {
    /// Most memory, in KiB. Default: 262144 (256 MiB).
    pub memory_kib: u32,
    /// Most iterations. Default: 16.
    pub iterations: u32,
    /// Most lanes. Default: 8.
    pub parallelism: u32,
}

impl Default for ParamCeiling {
    fn default() -> Self {
        Self {
            memory_kib: 256 * 1024,
            iterations: 16,
            parallelism: 8,
        }
    }
}

/// A stored hash that may be verified: a PHC string for an argon2 variant whose parameters are
/// within the ceiling.
pub(crate) struct StoredHash<'h> {
    pub(crate) parsed: PasswordHash<'h>,
    pub(crate) params: Params,
    pub(crate) algorithm: Algorithm,
    pub(crate) version: Version,
}

/// Parses a stored hash and checks its parameters against `ceiling` before anything is
/// allocated for them; `None` (logged) when it must not be verified.
pub(crate) fn parse_stored<'h>(hash: &'h str, ceiling: &ParamCeiling) -> Option<StoredHash<'h>> {
    let Ok(parsed) = PasswordHash::new(hash) else {
        tracing::warn!("stored password hash is not a PHC string; treating it as no match");
        return None;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        tracing::warn!("stored password hash has unusable parameters; treating it as no match");
        return None;
    };
    let c = ceiling;
    if params.m_cost() > c.memory_kib || params.t_cost() > c.iterations || params.p_cost() > c.parallelism {
        tracing::warn!(
            memory_kib = params.m_cost(),
            iterations = params.t_cost(),
            parallelism = params.p_cost(),
            "stored password hash exceeds the parameter ceiling; refusing to verify it"
        );
        return None;
    }
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        tracing::warn!("stored password hash is not argon2; treating it as no match");
        return None;
    };
    let version = parsed
        .version
        .and_then(|v| Version::try_from(v).ok())
        .unwrap_or(Version::V0x13);
    Some(StoredHash {
        parsed,
        params,
        algorithm,
        version,
    })
}
