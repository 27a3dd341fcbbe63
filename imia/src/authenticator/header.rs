//! Reading the `Authorization` header (RFC 9110 §11.6.2, RFC 7235 §2.1).

use actix_web::{
    HttpRequest,
    http::header::{AUTHORIZATION, HeaderMap},
};

/// The default cap on a credential's length (a whole `Authorization` header value, an API
/// key), checked before decoding or touching a provider: 8 KiB.
pub const DEFAULT_MAX_CREDENTIAL_LEN: usize = 8 * 1024;

/// The `Authorization` header as one authenticator sees it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AuthHeader<'a> {
    /// No header, or one for another scheme.
    Absent,
    /// The header is for this scheme but cannot be used.
    Malformed(&'static str),
    /// The header is for this scheme; the credentials after the scheme and its spaces.
    Credentials(&'a [u8]),
}

/// Finds the credentials for `scheme` (compared case-insensitively) in the `Authorization`
/// header.
///
/// Two `Authorization` headers are malformed whatever their schemes: the request is ambiguous.
/// An over-long header, or a scheme followed by anything but spaces and credentials, is
/// malformed too. Credentials may be empty (the caller decides).
pub(crate) fn credentials<'a>(req: &'a HttpRequest, scheme: &str, max_len: usize) -> AuthHeader<'a> {
    from_headers(req.headers(), scheme, max_len)
}

pub(crate) fn from_headers<'a>(headers: &'a HeaderMap, scheme: &str, max_len: usize) -> AuthHeader<'a> {
    let mut values = headers.get_all(AUTHORIZATION);
    let Some(value) = values.next() else {
        return AuthHeader::Absent;
    };
    if values.next().is_some() {
        return AuthHeader::Malformed("more than one Authorization header");
    }
    parse(value.as_bytes(), scheme, max_len)
}

pub(crate) fn parse<'a>(value: &'a [u8], scheme: &str, max_len: usize) -> AuthHeader<'a> {
    let value = value.trim_ascii();
    let (found, rest) = match value.iter().position(|b| *b == b' ') {
        Some(i) => (&value[..i], &value[i..]),
        None => (value, &value[value.len()..]),
    };
    if !found.eq_ignore_ascii_case(scheme.as_bytes()) {
        return AuthHeader::Absent;
    }
    if value.len() > max_len {
        return AuthHeader::Malformed("Authorization header too long");
    }
    // RFC 7235: 1*SP between the scheme and the credentials.
    let credentials = rest.trim_ascii_start();
    if rest.len() != credentials.len() && rest[..rest.len() - credentials.len()].iter().any(|b| *b != b' ') {
        return AuthHeader::Malformed("whitespace other than spaces after the scheme");
    }
    AuthHeader::Credentials(credentials)
}

/// Whether `b` is a `tchar` (RFC 9110 §5.6.2), the characters of a token such as a scheme.
pub(crate) fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// Whether `s` is a `token68` (RFC 7235 §2.1), the syntax of bearer tokens (RFC 6750 §2.1).
pub(crate) fn is_token68(s: &[u8]) -> bool {
    let body_len = s.len() - s.iter().rev().take_while(|b| **b == b'=').count();
    body_len > 0
        && s[..body_len]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(*b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/'))
}

#[cfg(test)]
pub(crate) fn from_value_for_tests<'a>(value: &'a [u8], scheme: &str) -> AuthHeader<'a> {
    parse(value, scheme, DEFAULT_MAX_CREDENTIAL_LEN)
}

#[cfg(test)]
mod tests {
    use actix_web::{http::header::HeaderValue, test::TestRequest};

    use super::*;

    fn p(v: &str) -> AuthHeader<'_> {
        parse(v.as_bytes(), "Bearer", 64)
    }

    #[test]
    fn scheme_is_case_insensitive() {
        assert_eq!(p("Bearer abc"), AuthHeader::Credentials(b"abc"));
        assert_eq!(p("bearer abc"), AuthHeader::Credentials(b"abc"));
        assert_eq!(p("BEARER abc"), AuthHeader::Credentials(b"abc"));
    }

    #[test]
    fn other_schemes_are_absent() {
        assert_eq!(p("Basic abc"), AuthHeader::Absent);
        assert_eq!(p("BearerX abc"), AuthHeader::Absent);
        assert_eq!(p("Bear abc"), AuthHeader::Absent);
        assert_eq!(p(""), AuthHeader::Absent);
        assert_eq!(p("abc"), AuthHeader::Absent);
    }

    #[test]
    fn spaces_after_the_scheme() {
        assert_eq!(p("Bearer   abc"), AuthHeader::Credentials(b"abc"));
        assert_eq!(p("Bearer"), AuthHeader::Credentials(b""));
        assert_eq!(p("Bearer\tabc"), AuthHeader::Absent);
        assert_eq!(
            p("Bearer \tabc"),
            AuthHeader::Malformed("whitespace other than spaces after the scheme")
        );
        assert_eq!(p("Bearer a b"), AuthHeader::Credentials(b"a b"));
    }

    #[test]
    fn length_is_capped_before_anything_else() {
        let long = format!("Bearer {}", "a".repeat(100));
        assert_eq!(p(&long), AuthHeader::Malformed("Authorization header too long"));
        // Another scheme's long header is not ours to judge.
        assert_eq!(p(&format!("Basic {}", "a".repeat(100))), AuthHeader::Absent);
    }

    #[test]
    fn non_ascii_bytes_do_not_panic() {
        assert_eq!(
            parse(b"Bearer \xff\xfe", "Bearer", 64),
            AuthHeader::Credentials(b"\xff\xfe")
        );
        assert_eq!(parse(b"\xffBearer x", "Bearer", 64), AuthHeader::Absent);
    }

    #[test]
    fn duplicate_headers_are_malformed() {
        let req = TestRequest::default()
            .append_header((AUTHORIZATION, "Bearer a"))
            .append_header((AUTHORIZATION, "Basic b"))
            .to_http_request();
        assert_eq!(
            credentials(&req, "Basic", 64),
            AuthHeader::Malformed("more than one Authorization header")
        );
        let req = TestRequest::default()
            .insert_header((AUTHORIZATION, HeaderValue::from_static("Bearer a")))
            .to_http_request();
        assert_eq!(credentials(&req, "bearer", 64), AuthHeader::Credentials(b"a"));
        assert_eq!(
            credentials(&TestRequest::default().to_http_request(), "Bearer", 64),
            AuthHeader::Absent
        );
    }

    #[test]
    fn token68_syntax() {
        assert!(is_token68(b"abc-._~+/XYZ09"));
        assert!(is_token68(b"abc=="));
        assert!(!is_token68(b""));
        assert!(!is_token68(b"=="));
        assert!(!is_token68(b"a=b"));
        assert!(!is_token68(b"a b"));
        assert!(!is_token68(b"a,b"));
        assert!(!is_token68("é".as_bytes()));
    }

    #[test]
    fn tchars() {
        assert!(is_tchar('B'));
        assert!(is_tchar('~'));
        assert!(!is_tchar(' '));
        assert!(!is_tchar('"'));
    }
}
