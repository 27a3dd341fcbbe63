//! The properties the fuzz targets check, one function per target, each taking the raw fuzz
//! input and panicking when a parser breaks its contract. The fuzz targets (`fuzz/`) and the
//! regression tests run exactly these functions, so a saved input replays the same checks.
#![allow(unreachable_pub, dead_code)]

use std::sync::OnceLock;

use actix_web::{
    dev::Url,
    http::{
        Uri,
        header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue},
        uri::PathAndQuery,
    },
};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use imia::{
    PathPattern,
    fuzzing::{self, Authorization},
    password::{Argon2Hasher, ParamCeiling},
    redirect::{MAX_NEXT_LEN, safe_next},
};

/// The schemes the header targets try, picked by the first input byte.
const SCHEMES: [&str; 4] = ["Basic", "Bearer", "Token", "X-Key_1"];
/// Credential caps, picked by the first input byte.
const MAX_LENS: [usize; 4] = [8 * 1024, 64, 8, 0];

fn split_selector(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((sel, rest)) => (*sel, rest),
        None => (0, data),
    }
}

/// An independent reading of `token68` (RFC 7235 §2.1): `1*( ALPHA / DIGIT / "-" / "." / "_" /
/// "~" / "+" / "/" ) *"="`.
pub fn is_token68(s: &[u8]) -> bool {
    let body = s.iter().position(|b| *b == b'=').map_or(s, |i| &s[..i]);
    !body.is_empty()
        && body.iter().all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(b))
        && s[body.len()..].iter().all(|b| *b == b'=')
}

/// `Authorization` parsing: the scheme matches case-insensitively and whole, the cap holds,
/// credentials are what follows the scheme and its spaces, and one header or two are judged as
/// the single-value parser says.
pub fn authorization_header(data: &[u8]) {
    let (sel, value) = split_selector(data);
    let scheme = SCHEMES[usize::from(sel % 4)];
    let max_len = MAX_LENS[usize::from((sel >> 2) % 4)];
    let found = fuzzing::authorization(value, scheme, max_len);
    let trimmed = value.trim_ascii();
    let first_word = trimmed.split(|b| *b == b' ').next().unwrap_or(b"");
    let ours = first_word.eq_ignore_ascii_case(scheme.as_bytes());
    match found {
        Authorization::Absent => assert!(!ours, "our scheme reported absent: {value:?}"),
        Authorization::Malformed(_) => assert!(ours, "another scheme reported malformed: {value:?}"),
        Authorization::Credentials(c) => {
            assert!(ours, "credentials for another scheme: {value:?}");
            assert!(trimmed.len() <= max_len, "over-long header accepted: {value:?}");
            assert!(trimmed.ends_with(c), "credentials are not the header's tail");
            let between = &trimmed[scheme.len()..trimmed.len() - c.len()];
            assert!(
                between.iter().all(|b| *b == b' '),
                "non-space separator accepted: {value:?}"
            );
            assert!(
                !c.first().is_some_and(u8::is_ascii_whitespace),
                "leading whitespace kept"
            );
            assert!(
                !c.last().is_some_and(u8::is_ascii_whitespace),
                "trailing whitespace kept"
            );
        }
    }
    if let Ok(header) = HeaderValue::from_bytes(value) {
        let mut headers = HeaderMap::new();
        headers.append(AUTHORIZATION, header.clone());
        assert_eq!(fuzzing::authorization_headers(&headers, scheme, max_len), found);
        headers.append(AUTHORIZATION, header);
        assert!(
            matches!(
                fuzzing::authorization_headers(&headers, scheme, max_len),
                Authorization::Malformed(_)
            ),
            "two Authorization headers accepted"
        );
    }
    if let Authorization::Credentials(c) = found {
        basic_payload(c);
    }
}

