//! Recovery codes: single-use codes for when the authenticator app is lost.

use std::fmt;

use hmac::{Hmac, Mac as _};
use sha2::Sha256;

use crate::{SecretKey, crypto::hex};

/// How many recovery codes a user gets.
pub const RECOVERY_CODES: usize = 10;
/// Characters in one code (without the hyphen): 50 random bits.
const CODE_LEN: usize = 10;
/// The alphabet: Crockford's base32 in lower case (no `i`, `l`, `o`, `u`).
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// A fresh set of recovery codes, to show the user once. Only their hashes are stored.
///
/// Each code reads `xxxxx-xxxxx` (Crockford base32: no `i`, `l`, `o` or `u` to confuse). When
/// one is typed back, case, spaces and hyphens do not matter, and `i`/`l` read as `1`, `o` as `0`.
///
/// Its `Debug` never shows the codes.
///
/// # Examples
///
/// ```
/// use imia::two_factor::RecoveryCodes;
///
/// let codes = RecoveryCodes::generate();
/// assert_eq!(codes.len(), 10);
/// let first = &codes.as_slice()[0];
/// assert_eq!(first.len(), 11);
/// assert_eq!(first.as_bytes()[5], b'-');
/// assert_eq!(format!("{codes:?}"), "RecoveryCodes(10 codes)");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCodes {
    codes: Vec<String>,
}

impl fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecoveryCodes({} codes)", self.codes.len())
    }
}

impl RecoveryCodes {
    /// [`RECOVERY_CODES`] new codes from the operating system's CSPRNG.
    ///
    /// # Panics
    ///
    /// When the operating system has no randomness to give, which leaves nothing safe to do.
    pub fn generate() -> Self {
        let codes = (0..RECOVERY_CODES).map(|_| random_code()).collect();
        Self { codes }
    }

    /// The codes, as shown to the user.
    pub fn as_slice(&self) -> &[String] {
        &self.codes
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// The hashes to store for `user_id`.
    pub(crate) fn hashes(&self, hasher: &RecoveryHasher, user_id: &str) -> Vec<String> {
        self.codes
            .iter()
            .filter_map(|code| hasher.hash(user_id, code))
            .collect()
    }
}

impl IntoIterator for RecoveryCodes {
    type Item = String;
    type IntoIter = std::vec::IntoIter<String>;

    fn into_iter(self) -> Self::IntoIter {
        self.codes.into_iter()
    }
}

fn random_code() -> String {
    let mut bytes = [0u8; CODE_LEN];
    getrandom::getrandom(&mut bytes).expect("the operating system's random number generator");
    let mut code = String::with_capacity(CODE_LEN + 1);
    for (i, byte) in bytes.iter().enumerate() {
        if i == CODE_LEN / 2 {
            code.push('-');
        }
        // 256 is a multiple of 32: every character is equally likely.
        code.push(char::from(ALPHABET[usize::from(byte % 32)]));
    }
    code
}

/// `typed` as a code of the alphabet: lower case, without spaces or hyphens, `i`/`l` as `1`
/// and `o` as `0`; `None` when it cannot be one.
pub(crate) fn normalize(typed: &str) -> Option<String> {
    let mut out = String::with_capacity(CODE_LEN);
    for c in typed.chars() {
        let c = match c.to_ascii_lowercase() {
            ' ' | '-' | '\t' => continue,
            'i' | 'l' => '1',
            'o' => '0',
            c if c.is_ascii() && ALPHABET.contains(&(c as u8)) => c,
            _ => return None,
        };
        if out.len() == CODE_LEN {
            return None;
        }
        out.push(c);
    }
    (out.len() == CODE_LEN).then_some(out)
}

/// Hashes recovery codes for storage: HMAC-SHA256 under a key derived from the app's secret,
/// of the user's id and the code. The codes carry 50 random bits each, so a keyed fast hash
/// is enough; binding the user means a code works only for the account it was made for.
#[derive(Clone)]
pub(crate) struct RecoveryHasher {
    mac: Hmac<Sha256>,
}

impl RecoveryHasher {
    pub(crate) fn new(secret: &SecretKey) -> Self {
        let key = secret.derive_key(b"imia.two-factor.recovery");
        Self {
            mac: <Hmac<Sha256>>::new_from_slice(&key).expect("HMAC takes keys of any length"),
        }
    }

    /// The stored form of the code `typed` for `user_id`: `None` when it cannot be a code.
    pub(crate) fn hash(&self, user_id: &str, typed: &str) -> Option<String> {
        let code = normalize(typed)?;
        let mut mac = self.mac.clone();
        mac.update(user_id.as_bytes());
        mac.update(b"\0");
        mac.update(code.as_bytes());
        Some(hex(&mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_well_formed() {
        let codes = RecoveryCodes::generate();
        let mut seen = std::collections::HashSet::new();
        for code in codes.as_slice() {
            assert!(seen.insert(code.clone()), "duplicate {code}");
            assert_eq!(code.len(), 11);
            assert_eq!(normalize(code).map(|n| n.len()), Some(10), "{code}");
            assert!(!code.contains(['i', 'l', 'o', 'u']), "{code}");
        }
    }

    #[test]
    fn typing_is_forgiving() {
        assert_eq!(normalize("ABCDE-12345").as_deref(), Some("abcde12345"));
        assert_eq!(normalize(" abcde 12345 ").as_deref(), Some("abcde12345"));
        assert_eq!(normalize("Il0Oa-bcdef").as_deref(), Some("1100abcdef"));
        for bad in ["", "abcde", "abcde-123456", "abcde-1234u", "abcdé-12345", "123456"] {
            assert_eq!(normalize(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn hashes_are_keyed_and_bound_to_the_user() {
        let key = SecretKey::generate();
        let hasher = RecoveryHasher::new(&key);
        let codes = RecoveryCodes::generate();
        let code = &codes.as_slice()[0];
        let stored = hasher.hash("42", code).unwrap();
        assert_eq!(stored.len(), 64);
        assert_eq!(
            hasher.hash("42", &code.to_uppercase().replace('-', " ")),
            Some(stored.clone())
        );
        assert_ne!(hasher.hash("43", code), Some(stored.clone()), "another user");
        assert_ne!(
            RecoveryHasher::new(&SecretKey::generate()).hash("42", code),
            Some(stored)
        );
        assert_eq!(codes.hashes(&hasher, "42").len(), RECOVERY_CODES);
    }
}
