//! Regression tests from the fuzz targets (`fuzz/`): every saved input under
//! `tests/fuzz_cases/<target>/` (crash reproducers and a slice of the minimised corpus) replays
//! through the same property checks the fuzz targets run, and the findings are pinned below.

use std::{
    fs,
    path::PathBuf,
    time::{Duration, Instant},
};

use actix_web::{HttpResponse, test as atest, web};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use imia::{
    Authentication, Fallback, PathPattern,
    authenticator::ApiKeyAuthenticator,
    fuzzing::{self, Authorization, RejectionKind},
    password::{Argon2Hasher, ParamCeiling},
    redirect::safe_next,
};

use crate::common::*;

mod checks;

/// The saved inputs of one target; fails when there are none, so a moved directory cannot
/// silently turn the replay into a no-op.
fn cases(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_cases")
        .join(target);
    let mut cases: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("directory entry").path();
            let data = fs::read(&path).expect("readable case");
            (path, data)
        })
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no saved inputs in {}", dir.display());
    cases
}

fn replay(target: &str, check: fn(&[u8])) {
    for (path, data) in cases(target) {
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{} fails its properties", path.display());
    }
}

#[test]
fn saved_authorization_header_inputs() {
    replay("authorization_header", checks::authorization_header);
}

#[test]
fn saved_token_inputs() {
    replay("token", checks::token);
}

#[test]
fn saved_basic_decode_inputs() {
    replay("basic_decode", checks::basic_decode);
}

#[test]
fn saved_api_key_inputs() {
    replay("api_key", checks::api_key);
}

#[test]
fn saved_path_patterns_inputs() {
    replay("path_patterns", checks::path_patterns);
}

#[test]
fn saved_safe_next_inputs() {
    replay("safe_next", checks::safe_next_value);
}

#[cfg(feature = "session")]
#[test]
fn saved_remember_cookie_inputs() {
    replay("remember_cookie", checks::remember_cookie);
}

#[test]
fn saved_argon2_stored_hash_inputs() {
    replay("argon2_stored_hash", checks::argon2_stored_hash);
}

#[test]
fn the_oracles_of_the_checks_follow_the_specs() {
    // The checks compare the parsers with these independent readings; a wrong reading would
    // make them pass or fail for the wrong reason.
    assert!(checks::is_token68(b"abc==") && !checks::is_token68(b"a=b") && !checks::is_token68(b"=="));
    assert_eq!(
        checks::written_params("$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$AAAA"),
        [Some(65536), Some(3), Some(4)]
    );
}

// Finding: the router leaves `%2B` and a `%` that starts no valid escape encoded in the path it
// routes on (`/%%361dmin` routes as `/%61dmin`), and path extractors decode them again, so
// `include("/admin")` did not cover a request that a `/{page}` handler read as `admin`.
#[test]
fn escapes_left_by_the_router_are_ambiguous() {
    let admin = [PathPattern::from("/admin"), PathPattern::exact("/a+b")];
    for (raw, routed) in [("/%%361dmin", "/%61dmin"), ("/a%2Bb", "/a%2Bb"), ("/a%zz", "/a%zz")] {
        assert!(fuzzing::is_ambiguous(raw, routed), "{raw}");
        assert!(fuzzing::covers(true, &admin, raw, routed), "{raw} escapes include()");
        assert!(fuzzing::covers(false, &admin, raw, routed), "{raw} counts as excluded");
    }
    assert!(!fuzzing::is_ambiguous("/%61dmin", "/admin"));
    assert!(fuzzing::covers(true, &admin, "/%61dmin", "/admin"));
    assert!(!fuzzing::covers(true, &admin, "/public", "/public"));
}

#[actix_web::test]
async fn a_leftover_escape_does_not_reach_an_included_handler() {
    async fn page(name: web::Path<String>) -> HttpResponse {
        HttpResponse::Ok().body(format!("page {name}"))
    }
    let auth = Authentication::builder()
        .authenticator(ApiKeyAuthenticator::new(users()))
        .include("/admin")
        .include(PathPattern::exact("/a+b"))
        .fallback(Fallback::Error)
        .build()
        .unwrap();
    let app = atest::init_service(actix_web::App::new().wrap(auth).route("/{name}", web::get().to(page))).await;
    for uri in ["/%%361dmin", "/%%36%31dmin", "/a%2Bb"] {
        let r = send(&app, get(uri)).await;
        assert_eq!(r.status, 401, "{uri} reached the handler anonymously: {:?}", r.body);
    }
    assert_eq!(send(&app, get("/admin")).await.status, 401);
    assert_eq!(send(&app, get("/public")).await.status, 200);
    let r = send(&app, get("/%%361dmin?apikey=root-token")).await;
    assert_eq!((r.status.as_u16(), &r.body[..]), (200, &b"page admin"[..]));
}