/// Token parsing: a token accepted is a token68 and is exactly the credentials; every token68
/// is accepted.
pub fn token(data: &[u8]) {
    let (sel, value) = split_selector(data);
    let scheme = SCHEMES[usize::from(sel % 4)];
    let max_len = MAX_LENS[usize::from((sel >> 2) % 4)];
    let found = fuzzing::authorization(value, scheme, max_len);
    let parsed = fuzzing::token(value, scheme, max_len);
    assert_eq!(
        fuzzing::is_token68(value),
        is_token68(value),
        "token68 disagrees: {value:?}"
    );
    match (found, parsed) {
        (Authorization::Absent, Ok(None)) | (Authorization::Malformed(_), Err(_)) => {}
        (Authorization::Credentials(c), Ok(Some(t))) => {
            assert_eq!(t.as_bytes(), c);
            assert!(
                is_token68(t.as_bytes()),
                "accepted a token that is not a token68: {t:?}"
            );
        }
        (Authorization::Credentials(c), Err(kind)) => {
            assert!(!is_token68(c), "refused a token68: {c:?}");
            assert_eq!(kind, fuzzing::RejectionKind::Malformed);
        }
        (found, parsed) => panic!("token parser disagrees with the header parser: {found:?} / {parsed:?}"),
    }
}

fn basic_payload(payload: &[u8]) {
    match fuzzing::basic_decode(payload) {
        Ok((user, pass)) => {
            assert!(
                !user.contains(':'),
                "username with a colon: the split was not at the first colon"
            );
            let text = format!("{user}:{pass}");
            assert!(!text.chars().any(char::is_control), "control characters accepted");
            assert_eq!(
                STANDARD.encode(&text).as_bytes(),
                payload,
                "decoding is not strict base64"
            );
        }
        Err(kind) => {
            assert_eq!(kind, fuzzing::RejectionKind::Malformed);
            if let Some(text) = STANDARD.decode(payload).ok().and_then(|b| String::from_utf8(b).ok()) {
                assert!(
                    !text.contains(':') || text.chars().any(char::is_control),
                    "refused a well-formed payload: {text:?}"
                );
            }
        }
    }
}

/// Basic decoding: strict base64 of UTF-8 without control characters, split at the first colon;
/// every such `user:pass` round-trips.
pub fn basic_decode(data: &[u8]) {
    basic_payload(data);
    let text = String::from_utf8_lossy(data);
    let encoded = STANDARD.encode(text.as_bytes());
    let decoded = fuzzing::basic_decode(encoded.as_bytes());
    match text.split_once(':') {
        Some((user, pass)) if !text.chars().any(char::is_control) => {
            assert_eq!(decoded, Ok((user.to_owned(), pass.to_owned())), "{text:?}");
        }
        _ => assert!(decoded.is_err(), "accepted {text:?}"),
    }
}

/// API keys: at most one key, never empty, never over the cap; header keys are visible ASCII.
pub fn api_key(data: &[u8]) {
    let (sel, rest) = split_selector(data);
    let max_len = MAX_LENS[usize::from(sel % 4)];
    let text = String::from_utf8_lossy(rest);
    let mut parts = text.split('\n');
    let query = parts.next().unwrap_or("");
    let param = "api_key";
    let count = form_urlencoded::parse(query.as_bytes())
        .filter(|(n, _)| n == param)
        .count();
    match fuzzing::api_key_from_query(query, param, max_len) {
        Ok(Some(key)) => {
            assert_eq!(count, 1, "key accepted from {count} parameters: {query:?}");
            assert!(!key.is_empty() && key.len() <= max_len, "bad key length: {query:?}");
            assert!(
                !key.chars().any(char::is_control),
                "control characters in a key: {query:?}"
            );
        }
        Ok(None) => assert!(count <= 1, "repeated parameter ignored: {query:?}"),
        Err(kind) => {
            assert_eq!(kind, fuzzing::RejectionKind::Malformed);
            let value = form_urlencoded::parse(query.as_bytes()).find(|(n, _)| n == param);
            assert!(
                count > 1 || value.is_some_and(|(_, v)| v.len() > max_len || v.chars().any(char::is_control)),
                "refused a single short key without control characters: {query:?}"
            );
        }
    }
    let name = HeaderName::from_static("x-api-key");
    let mut headers = HeaderMap::new();
    let mut values = 0;
    for part in rest.split(|b| *b == b'\n').skip(1) {
        if let Ok(value) = HeaderValue::from_bytes(part) {
            headers.append(name.clone(), value);
            values += 1;
        }
    }
    match fuzzing::api_key_from_header(&headers, &name, max_len) {
        Ok(Some(key)) => {
            assert_eq!(values, 1, "key accepted from {values} headers");
            assert!(!key.is_empty() && key.len() <= max_len, "bad key length: {key:?}");
            assert!(
                key.bytes().all(|b| b == b' ' || b == b'\t' || b.is_ascii_graphic()),
                "{key:?}"
            );
        }
        Ok(None) => assert!(values == 0 || (values == 1 && headers.get(&name).is_some_and(|v| v.is_empty()))),
        Err(_) => assert!(values >= 1),
    }
}

