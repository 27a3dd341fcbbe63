//! The small cryptographic and clock helpers every part of imia uses: hex, constant-time
//! comparison, random values from the operating system, the Unix clock.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use subtle::ConstantTimeEq as _;

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut hex = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        hex.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(HEX_DIGITS[usize::from(byte & 0xf)]));
    }
    hex
}

/// Lower-case hex of a 32-byte MAC or digest, on the stack (for checks on every request).
pub(crate) fn hex32(bytes: &[u8; 32]) -> [u8; 64] {
    let mut hex = [0u8; 64];
    for (pair, byte) in hex.chunks_exact_mut(2).zip(bytes) {
        pair[0] = HEX_DIGITS[usize::from(byte >> 4)];
        pair[1] = HEX_DIGITS[usize::from(byte & 0xf)];
    }
    hex
}

/// Whether two byte strings are equal, in time that depends only on their lengths.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// `n` random bytes from the operating system's CSPRNG, base64url without padding.
pub(crate) fn random_b64url(n: usize) -> Result<String, getrandom::Error> {
    let mut bytes = vec![0u8; n];
    getrandom::getrandom(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Now, in Unix seconds (0 before 1970, `i64::MAX` past its range).
#[cfg_attr(not(feature = "session"), allow(dead_code))]
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| i64::try_from(since.as_secs()).unwrap_or(i64::MAX))
}

/// Now, in Unix milliseconds.
#[cfg(any(feature = "session", feature = "mail"))]
pub(crate) fn unix_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lower_case_and_matches_on_the_stack() {
        assert_eq!(hex(&[0x00, 0xab, 0xff]), "00abff");
        let bytes = [0x5a; 32];
        assert_eq!(hex32(&bytes).as_slice(), hex(&bytes).as_bytes());
    }

    #[test]
    fn constant_time_eq_handles_lengths() {
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"a", b""));
        assert!(!constant_time_eq(b"abc", b"abd"));
    }

    #[test]
    fn random_values_are_random_and_url_safe() {
        let (a, b) = (random_b64url(16).unwrap(), random_b64url(16).unwrap());
        assert_eq!(a.len(), 22);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert!(unix_now() > 1_700_000_000);
    }
}
