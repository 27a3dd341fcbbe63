//! Redirects to the login page and back, safely.
//!
//! The login redirect carries a relative `next` (path and query of the request, never a host);
//! after the login, [`safe_next`] follows it only when it is a local path.

use actix_web::{
    HttpRequest,
    http::header::{self, HeaderValue},
};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// The longest `next` value that is followed: 2048 bytes.
pub const MAX_NEXT_LEN: usize = 2048;

/// Characters encoded in the `next` query value: everything but unreserved characters.
const NEXT_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Whether `next` is a safe local path to redirect to after a login, and if so returns it.
///
/// Only absolute local paths are safe: a single leading `/`, no second `/` or `\` right after
/// it (`//evil.example` and `/\evil.example` are protocol-relative URLs to browsers), no
/// backslashes at all, only visible ASCII (no spaces or control characters: browsers strip tabs
/// and newlines, so `/\t/evil.example` becomes `//evil.example`; other characters arrive
/// percent-encoded; an encoded slash, backslash, tab or newline right after the first `/` is
/// refused too, in case something decodes the value once more), and at most [`MAX_NEXT_LEN`]
/// bytes. A safe value is therefore always a
/// valid `Location` header. Schemes
/// (`https:`, `javascript:`) never start with `/` and are refused.
///
/// # Examples
///
/// ```
/// use imia::redirect::safe_next;
///
/// assert_eq!(safe_next("/app?tab=2"), Some("/app?tab=2"));
/// assert_eq!(safe_next("//evil.example"), None);
/// assert_eq!(safe_next("/\\evil.example"), None);
/// assert_eq!(safe_next("https://evil.example"), None);
/// assert_eq!(safe_next("/\t/evil.example"), None);
/// ```
pub fn safe_next(next: &str) -> Option<&str> {
    let rest = next.strip_prefix('/')?;
    let safe = next.len() <= MAX_NEXT_LEN
        && !rest.starts_with(['/', '\\'])
        && !next.contains('\\')
        && next.bytes().all(|b| b.is_ascii_graphic())
        && !next.contains("/%2f")
        && !next.contains("/%2F")
        && !next.contains("/%5c")
        && !next.contains("/%5C")
        && !rest.starts_with("%2f")
        && !rest.starts_with("%2F")
        && !rest.starts_with("%5c")
        && !rest.starts_with("%5C")
        && !starts_with_encoded_whitespace(rest);
    safe.then_some(next)
}

/// Whether `rest` starts with a percent-encoded tab, line feed or carriage return: decoded once
/// more by anything on the way, browsers strip those, and `/%09/evil.example` becomes
/// `//evil.example`.
fn starts_with_encoded_whitespace(rest: &str) -> bool {
    let b = rest.as_bytes();
    b.len() >= 3 && b[0] == b'%' && b[1] == b'0' && matches!(b[2], b'9' | b'a' | b'A' | b'd' | b'D')
}

/// The request's own path and query, the value a login redirect puts in `next`.
pub fn next_of(req: &HttpRequest) -> &str {
    req.uri().path_and_query().map_or("/", |pq| pq.as_str())
}

/// `login_url` with `next` set to the request's path and query (percent-encoded), e.g.
/// `/login?next=%2Fapp%3Ftab%3D2`. A request target that is not a safe local path (say
/// `//evil.example`) is left out.
///
/// ```
/// use actix_web::test::TestRequest;
/// use imia::redirect::login_redirect;
///
/// let req = TestRequest::get().uri("/app?tab=2").to_http_request();
/// assert_eq!(login_redirect("/login", &req), "/login?next=%2Fapp%3Ftab%3D2");
/// assert_eq!(login_redirect("/login?lang=en", &req), "/login?lang=en&next=%2Fapp%3Ftab%3D2");
/// ```
pub fn login_redirect(login_url: &str, req: &HttpRequest) -> String {
    let Some(next) = safe_next(next_of(req)) else {
        return login_url.to_owned();
    };
    let sep = if login_url.contains('?') { '&' } else { '?' };
    format!("{login_url}{sep}next={}", utf8_percent_encode(next, NEXT_VALUE))
}