#[test]
fn safe_next_follows_only_local_paths() {
    for bad in [
        "",
        "app",
        "//x.example",
        "/\\x.example",
        "\\/x.example",
        "https://x.example",
        "/\t/x.example",
        "/%2f/x",
        "/%5C/x",
        "/a b",
        "/\u{7f}",
        "/é",
    ] {
        assert_eq!(safe_next(bad), None, "{bad:?}");
    }
    for good in ["/", "/app?tab=2#top", "/a/%2e%2e/b", "/a:b@c"] {
        assert_eq!(safe_next(good), Some(good));
        checks::safe_next_value(good.as_bytes());
    }
    assert_eq!(
        safe_next(&format!("/{}", "a".repeat(imia::redirect::MAX_NEXT_LEN))),
        None
    );
}

#[test]
fn basic_round_trips_and_splits_at_the_first_colon() {
    let payload = STANDARD.encode("ann@example.com:pa:ss wörd");
    assert_eq!(
        fuzzing::basic_decode(payload.as_bytes()),
        Ok(("ann@example.com".to_owned(), "pa:ss wörd".to_owned()))
    );
    // Non-canonical base64 (a non-zero trailing bit) and missing padding are refused.
    assert_eq!(fuzzing::basic_decode(b"YTo="), Ok(("a".to_owned(), String::new())));
    assert_eq!(fuzzing::basic_decode(b"YTp="), Err(RejectionKind::Malformed));
    assert_eq!(fuzzing::basic_decode(b"YTpiYw"), Err(RejectionKind::Malformed));
}

#[test]
fn accepted_tokens_are_token68() {
    assert_eq!(
        fuzzing::token(b"Bearer  abc.DEF-_~+/==", "bearer", 64),
        Ok(Some("abc.DEF-_~+/=="))
    );
    for bad in [
        &b"Bearer a=b"[..],
        b"Bearer ==",
        b"Bearer a b",
        b"Bearer \xc3\xa9",
        b"Bearer",
        b"Bearer a,b",
    ] {
        assert_eq!(
            fuzzing::token(bad, "Bearer", 64),
            Err(RejectionKind::Malformed),
            "{bad:?}"
        );
    }
    assert_eq!(fuzzing::token(b"Basic abc", "Bearer", 64), Ok(None));
    assert_eq!(
        fuzzing::authorization(b"Bearer \tx", "Bearer", 64),
        Authorization::Malformed("whitespace other than spaces after the scheme")
    );
}

#[cfg(feature = "session")]
#[test]
fn remember_cookies_are_never_over_long() {
    let good = format!("{}:{}", "s".repeat(22), "v".repeat(43));
    assert!(fuzzing::remember_cookie(&good).is_some());
    for bad in [
        format!("{good}{}", "x".repeat(128)),
        format!("{}:{}", "s".repeat(22), "v".repeat(200)),
        format!("{}:{}", "s".repeat(200), "v".repeat(43)),
        format!("{good}:"),
        format!("{}:{}=", "s".repeat(22), "v".repeat(42)),
    ] {
        assert_eq!(fuzzing::remember_cookie(&bad), None, "{bad}");
    }
}

#[test]
fn hostile_stored_hashes_are_refused_before_allocating() {
    let hostile = [
        "$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
        "$argon2id$v=19$m=2097152,t=1,p=1$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
        "$argon2id$v=19$m=65536,t=4294967295,p=1$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
        "$argon2id$v=19$m=65536,t=2,p=255$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
        "$argon2d$v=16$m=4294967295,t=4294967295,p=16777215$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
    ];
    // The OWASP-parameter hasher with the default ceiling: a hash it refused to compute would
    // take terabytes or hours; refusing it must take no time.
    let hasher = Argon2Hasher::default();
    for hash in hostile {
        assert_eq!(
            fuzzing::argon2_stored_params(hash, &ParamCeiling::default()),
            None,
            "{hash}"
        );
        let start = Instant::now();
        assert!(
            !fuzzing::argon2_verify_now(&hasher, "password", hash).unwrap(),
            "{hash}"
        );
        assert!(
            start.elapsed() < Duration::from_millis(200),
            "{hash} took {:?}",
            start.elapsed()
        );
        checks::argon2_stored_hash(hash.as_bytes());
    }
    // Within the ceiling the written parameters are the ones used.
    let fine = "$argon2id$v=19$m=64,t=2,p=2$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA";
    assert_eq!(
        fuzzing::argon2_stored_params(fine, &checks::TINY_CEILING),
        Some((64, 2, 2))
    );
}
