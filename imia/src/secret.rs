//! The application's secret key, and the session fingerprint it keys.

use std::fmt;

use base64::{Engine as _, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac as _};
use sha2::{Digest as _, Sha256};

use crate::crypto::{constant_time_eq, hex32};

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
    /// HMAC-SHA256 keyed by SHA-256("imia.remember.binding" + secret): binds remember-me tokens
    /// to the password (and security stamp) they were issued under.
    #[cfg_attr(not(feature = "session"), allow(dead_code))]
    remember_mac: Hmac<Sha256>,
    /// HMAC-SHA256 keyed by SHA-256("imia.log.tag" + secret): pseudonyms for values that must
    /// not be logged as typed (usernames of failed logins).
    log_mac: Hmac<Sha256>,
    raw: Vec<u8>,
}

/// Separates the password hash from the security stamp in a fingerprint. PHC strings never
/// hold a NUL, so no hash can end in these bytes followed by a stamp of its own.
const STAMP_SEPARATOR: &[u8] = b"\0imia.stamp\0";

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
        let derive = |purpose: &[u8]| {
            let mut hasher = Sha256::new();
            hasher.update(purpose);
            hasher.update(bytes);
            let key: [u8; 32] = hasher.finalize().into();
            <Hmac<Sha256>>::new_from_slice(&key).expect("HMAC takes keys of any length")
        };
        Ok(Self {
            session_mac: derive(b"imia.session.hash"),
            remember_mac: derive(b"imia.remember.binding"),
            log_mac: derive(b"imia.log.tag"),
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
    ///
    /// The same as [`session_fingerprint`](Self::session_fingerprint) with an empty security
    /// stamp.
    pub fn fingerprint(&self, hashed_password: &str) -> String {
        self.session_fingerprint(hashed_password, "")
    }

    /// Whether `stored` is the fingerprint of `hashed_password`, compared in constant time.
    pub fn fingerprint_matches(&self, hashed_password: &str, stored: &str) -> bool {
        self.session_fingerprint_matches(hashed_password, "", stored)
    }

    /// The session fingerprint of a password hash and a security stamp
    /// ([`UserLike::security_stamp`](crate::UserLike::security_stamp)): HMAC-SHA256 keyed by
    /// this secret, in hex. A new password or a rotated stamp changes it, which ends every
    /// session that holds the old one at its next request.
    ///
    /// An empty stamp gives exactly [`fingerprint`](Self::fingerprint), so sessions written
    /// before a user had a stamp stay valid until the stamp is first rotated.
    ///
    /// # Examples
    ///
    /// ```
    /// use imia::SecretKey;
    ///
    /// let key = SecretKey::generate();
    /// let hash = "$argon2id$v=19$...";
    /// assert_eq!(key.session_fingerprint(hash, ""), key.fingerprint(hash));
    /// let before = key.session_fingerprint(hash, "stamp-1");
    /// assert_ne!(before, key.session_fingerprint(hash, "stamp-2")); // rotating the stamp ends sessions
    /// assert!(key.session_fingerprint_matches(hash, "stamp-1", &before));
    /// ```
    pub fn session_fingerprint(&self, hashed_password: &str, security_stamp: &str) -> String {
        crate::provider::hex(&mac_of(&self.session_mac, hashed_password, security_stamp))
    }

    /// Whether `stored` is the [`session_fingerprint`](Self::session_fingerprint) of
    /// `hashed_password` and `security_stamp`, compared in constant time.
    pub fn session_fingerprint_matches(&self, hashed_password: &str, security_stamp: &str, stored: &str) -> bool {
        // Checked on every session request: hex-encode on the stack, not into a `String`.
        let hex = hex32(&mac_of(&self.session_mac, hashed_password, security_stamp));
        constant_time_eq(&hex, stored.as_bytes())
    }

    /// A 32-byte key for `purpose`, derived from this secret: SHA-256(purpose + secret). Each
    /// use of the secret gets its own key, so that one never helps to attack another.
    #[cfg_attr(not(any(feature = "two-factor", feature = "account")), allow(dead_code))]
    pub(crate) fn derive_key(&self, purpose: &[u8]) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(purpose);
        hasher.update(&self.raw);
        hasher.finalize().into()
    }

    /// What a single-use link is bound to: HMAC-SHA256, under a key of its own derived from
    /// this secret, of the user's password hash and security stamp, in hex. A password change
    /// (or a rotated stamp) makes every reset link issued before it useless.
    #[cfg_attr(not(feature = "account"), allow(dead_code))]
    pub(crate) fn link_binding<U: crate::UserLike + ?Sized>(&self, user: &U) -> String {
        let key = <Hmac<Sha256>>::new_from_slice(&self.derive_key(b"imia.link.binding")).expect("any key length");
        crate::provider::hex(&mac_of(&key, user.hashed_password(), &user.security_stamp()))
    }

    /// The session fingerprint of `user`: its password hash and security stamp.
    #[cfg_attr(not(feature = "session"), allow(dead_code))]
    pub(crate) fn user_fingerprint<U: crate::UserLike + ?Sized>(&self, user: &U) -> String {
        self.session_fingerprint(user.hashed_password(), &user.security_stamp())
    }

    /// Whether `stored` is the session fingerprint of `user` as it is now.
    #[cfg_attr(not(feature = "session"), allow(dead_code))]
    pub(crate) fn user_fingerprint_matches<U: crate::UserLike + ?Sized>(&self, user: &U, stored: &str) -> bool {
        self.session_fingerprint_matches(user.hashed_password(), &user.security_stamp(), stored)
    }

    /// What a remember-me token is bound to: HMAC-SHA256, under a key of its own derived from
    /// this secret, of the user's password hash and security stamp, in hex. A token whose binding
    /// no longer matches the user (the password was set anew, the stamp rotated) is refused.
    #[cfg_attr(not(feature = "session"), allow(dead_code))]
    pub(crate) fn remember_binding<U: crate::UserLike + ?Sized>(&self, user: &U) -> String {
        crate::provider::hex(&mac_of(
            &self.remember_mac,
            user.hashed_password(),
            &user.security_stamp(),
        ))
    }

    /// Whether `stored` is the remember-me binding of `user`, compared in constant time.
    #[cfg_attr(not(feature = "session"), allow(dead_code))]
    pub(crate) fn remember_binding_matches<U: crate::UserLike + ?Sized>(&self, user: &U, stored: &str) -> bool {
        let hex = hex32(&mac_of(
            &self.remember_mac,
            user.hashed_password(),
            &user.security_stamp(),
        ));
        constant_time_eq(&hex, stored.as_bytes())
    }

    /// A pseudonym for `value` in logs: the first 16 hex digits of an HMAC under a key derived
    /// from this secret. The same value always gets the same tag (attempts on one username can
    /// be correlated), but the tag cannot be reversed without the key, so what people typed into
    /// a username field (sometimes a password) never reaches the logs.
    ///
    /// ```
    /// use imia::SecretKey;
    ///
    /// let key = SecretKey::generate();
    /// let tag = key.log_tag("ann@example.com");
    /// assert_eq!(tag.len(), 16);
    /// assert_eq!(tag, key.log_tag("ann@example.com"));
    /// assert!(!tag.contains("ann"));
    /// ```
    pub fn log_tag(&self, value: &str) -> String {
        let mut mac = self.log_mac.clone();
        mac.update(value.as_bytes());
        let bytes: [u8; 32] = mac.finalize().into_bytes().into();
        crate::provider::hex(&bytes[..8])
    }
}

