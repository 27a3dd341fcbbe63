//! The credential parsers and path matching allocate nothing per request.
//!
//! Its own test binary: `allocation-counter` replaces the global allocator with one that counts
//! the allocations of the current thread, which would slow every other test down.
//!
//! Only what a parser needs is counted: the user type a provider returns is the application's
//! business, so the authenticators here run against a provider that finds nobody.

use std::{
    future::Future,
    pin::pin,
    task::{Context, Poll, Waker},
};

use actix_web::{
    HttpRequest,
    http::header::{HeaderMap, HeaderName, HeaderValue},
    test::TestRequest,
};
use imia::{
    PathPattern, UserLike,
    authenticator::{ApiKeyAuthenticator, Authenticator, BasicAuthenticator, Outcome, TokenAuthenticator},
    fuzzing,
    password::InsecurePlaintextVerifier,
    provider::{ProviderResult, UserProvider},
};

/// Allocations made by `f` on this thread.
fn allocations(f: impl FnOnce()) -> u64 {
    allocation_counter::measure(f).count_total
}

/// Keeps a result alive as far as the optimiser can tell.
fn sink<T>(value: T) {
    std::hint::black_box(value);
}

/// Polls a future that completes without waiting.
fn now<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the future waited"),
    }
}

struct Nobody;

impl UserLike for Nobody {
    fn id(&self) -> std::borrow::Cow<'_, str> {
        "".into()
    }
}

/// Finds nobody, without allocating: what is left to count is the authenticator's own work.
struct NoUsers;

impl UserProvider for NoUsers {
    type User = Nobody;

    async fn find_by_id(&self, _: &str) -> ProviderResult<Nobody> {
        Ok(None)
    }

    async fn find_by_username(&self, _: &str) -> ProviderResult<Nobody> {
        Ok(None)
    }

    async fn find_by_token(&self, _: &str) -> ProviderResult<Nobody> {
        Ok(None)
    }
}

/// Runs `authenticator` on `req` and returns the allocations of that call alone, checking that
/// the credentials were read (and refused: nobody is found).
fn authenticate_allocations<A: Authenticator>(authenticator: &A, req: &HttpRequest) -> u64 {
    let mut outcome = None;
    let count = allocations(|| outcome = Some(now(authenticator.authenticate(req))));
    match outcome {
        Some(Ok(Outcome::Rejected(rejection))) => {
            assert_eq!(
                rejection.kind(),
                imia::authenticator::RejectionKind::Invalid,
                "{rejection:?}"
            )
        }
        other => panic!(
            "expected an invalid-credentials rejection, got {:?}",
            other.map(|o| o.map(|o| o.map(|_| ())))
        ),
    }
    count
}

#[test]
fn the_counter_counts() {
    // Without this, every zero below could pass with no counting allocator installed.
    assert_eq!(allocations(|| sink(String::from("x"))), 1);
    assert_eq!(allocations(|| sink(vec![1u8; 3])), 1);
}

#[test]
fn authorization_header_parsing_allocates_nothing() {
    for (value, scheme) in [
        (&b"Bearer tok-0042-5c0e8d1f9a7b4e2c"[..], "Bearer"),
        (b"bearer   tok-0042", "Bearer"),
        (b"Token abc==", "Token"),
        (b"Basic dXNlcjpwYXNzd29yZA==", "Basic"),
        (b"Basic dXNlcjpwYXNzd29yZA==", "Bearer"),
    ] {
        assert_eq!(allocations(|| sink(fuzzing::authorization(value, scheme, 8192))), 0);
        assert_eq!(allocations(|| sink(fuzzing::token(value, scheme, 8192))), 0);
    }
    let mut headers = HeaderMap::new();
    headers.insert(
        HeaderName::from_static("authorization"),
        HeaderValue::from_static("Bearer tok"),
    );
    assert_eq!(
        allocations(|| sink(fuzzing::authorization_headers(&headers, "Bearer", 8192))),
        0
    );
}

#[test]
fn api_key_header_parsing_allocates_nothing() {
    let mut headers = HeaderMap::new();
    headers.insert(HeaderName::from_static("x-api-key"), HeaderValue::from_static("k-123"));
    let name = HeaderName::from_static("x-api-key");
    assert_eq!(
        allocations(|| assert_eq!(fuzzing::api_key_from_header(&headers, &name, 8192), Ok(Some("k-123")))),
        0
    );
}

#[test]
fn bearer_authentication_allocates_nothing() {
    let bearer = TokenAuthenticator::bearer(NoUsers);
    let req = TestRequest::default()
        .insert_header(("Authorization", "Bearer tok-0042-5c0e8d1f9a7b4e2c"))
        .to_http_request();
    assert_eq!(authenticate_allocations(&bearer, &req), 0);
}

#[test]
fn api_key_authentication_allocates_nothing() {
    let api_key = ApiKeyAuthenticator::new(NoUsers);
    let header = TestRequest::default()
        .insert_header(("X-Api-Key", "k-123"))
        .to_http_request();
    assert_eq!(authenticate_allocations(&api_key, &header), 0);
    let query = TestRequest::get().uri("/items?page=2&apikey=k-123").to_http_request();
    assert_eq!(authenticate_allocations(&api_key, &query), 0);
}

#[test]
fn basic_authentication_of_a_short_credential_allocates_nothing() {
    let basic = BasicAuthenticator::new(NoUsers, InsecurePlaintextVerifier);
    // ann@example.com:correct horse battery staple
    let req = TestRequest::default()
        .insert_header((
            "Authorization",
            "Basic YW5uQGV4YW1wbGUuY29tOmNvcnJlY3QgaG9yc2UgYmF0dGVyeSBzdGFwbGU=",
        ))
        .to_http_request();
    assert_eq!(authenticate_allocations(&basic, &req), 0);
}

#[test]
fn path_matching_allocates_nothing() {
    let prefix = PathPattern::from("/api");
    let exact = PathPattern::exact("/api/users/42");
    let regex = PathPattern::regex(r"/api/users/\d+").expect("a valid pattern");
    // The regex engine sets up its per-thread search cache on first use.
    assert!(regex.matches("/api/users/1"));
    for path in ["/api/users/42", "/apiary", "/", "/static/app.js"] {
        assert_eq!(allocations(|| sink(prefix.matches(path))), 0, "{path}");
        assert_eq!(allocations(|| sink(exact.matches(path))), 0, "{path}");
        assert_eq!(allocations(|| sink(regex.matches(path))), 0, "{path}");
        assert_eq!(allocations(|| sink(fuzzing::is_ambiguous(path, path))), 0, "{path}");
    }
    assert_eq!(allocations(|| sink(fuzzing::is_ambiguous("/a%2Fb", "/a/b"))), 0);
}
