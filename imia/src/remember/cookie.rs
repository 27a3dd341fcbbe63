//! The remember-me cookie's value: `selector:validator`, parsed strictly, made from the
//! operating system's CSPRNG.

use std::fmt;

use super::MAX_COOKIE_LEN;
use crate::error::ProviderError;

/// A parsed remember-me cookie.
#[derive(PartialEq, Eq)]
pub(crate) struct CookieValue {
    pub(crate) selector: String,
    pub(crate) validator: String,
}

impl fmt::Debug for CookieValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CookieValue")
            .field("selector", &self.selector)
            .finish_non_exhaustive()
    }
}

/// Parses `selector:validator` (22 and 43 base64url characters); `None` for anything else.
pub(crate) fn parse_cookie(value: &str) -> Option<CookieValue> {
    if value.len() > MAX_COOKIE_LEN {
        return None;
    }
    let (selector, validator) = value.split_once(':')?;
    let b64url =
        |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (b64url(selector, 22) && b64url(validator, 43)).then(|| CookieValue {
        selector: selector.to_owned(),
        validator: validator.to_owned(),
    })
}

/// `n` random bytes from the OS, base64url without padding.
pub(super) fn random(n: usize) -> Result<String, ProviderError> {
    crate::crypto::random_b64url(n).map_err(|e| ProviderError::backend(e.to_string()))
}

/// A fresh selector (128 bits) and validator (256 bits).
pub(crate) fn new_secret_pair() -> Result<(String, String), ProviderError> {
    Ok((random(16)?, random(32)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_values_are_parsed_strictly() {
        let (s, v) = new_secret_pair().unwrap();
        assert_eq!((s.len(), v.len()), (22, 43));
        let parsed = parse_cookie(&format!("{s}:{v}")).unwrap();
        assert_eq!(
            (parsed.selector.as_str(), parsed.validator.as_str()),
            (s.as_str(), v.as_str())
        );
        for bad in [
            String::new(),
            s.clone(),
            format!("{s}:"),
            format!(":{v}"),
            format!("{s}:{v}:x"),
            format!("{s}x:{v}"),
            format!("{s}:{v}="),
            format!("{}:{v}", s.replace(|_| true, "+")),
            "a".repeat(200),
            format!("{s} :{v}"),
        ] {
            assert!(parse_cookie(&bad).is_none(), "{bad:?}");
        }
        assert!(!format!("{parsed:?}").contains(&v));
    }

    #[test]
    fn secrets_are_random() {
        let (a, b) = (new_secret_pair().unwrap(), new_secret_pair().unwrap());
        assert_ne!(a, b);
    }
}
