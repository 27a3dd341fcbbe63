//! Second-factor secrets at rest: AES-256-GCM under a key derived from the app's [`SecretKey`],
//! bound to the user they belong to.

use aes_gcm::{
    Aes256Gcm, Key, KeyInit as _, Nonce,
    aead::{Aead as _, Payload},
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};

use crate::SecretKey;

/// What every sealed value starts with: the format's version.
const PREFIX: &str = "v1.";
/// A GCM nonce: 96 random bits, a new one for every value sealed.
const NONCE_LEN: usize = 12;

/// Encrypts and authenticates secrets for storage.
///
/// A sealed value is `v1.` and the base64url of the nonce and the ciphertext with its tag. The
/// user id is the associated data: a value copied to another user's row does not open.
#[derive(Clone)]
pub(crate) struct SecretCipher {
    cipher: Aes256Gcm,
}

impl SecretCipher {
    /// The cipher of `secret`'s second-factor key.
    pub(crate) fn new(secret: &SecretKey) -> Self {
        let key = secret.derive_key(b"imia.two-factor.secret");
        Self {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key)),
        }
    }

    /// `plaintext`, sealed for `user_id`.
    pub(crate) fn seal(&self, user_id: &str, plaintext: &[u8]) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::getrandom(&mut nonce).map_err(|_| SealError)?;
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: user_id.as_bytes(),
                },
            )
            .map_err(|_| SealError)?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out)))
    }

    /// The plaintext of `sealed` for `user_id`: `None` when it was sealed under another key, for
    /// another user, or was altered.
    pub(crate) fn open(&self, user_id: &str, sealed: &str) -> Option<Vec<u8>> {
        let raw = URL_SAFE_NO_PAD.decode(sealed.strip_prefix(PREFIX)?).ok()?;
        if raw.len() <= NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = raw.split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: user_id.as_bytes(),
                },
            )
            .ok()
    }
}

/// Sealing failed: no randomness for the nonce.
#[derive(Debug, thiserror::Error)]
#[error("could not encrypt the secret")]
pub(crate) struct SealError;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_bound_to_key_and_user() {
        let key = SecretKey::generate();
        let cipher = SecretCipher::new(&key);
        let sealed = cipher.seal("42", b"twenty bytes secret!").unwrap();
        assert!(sealed.starts_with("v1."));
        assert!(!sealed.contains("twenty"));
        assert_eq!(
            cipher.open("42", &sealed).as_deref(),
            Some(&b"twenty bytes secret!"[..])
        );
        assert_ne!(
            sealed,
            cipher.seal("42", b"twenty bytes secret!").unwrap(),
            "a nonce each time"
        );
        assert_eq!(cipher.open("43", &sealed), None, "another user's row");
        assert_eq!(
            SecretCipher::new(&SecretKey::generate()).open("42", &sealed),
            None,
            "another key"
        );
        // Any altered byte is refused.
        let mut altered = sealed.clone().into_bytes();
        let last = altered.len() - 1;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(cipher.open("42", std::str::from_utf8(&altered).unwrap()), None);
        for garbage in [
            "",
            "v1.",
            "v1.AAAA",
            "v2.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "v1.!!!!",
        ] {
            assert_eq!(cipher.open("42", garbage), None, "{garbage:?}");
        }
    }
}
