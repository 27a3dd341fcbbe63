//! What a new password must be: long enough, not too long, not one everybody uses.

use std::{collections::HashSet, fmt, sync::Arc};

/// The shortest new password by default, in characters (NIST SP 800-63B).
pub const DEFAULT_MIN_PASSWORD_CHARS: usize = 8;

/// A few of the passwords that lead every leaked list: refused by
/// [`PasswordPolicy::refuse_common`]. Compared without regard to case.
const COMMON: &[&str] = &[
    "password",
    "password1",
    "password12",
    "password123",
    "password1234",
    "passw0rd",
    "p@ssw0rd",
    "p@ssword",
    "12345678",
    "123456789",
    "1234567890",
    "0123456789",
    "87654321",
    "11111111",
    "00000000",
    "12341234",
    "qwertyui",
    "qwertyuiop",
    "qwerty123",
    "qwerty12",
    "1q2w3e4r",
    "1qaz2wsx",
    "zaq12wsx",
    "asdfghjk",
    "asdfghjkl",
    "iloveyou",
    "princess",
    "sunshine",
    "football",
    "baseball",
    "welcome1",
    "welcome123",
    "letmein1",
    "trustno1",
    "superman",
    "starwars",
    "whatever",
    "dragon123",
    "monkey123",
    "abc12345",
    "abcd1234",
    "changeme",
    "computer",
    "internet",
    "michelle",
    "jennifer",
    "1234qwer",
    "qwer1234",
    "password!",
    "admin123",
    "administrator",
    "secret123",
    "master123",
    "shadow123",
    "hello123",
    "freedom1",
    "charlie1",
    "michael1",
    "jordan23",
    "liverpool",
    "chelsea1",
    "iloveyou1",
    "lovely123",
];

/// The rules a new password must meet, at sign-up, at a reset and when it is changed.
///
/// By default ([`PasswordPolicy::new`]): at least 8 characters, at most 1024 bytes (what the
/// argon2 hasher accepts), anything else allowed (no composition rules: NIST SP 800-63B).
/// [`refuse_common`](Self::refuse_common) adds a short built-in list of the most common
/// passwords; [`refuse`](Self::refuse) your own (a larger breached-password list).
///
/// # Examples
///
/// ```
/// use imia::password::{PasswordPolicy, PolicyViolation};
///
/// let policy = PasswordPolicy::new().refuse_common();
/// assert_eq!(policy.check("correct horse battery staple"), Ok(()));
/// assert_eq!(policy.check("short"), Err(PolicyViolation::TooShort { min: 8 }));
/// assert_eq!(policy.check("Password123"), Err(PolicyViolation::Common));
/// assert_eq!(policy.check(&"x".repeat(1025)), Err(PolicyViolation::TooLong { max: 1024 }));
/// // Characters, not bytes: eight letters of any script are eight.
/// assert_eq!(policy.check("пароль12"), Ok(()));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    min_chars: usize,
    max_bytes: usize,
    refused: Option<Arc<HashSet<String>>>,
}

impl fmt::Debug for PasswordPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordPolicy")
            .field("min_chars", &self.min_chars)
            .field("max_bytes", &self.max_bytes)
            .field("refused", &self.refused.as_ref().map_or(0, |r| r.len()))
            .finish()
    }
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self::new()
    }
}

/// Why a new password was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyViolation {
    /// Fewer characters than the minimum.
    #[error("the password must have at least {min} characters")]
    TooShort {
        /// The minimum, in characters.
        min: usize,
    },
    /// More bytes than the maximum.
    #[error("the password must have at most {max} bytes")]
    TooLong {
        /// The maximum, in bytes.
        max: usize,
    },
    /// On the list of refused passwords.
    #[error("the password is too common")]
    Common,
}

impl PasswordPolicy {
    /// At least [`DEFAULT_MIN_PASSWORD_CHARS`] characters, at most
    /// [`DEFAULT_MAX_PASSWORD_LEN`](super::DEFAULT_MAX_PASSWORD_LEN) bytes.
    pub fn new() -> Self {
        Self {
            min_chars: DEFAULT_MIN_PASSWORD_CHARS,
            max_bytes: super::DEFAULT_MAX_PASSWORD_LEN,
            refused: None,
        }
    }

    /// Any non-empty password the hasher accepts: what [`LoginManager`](crate::login::LoginManager)
    /// checks new passwords against unless given a policy.
    pub fn lenient() -> Self {
        Self {
            min_chars: 1,
            ..Self::new()
        }
    }

    /// At least `min` characters (at least 1).
    #[must_use]
    pub fn min_chars(mut self, min: usize) -> Self {
        self.min_chars = min.max(1);
        self
    }

    /// At most `max` bytes. Keep it at or under the hasher's maximum.
    #[must_use]
    pub fn max_bytes(mut self, max: usize) -> Self {
        self.max_bytes = max;
        self
    }

    /// Refuses the most common passwords (a short built-in list, compared without regard to
    /// case).
    #[must_use]
    pub fn refuse_common(self) -> Self {
        self.refuse(COMMON.iter().copied())
    }

    /// Refuses `passwords` too (compared without regard to case): a breached-password list.
    #[must_use]
    pub fn refuse<I, S>(mut self, passwords: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut refused: HashSet<String> = self.refused.as_deref().cloned().unwrap_or_default();
        refused.extend(passwords.into_iter().map(|p| p.as_ref().to_lowercase()));
        self.refused = Some(Arc::new(refused));
        self
    }

    /// Checks a new password.
    ///
    /// # Errors
    ///
    /// The first rule it breaks.
    pub fn check(&self, password: &str) -> Result<(), PolicyViolation> {
        if password.len() > self.max_bytes {
            return Err(PolicyViolation::TooLong { max: self.max_bytes });
        }
        if password.chars().count() < self.min_chars {
            return Err(PolicyViolation::TooShort { min: self.min_chars });
        }
        if self
            .refused
            .as_ref()
            .is_some_and(|refused| refused.contains(&password.to_lowercase()))
        {
            return Err(PolicyViolation::Common);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_apply_in_order() {
        let policy = PasswordPolicy::new();
        assert_eq!(policy.check(""), Err(PolicyViolation::TooShort { min: 8 }));
        assert_eq!(policy.check("1234567"), Err(PolicyViolation::TooShort { min: 8 }));
        assert_eq!(policy.check("12345678"), Ok(()), "no list unless asked");
        assert_eq!(
            policy.clone().refuse_common().check("12345678"),
            Err(PolicyViolation::Common)
        );
        assert_eq!(
            policy.clone().refuse(["Tr0ub4dor&3"]).check("tr0ub4dor&3"),
            Err(PolicyViolation::Common)
        );
        assert_eq!(PasswordPolicy::lenient().check("x"), Ok(()));
        assert_eq!(
            PasswordPolicy::lenient().check(""),
            Err(PolicyViolation::TooShort { min: 1 })
        );
        assert_eq!(
            policy.max_bytes(10).check("ééééééé"),
            Err(PolicyViolation::TooLong { max: 10 }),
            "bytes, not characters"
        );
    }
}