/// Percent-decodes `s` once, as path extractors do.
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Path protection: a path the middleware treats as unambiguous means the same to it, to the
/// router and to handlers (which see it fully decoded), so including or excluding it by pattern
/// cannot be bypassed by an encoding; ambiguous paths are always protected.
pub fn path_patterns(data: &[u8]) {
    let (sel, rest) = split_selector(data);
    let include = sel & 0x80 != 0;
    let text = String::from_utf8_lossy(rest);
    let mut lines: Vec<&str> = text.split('\n').collect();
    let Some(target) = lines.pop() else { return };
    let mut patterns = Vec::new();
    for (i, line) in lines.iter().take(3).enumerate() {
        let pattern = match (sel >> (2 * i)) & 3 {
            1 => PathPattern::exact(*line),
            2 if line.len() <= 24 => match PathPattern::regex(line) {
                Ok(p) => p,
                Err(_) => continue,
            },
            _ => PathPattern::prefix(*line),
        };
        patterns.push((pattern, *line, (sel >> (2 * i)) & 3));
    }
    check_prefix_and_exact(&patterns, target);
    let Ok(pq) = PathAndQuery::try_from(target) else { return };
    let mut parts = actix_web::http::uri::Parts::default();
    parts.path_and_query = Some(pq);
    let Ok(uri) = Uri::from_parts(parts) else { return };
    let raw = uri.path().to_owned();
    let url = Url::new(uri);
    let routed = url.path();
    let only: Vec<PathPattern> = patterns.iter().map(|(p, _, _)| p.clone()).collect();
    let covered = fuzzing::covers(include, &only, &raw, routed);
    if fuzzing::is_ambiguous(&raw, routed) {
        assert!(covered, "an ambiguous path is unprotected: {raw:?}");
        return;
    }
    assert!(
        routed.starts_with('/') && !routed.contains("//"),
        "{raw:?} -> {routed:?}"
    );
    assert!(
        !routed.split('/').any(|s| s == "." || s == ".."),
        "{raw:?} -> {routed:?}"
    );
    assert!(
        !routed.chars().any(|c| c.is_control() || c == '\\' || c == ';'),
        "{raw:?}"
    );
    let decoded = percent_decode(routed);
    for p in &only {
        assert_eq!(
            p.matches(routed),
            p.matches(&decoded),
            "{p:?}: handlers read {raw:?} (routed {routed:?}) as {decoded:?}"
        );
    }
    // The decoded form, sent as it is, is protected the same way.
    if let Ok(pq) = PathAndQuery::try_from(decoded.as_str()) {
        let mut parts = actix_web::http::uri::Parts::default();
        parts.path_and_query = Some(pq);
        if let Ok(uri) = Uri::from_parts(parts) {
            let raw2 = uri.path().to_owned();
            let routed2 = Url::new(uri).path().to_owned();
            if routed2 == decoded && !fuzzing::is_ambiguous(&raw2, &routed2) {
                assert_eq!(
                    fuzzing::covers(include, &only, &raw2, &routed2),
                    covered,
                    "{raw:?} vs {raw2:?}"
                );
            }
        }
    }
}

/// Prefix patterns are segment-aware and exact patterns are exact, by an independent reading.
fn check_prefix_and_exact(patterns: &[(PathPattern, &str, u8)], path: &str) {
    for (pattern, source, kind) in patterns {
        let expected = match kind {
            1 => path == *source,
            2 => continue,
            _ => {
                let prefix = source.trim_end_matches('/');
                let prefix = if prefix.is_empty() && !source.is_empty() {
                    "/"
                } else {
                    prefix
                };
                prefix == "/" || path == prefix || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'))
            }
        };
        assert_eq!(pattern.matches(path), expected, "{pattern:?} on {path:?}");
    }
}