/// HMAC of a password hash and, when not empty, a security stamp after [`STAMP_SEPARATOR`].
fn mac_of(key: &Hmac<Sha256>, hashed_password: &str, security_stamp: &str) -> [u8; 32] {
    let mut mac = key.clone();
    mac.update(hashed_password.as_bytes());
    if !security_stamp.is_empty() {
        mac.update(STAMP_SEPARATOR);
        mac.update(security_stamp.as_bytes());
    }
    mac.finalize().into_bytes().into()
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
    fn stamps_change_the_fingerprint_and_empty_is_the_old_one() {
        let a = SecretKey::from_bytes(&[1; 32]).unwrap();
        assert_eq!(a.session_fingerprint("h", ""), a.fingerprint("h"));
        assert_ne!(a.session_fingerprint("h", "s1"), a.fingerprint("h"));
        assert_ne!(a.session_fingerprint("h", "s1"), a.session_fingerprint("h", "s2"));
        assert!(a.session_fingerprint_matches("h", "s1", &a.session_fingerprint("h", "s1")));
        assert!(!a.session_fingerprint_matches("h", "s2", &a.session_fingerprint("h", "s1")));
        assert!(!a.session_fingerprint_matches("h", "", &a.session_fingerprint("h", "s1")));
    }

    #[test]
    fn derived_keys_are_independent() {
        struct U;
        impl crate::UserLike for U {
            fn id(&self) -> std::borrow::Cow<'_, str> {
                "u".into()
            }
            fn hashed_password(&self) -> &str {
                "h"
            }
        }
        let a = SecretKey::from_bytes(&[1; 32]).unwrap();
        let binding = a.remember_binding(&U);
        assert_ne!(
            binding,
            a.fingerprint("h"),
            "a stored binding is no session fingerprint"
        );
        assert!(a.remember_binding_matches(&U, &binding));
        assert!(
            !SecretKey::from_bytes(&[2; 32])
                .unwrap()
                .remember_binding_matches(&U, &binding)
        );
        assert_ne!(a.log_tag("h"), a.fingerprint("h")[..16]);
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
