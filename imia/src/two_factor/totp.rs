//! Time-based one-time passwords (RFC 6238) on `totp-rs`: SHA-1, six digits, 30-second steps,
//! one step of drift either way; what every authenticator app reads from a QR code.

use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use totp_rs::{Algorithm, Builder, Secret, Totp};

/// How many digits a code has.
pub const DIGITS: usize = 6;
/// How long one code lives, in seconds.
pub const STEP_SECS: u64 = 30;
/// How many steps of clock drift are accepted either way.
pub const SKEW_STEPS: u16 = 1;
/// How long a generated secret is, in bytes: 160 bits, as RFC 4226 recommends.
pub const SECRET_LEN: usize = 20;
/// The shortest secret accepted, in bytes (RFC 4226: at least 128 bits).
const MIN_SECRET_LEN: usize = 16;

/// What is left as is in an `otpauth://` label and query (RFC 3986 unreserved characters).
const OTPAUTH: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A TOTP secret: the key an authenticator app and the server share.
///
/// Its `Debug` never shows it. Kept encrypted at rest by [`TwoFactor`](super::TwoFactor); show
/// it to the user once, at enrolment ([`to_base32`](Self::to_base32), [`uri`](Self::uri),
/// [`qr_svg`](Self::qr_svg)).
///
/// # Examples
///
/// ```
/// use imia::two_factor::TotpSecret;
///
/// let secret = TotpSecret::generate();
/// assert_eq!(secret.to_base32().len(), 32); // 160 bits
/// let now = 1_700_000_000;
/// let code = secret.code_at(now);
/// assert_eq!(code.len(), 6);
/// assert!(secret.verify(&code, now).is_some());
/// assert!(secret.verify(&code, now + 30).is_some(), "one step of drift");
/// assert!(secret.verify(&code, now + 90).is_none());
/// assert!(secret.uri("Example", "ann@example.com").starts_with("otpauth://totp/Example:ann%40example.com?secret="));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret {
    bytes: Vec<u8>,
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

impl TotpSecret {
    /// A new secret of [`SECRET_LEN`] bytes from the operating system's CSPRNG.
    ///
    /// # Panics
    ///
    /// When the operating system has no randomness to give, which leaves nothing safe to do.
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; SECRET_LEN];
        getrandom::getrandom(&mut bytes).expect("the operating system's random number generator");
        Self { bytes }
    }

    /// A secret from raw bytes: `None` when shorter than 128 bits.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        (bytes.len() >= MIN_SECRET_LEN).then(|| Self { bytes: bytes.to_vec() })
    }

    /// A secret from its base32 form (RFC 4648, with or without padding, any case, spaces
    /// ignored): `None` when it is not base32 or too short.
    pub fn from_base32(encoded: &str) -> Option<Self> {
        let cleaned: String = encoded
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '=')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let secret = Secret::try_from_base32(&cleaned).ok()?;
        Self::from_bytes(secret.as_ref())
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The base32 form, without padding: what people type into an authenticator app.
    pub fn to_base32(&self) -> String {
        Secret::from(self.bytes.as_slice())
            .to_base32()
            .trim_end_matches('=')
            .to_owned()
    }

    fn totp(&self, digits: usize) -> Totp {
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(u8::try_from(digits).unwrap_or(6))
            .with_skew(SKEW_STEPS)
            .with_step_duration(STEP_SECS)
            .with_secret(self.bytes.as_slice())
            .build_noncompliant()
    }

    /// The code for the step that holds `unix_secs`.
    pub fn code_at(&self, unix_secs: u64) -> String {
        self.totp(DIGITS).generate(unix_secs).to_string()
    }

    /// The time step (`unix_secs / 30`) whose code `code` is, looking one step either side of
    /// `unix_secs`; `None` when it is none of them. Spaces and hyphens are ignored
    /// (`123 456`); the comparison takes the same time whatever the code.
    pub fn verify(&self, code: &str, unix_secs: u64) -> Option<u64> {
        verify_digits(&self.totp(DIGITS), code, unix_secs)
    }

    /// The `otpauth://totp/...` URI for authenticator apps (Key Uri Format): `issuer` names the
    /// application, `account` the user (their e-mail address, say).
    pub fn uri(&self, issuer: &str, account: &str) -> String {
        let issuer_enc = utf8_percent_encode(issuer, OTPAUTH);
        let account_enc = utf8_percent_encode(account, OTPAUTH);
        format!(
            "otpauth://totp/{issuer_enc}:{account_enc}?secret={}&issuer={issuer_enc}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
            self.to_base32()
        )
    }

    /// The [`uri`](Self::uri) as a QR code: an `<svg>` element (no XML declaration), ready to
    /// put inline in a page.
    pub fn qr_svg(&self, issuer: &str, account: &str) -> String {
        qr_svg(&self.uri(issuer, account))
    }
}

