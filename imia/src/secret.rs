//! The application's secret key, and the session fingerprint it keys.

use std::fmt;

use base64::{Engine as _, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac as _};
use sha2::{Digest as _, Sha256};

use crate::password::constant_time_eq;

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// The shortest secret key accepted: 32 bytes.
pub const MIN_SECRET_LEN: usize = 32;

/// The application's secret key: it keys the session's password fingerprint (and, with
/// remember-me, its tokens). Required: there is no default key.
///
/// Keep it out of the repository (an environment variable, a secrets manager). Changing it logs
/// every session out.
///
/// # Examples
///
/// ```
/// use imia::SecretKey;
///
/// let key = SecretKey::generate();
/// let again = SecretKey::from_base64(&key.to_base64()).unwrap();
/// assert_eq!(key.fingerprint("$argon2id$..."), again.fingerprint("$argon2id$..."));
/// assert!(SecretKey::from_bytes(b"too short").is_err());
/// assert_eq!(format!("{key:?}"), "SecretKey(<redacted>)");
/// ```
#[derive(Clone)]
pub struct SecretKey {
    /// HMAC-SHA256 keyed by SHA-256("imia.session.hash" + secret), the key of session
    /// fingerprints (derived so that the same secret keys other uses independently). Kept
    /// keyed: every fingerprint clones it instead of hashing the key again.
    session_mac: Hmac<Sha256>,
    raw: Vec<u8>,
}

/// The secret key is too short or not decodable.
#[derive(Debug, thiserror::Error)]
#[error("the secret key must be at least {MIN_SECRET_LEN} bytes (base64 or raw)")]
pub struct SecretKeyError;

impl SecretKey {
    /// A key from raw bytes (at least [`MIN_SECRET_LEN`]).
    ///
    /// # Errors
    ///
    /// [`SecretKeyError`] when shorter.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SecretKeyError> {
        if bytes.len() < MIN_SECRET_LEN {
            return Err(SecretKeyError);
        }
        let mut hasher = Sha256::new();
        hasher.update(b"imia.session.hash");
        hasher.update(bytes);
        let session_hash_key: [u8; 32] = hasher.finalize().into();
        Ok(Self {
            session_mac: <Hmac<Sha256>>::new_from_slice(&session_hash_key).expect("HMAC takes keys of any length"),
            raw: bytes.to_vec(),
        })
    }

    /// A key from its base64 form (what [`to_base64`](Self::to_base64) gives, e.g. from an
    /// environment variable).
    ///
    /// # Errors
    ///
    /// [`SecretKeyError`] when it is not base64 or decodes to fewer than [`MIN_SECRET_LEN`]
    /// bytes.
    pub fn from_base64(encoded: &str) -> Result<Self, SecretKeyError> {
        let bytes = STANDARD.decode(encoded.trim()).map_err(|_| SecretKeyError)?;
        Self::from_bytes(&bytes)
    }

    /// A fresh random 64-byte key, from the operating system's CSPRNG.
    ///
    /// # Panics
    ///
    /// When the operating system has no randomness to give, which leaves nothing safe to do.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 64];
        getrandom::getrandom(&mut bytes).expect("the operating system's random number generator");
        Self::from_bytes(&bytes).expect("64 bytes is long enough")
    }

    /// The key in base64, to store it.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(&self.raw)
    }

    /// The raw key bytes (e.g. to derive actix-web's cookie `Key` from the same secret).
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }

    /// The session fingerprint of a password hash: HMAC-SHA256 keyed by this secret, in hex.
    /// Stored in the session at login and compared on every request, so a password change ends
    /// every other session; the hash itself never enters the session.
    pub fn fingerprint(&self, hashed_password: &str) -> String {
        crate::provider::hex(&self.fingerprint_mac(hashed_password))
    }

    /// Whether `stored` is the fingerprint of `hashed_password`, compared in constant time.
    pub fn fingerprint_matches(&self, hashed_password: &str, stored: &str) -> bool {
        // Checked on every session request: hex-encode on the stack, not into a `String`.
        let mac = self.fingerprint_mac(hashed_password);
        let mut hex = [0u8; 64];
        for (pair, byte) in hex.chunks_exact_mut(2).zip(mac) {
            pair[0] = HEX_DIGITS[usize::from(byte >> 4)];
            pair[1] = HEX_DIGITS[usize::from(byte & 0xf)];
        }
        constant_time_eq(&hex, stored.as_bytes())
    }

    fn fingerprint_mac(&self, hashed_password: &str) -> [u8; 32] {
        let mut mac = self.session_mac.clone();
        mac.update(hashed_password.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_depend_on_key_and_hash() {
        let a = SecretKey::from_bytes(&[1; 32]).unwrap();
        let b = SecretKey::from_bytes(&[2; 32]).unwrap();
        assert_eq!(a.fingerprint("h").len(), 64);
        assert_eq!(a.fingerprint("h"), a.fingerprint("h"));
        assert_ne!(a.fingerprint("h"), a.fingerprint("h2"));
        assert_ne!(a.fingerprint("h"), b.fingerprint("h"));
        assert!(a.fingerprint_matches("h", &a.fingerprint("h")));
        assert!(!a.fingerprint_matches("h", &b.fingerprint("h")));
        assert!(!a.fingerprint_matches("h", ""));
        assert!(!a.fingerprint_matches("h", &a.fingerprint("h").to_uppercase()));
        assert!(!a.fingerprint_matches("h", &a.fingerprint("h")[..63]));
        assert!(!a.fingerprint_matches("h", &format!("{}0", a.fingerprint("h"))));
    }

    #[test]
    fn fingerprints_are_hmac_sha256_in_hex() {
        // The value stored in sessions must not change with how it is computed.
        let key = SecretKey::from_bytes(&[1; 32]).unwrap();
        let mut derived = Sha256::new();
        derived.update(b"imia.session.hash");
        derived.update([1; 32]);
        let mut mac = <Hmac<Sha256>>::new_from_slice(&derived.finalize()).unwrap();
        mac.update(b"$argon2id$v=19$...");
        let expected = crate::provider::hex(&mac.finalize().into_bytes());
        assert_eq!(key.fingerprint("$argon2id$v=19$..."), expected);
        assert!(key.fingerprint_matches("$argon2id$v=19$...", &expected));
    }

    #[test]
    fn keys_must_be_long_enough() {
        assert!(SecretKey::from_bytes(&[0; 31]).is_err());
        assert!(SecretKey::from_base64("c2hvcnQ=").is_err());
        assert!(SecretKey::from_base64("not base64!").is_err());
        assert!(SecretKey::from_base64(&SecretKey::generate().to_base64()).is_ok());
        assert_ne!(SecretKey::generate().as_bytes(), SecretKey::generate().as_bytes());
    }
}