/// Whether the client is a program rather than a browser: it sent an `Authorization` header,
/// asked for JSON without HTML (`Accept`), or marked itself as XHR (`X-Requested-With`). Such
/// clients get a 401 where browsers get a redirect to the login page.
///
/// ```
/// use actix_web::test::TestRequest;
/// use imia::redirect::is_api_client;
///
/// let browser = TestRequest::get().insert_header(("Accept", "text/html,*/*;q=0.8")).to_http_request();
/// let api = TestRequest::get().insert_header(("Accept", "application/json")).to_http_request();
/// assert!(!is_api_client(&browser));
/// assert!(is_api_client(&api));
/// ```
pub fn is_api_client(req: &HttpRequest) -> bool {
    let headers = req.headers();
    if headers.contains_key(header::AUTHORIZATION) {
        return true;
    }
    if headers
        .get("x-requested-with")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"xmlhttprequest"))
    {
        return true;
    }
    let mut json = false;
    let mut html = false;
    for value in headers.get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else { continue };
        for media in value.split(',') {
            let media = media.split(';').next().unwrap_or("").trim();
            json |= media.eq_ignore_ascii_case("application/json") || media.to_ascii_lowercase().ends_with("+json");
            html |= media.eq_ignore_ascii_case("text/html");
        }
    }
    json && !html
}

/// The `Location` value for a login redirect, as a header value.
pub(crate) fn location(login_url: &str, req: &HttpRequest) -> HeaderValue {
    HeaderValue::try_from(login_redirect(login_url, req)).unwrap_or_else(|_| HeaderValue::from_static("/"))
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn hostile_next_values_are_refused() {
        for bad in [
            "",
            "app",
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/\\/evil.example",
            "https://evil.example",
            "http:/evil.example",
            "javascript:alert(1)",
            "data:text/html,x",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            " /app",
            "/app\u{0}",
            "/app\\x",
            "/%2f/evil.example",
            "/%2F%2Fevil.example",
            "/%5cevil.example",
            "/%09/evil.example",
            "/%0a/evil.example",
            "/%0D%0A/evil.example",
            "/a/%2f%2fevil",
            "/\u{3000}/evil.example",
            "/caf\u{e9}",
        ] {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
        assert_eq!(safe_next(&format!("/{}", "a".repeat(MAX_NEXT_LEN))), None);
    }

    #[test]
    fn local_paths_are_followed() {
        for good in [
            "/",
            "/app",
            "/app?x=1&y=%2F",
            "/a/b/c#frag",
            "/caf%C3%A9",
            "/app?next=//x",
        ] {
            assert_eq!(safe_next(good), Some(good), "{good:?}");
        }
    }

    #[test]
    fn login_redirect_encodes_path_and_query() {
        let req = TestRequest::get().uri("/app").to_http_request();
        assert_eq!(login_redirect("/login", &req), "/login?next=%2Fapp");
        let req = TestRequest::get().uri("/a%20b?q=x%20y").to_http_request();
        assert_eq!(login_redirect("/login", &req), "/login?next=%2Fa%2520b%3Fq%3Dx%2520y");
        let req = TestRequest::get().uri("//evil.example/x").to_http_request();
        assert_eq!(login_redirect("/login", &req), "/login");
    }

    #[test]
    fn api_client_detection() {
        let req = |h: (&'static str, &'static str)| TestRequest::get().insert_header(h).to_http_request();
        assert!(is_api_client(&req(("Authorization", "Bearer x"))));
        assert!(is_api_client(&req(("Accept", "application/json"))));
        assert!(is_api_client(&req(("Accept", "application/problem+json"))));
        assert!(is_api_client(&req(("X-Requested-With", "XMLHttpRequest"))));
        assert!(!is_api_client(&req(("Accept", "text/html, application/json"))));
        assert!(!is_api_client(&req(("Accept", "*/*"))));
        assert!(!is_api_client(&TestRequest::get().to_http_request()));
    }
}