/// The step whose code `code` is, under `totp`'s settings, around `unix_secs`.
fn verify_digits(totp: &Totp, code: &str, unix_secs: u64) -> Option<u64> {
    let digits: String = code.chars().filter(|c| !matches!(c, ' ' | '-' | '\t')).collect();
    if digits.len() != usize::from(totp.digits()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    totp.check(&digits, unix_secs)
}

/// `text` as a QR code in an inline `<svg>` element, 200 pixels or more wide.
fn qr_svg(text: &str) -> String {
    match qrcode::QrCode::new(text.as_bytes()) {
        Ok(code) => {
            let svg = code
                .render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(200, 200)
                .quiet_zone(true)
                .build();
            // Inline SVG in HTML takes no XML declaration.
            match svg.find("<svg") {
                Some(start) => svg[start..].replacen("<svg ", "<svg role=\"img\" aria-label=\"QR code\" ", 1),
                None => svg,
            }
        }
        // A URI too long for any QR code: an issuer or account name of kilobytes.
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238, appendix B: the SHA-1 secret and its eight-digit codes.
    #[test]
    fn rfc_6238_test_vectors() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890").unwrap();
        let totp = secret.totp(8);
        for (time, code) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(totp.generate(time).to_string(), code, "at {time}");
            assert_eq!(verify_digits(&totp, code, time), Some(time / 30), "at {time}");
        }
    }

    #[test]
    fn one_step_of_drift_either_way() {
        let secret = TotpSecret::generate();
        let now = 1_700_000_015;
        let step = now / STEP_SECS;
        let code = secret.code_at(now);
        assert_eq!(secret.verify(&code, now), Some(step));
        assert_eq!(
            secret.verify(&code, now - 30),
            Some(step),
            "the server's clock is a step behind"
        );
        assert_eq!(
            secret.verify(&code, now + 30),
            Some(step),
            "the server's clock is a step ahead"
        );
        assert_eq!(secret.verify(&code, now + 60), None);
        assert_eq!(secret.verify(&code, now - 60), None);
    }

    #[test]
    fn codes_are_typed_loosely_but_checked_strictly() {
        let secret = TotpSecret::generate();
        let now = 1_700_000_000;
        let code = secret.code_at(now);
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert!(secret.verify(&spaced, now).is_some());
        for bad in [
            "",
            "12345",
            "1234567",
            "abcdef",
            "+12345",
            "１２３４５６",
            &format!("{code}0"),
        ] {
            assert_eq!(secret.verify(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn base32_round_trip_and_short_secrets() {
        let secret = TotpSecret::generate();
        let encoded = secret.to_base32();
        assert_eq!(encoded.len(), 32);
        assert!(!encoded.contains('='));
        assert_eq!(TotpSecret::from_base32(&encoded), Some(secret.clone()));
        assert_eq!(TotpSecret::from_base32(&encoded.to_lowercase()), Some(secret));
        assert_eq!(
            TotpSecret::from_base32("JBSWY3DPEHPK3PXP"),
            None,
            "80 bits is too short"
        );
        assert_eq!(TotpSecret::from_base32("not base32!"), None);
        assert!(TotpSecret::from_bytes(&[0; 15]).is_none());
        assert_eq!(format!("{:?}", TotpSecret::generate()), "TotpSecret(<redacted>)");
    }

    #[test]
    fn uri_and_qr_code() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890").unwrap();
        let uri = secret.uri("imia demo", "ann:x@example.com");
        assert_eq!(
            uri,
            "otpauth://totp/imia%20demo:ann%3Ax%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=imia%20demo&algorithm=SHA1&digits=6&period=30"
        );
        let svg = secret.qr_svg("imia demo", "ann@example.com");
        assert!(svg.starts_with("<svg role=\"img\""), "{}", &svg[..40]);
        assert!(svg.ends_with("</svg>"));
        assert!(!svg.contains("<?xml"));
    }
}