/// `next` values: only local paths are followed, and a browser resolves every one of them to
/// the same origin.
pub fn safe_next_value(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Some(next) = safe_next(&text) else { return };
    assert_eq!(next, text, "safe_next changed the value");
    let bytes = next.as_bytes();
    assert!(bytes.first() == Some(&b'/'), "not a path: {next:?}");
    assert!(
        !matches!(bytes.get(1), Some(b'/' | b'\\')),
        "protocol-relative: {next:?}"
    );
    assert!(bytes.len() <= MAX_NEXT_LEN, "over-long next");
    assert!(
        bytes.iter().all(u8::is_ascii_graphic),
        "space or control character: {next:?}"
    );
    assert!(!next.contains('\\'), "backslash: {next:?}");
    assert!(HeaderValue::from_str(next).is_ok(), "not a valid Location: {next:?}");
    let once = percent_decode(next);
    assert!(
        !once.starts_with("//") && !once.starts_with("/\\"),
        "protocol-relative once decoded: {next:?}"
    );
}

#[cfg(feature = "session")]
/// Remember-me cookies: only `selector:validator` of 22 and 43 base64url characters.
pub fn remember_cookie(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let b64url = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    match fuzzing::remember_cookie(&text) {
        Some((selector, validator)) => {
            assert!(text.len() <= 128, "over-long cookie accepted");
            assert_eq!(format!("{selector}:{validator}"), text);
            assert!(selector.len() == 22 && validator.len() == 43, "{text:?}");
            assert!(b64url(&selector) && b64url(&validator), "{text:?}");
        }
        None => {
            let well_formed = text
                .split_once(':')
                .is_some_and(|(s, v)| s.len() == 22 && v.len() == 43 && b64url(s) && b64url(v));
            assert!(!well_formed, "refused a well-formed cookie: {text:?}");
        }
    }
}

/// The ceiling the verify check uses: small, so that even accepted hashes verify in well under a
/// millisecond.
pub const TINY_CEILING: ParamCeiling = ParamCeiling {
    memory_kib: 64,
    iterations: 2,
    parallelism: 2,
};

fn tiny_hasher() -> &'static Argon2Hasher {
    static HASHER: OnceLock<Argon2Hasher> = OnceLock::new();
    HASHER.get_or_init(|| {
        Argon2Hasher::builder()
            .params(16, 1, 1)
            .ceiling(TINY_CEILING)
            .build()
            .expect("valid parameters")
    })
}

/// The `m`, `t` and `p` values written in a PHC string, read independently.
pub fn written_params(hash: &str) -> [Option<u64>; 3] {
    let mut found = [None; 3];
    for segment in hash.split('$') {
        for pair in segment.split(',') {
            let Some((key, value)) = pair.split_once('=') else {
                continue;
            };
            let slot = match key {
                "m" => 0,
                "t" => 1,
                "p" => 2,
                _ => continue,
            };
            if let Ok(v) = value.parse::<u64>() {
                found[slot] = Some(v);
            }
        }
    }
    found
}

fn check_ceiling(hash: &str, ceiling: &ParamCeiling) -> Option<(u32, u32, u32)> {
    let limits = [ceiling.memory_kib, ceiling.iterations, ceiling.parallelism].map(u64::from);
    let parsed = fuzzing::argon2_stored_params(hash, ceiling);
    if let Some((m, t, p)) = parsed {
        let used = [m, t, p].map(u64::from);
        assert!(
            used.iter().zip(&limits).all(|(u, l)| u <= l),
            "ceiling ignored: {hash:?}"
        );
        for (written, used) in written_params(hash).iter().zip(used) {
            if let Some(written) = written {
                assert_eq!(*written, used, "verified with other parameters than written: {hash:?}");
            }
        }
    } else {
        return None;
    }
    parsed
}

/// Stored hashes: parameters above the ceiling are refused before anything is allocated for
/// them, and what is accepted is verified with exactly the written parameters.
pub fn argon2_stored_hash(data: &[u8]) {
    let hash = String::from_utf8_lossy(data);
    check_ceiling(&hash, &ParamCeiling::default());
    let tiny = check_ceiling(&hash, &TINY_CEILING);
    let matched = fuzzing::argon2_verify_now(tiny_hasher(), "password", &hash).expect("verification runs");
    assert!(!matched || tiny.is_some(), "matched a hash that was refused: {hash:?}");
}
