//! Cross-site request forgery protection for state-changing requests, by origin checks.
//!
//! Browsers say where a request comes from: `Sec-Fetch-Site` (all current browsers) and
//! `Origin` (on every cross-origin request and on same-origin POSTs). [`SameOrigin`] refuses
//! (403) a state-changing request (`POST`, `PUT`, `PATCH`, `DELETE`; every method but `GET`,
//! `HEAD`, `OPTIONS` and `TRACE`) that:
//! - says `Sec-Fetch-Site: cross-site`, even without `Origin`;
//! - carries an `Origin` that is `null`, malformed, repeated, or neither the application's own
//!   origin nor a trusted one. Origins are compared by scheme, host and port (hosts and
//!   schemes case-insensitively, default ports made explicit: `http://a` is `http://a:80`), so
//!   `https://shop.example` is not the origin of a site served over plain `http`, and the reverse.
//!
//! Requests with neither header (curl, server-to-server clients) are let through: they are not
//! browsers and cannot carry a victim's cookies unwittingly. `GET`, `HEAD`, `OPTIONS` and
//! `TRACE` are never checked: they must not change state.
//!
//! # The application's own origin
//!
//! Set it with [`SameOrigin::public_origin`] (one or several: the origins users type in their
//! browsers, such as `https://app.example`), and always behind a reverse proxy or a TLS
//! terminator. When none is set, it is derived from the request as the app receives it:
//! - the scheme is `https` when the connection is TLS (actix-web's `AppConfig::secure`, set by
//!   `HttpServer::bind_rustls` and the like) or the request target says `https` (an HTTP/2
//!   `:scheme`, an absolute-form target), else `http`;
//! - the host and port are those of the `Host` header (of the request target's authority
//!   without one), the scheme's default port when it names none.
//!
//! `Forwarded`, `X-Forwarded-Proto` and `X-Forwarded-Host` are never read, which is why this
//! does not use actix-web's `ConnectionInfo`: actix-web 4 takes those headers from any client,
//! with no list of trusted proxies, so the origin a request is compared with would be the one
//! its sender (or a proxy passing the client's headers on) claims. Behind a TLS terminator the
//! app sees plain `http`, so browsers' `https://` origins are refused (403, failing closed) until
//! the public origin is set.
//!
//! Tokens can be added on top for defence in depth; these checks need no state, no form field
//! and no JavaScript.
//!
//! # Examples
//!
//! ```
//! use actix_web::App;
//! use imia::csrf::SameOrigin;
//!
//! # fn main() -> Result<(), imia::error::ConfigError> {
//! // Served as https://app.example (TLS terminated by a proxy in front).
//! let csrf = SameOrigin::new().try_public_origin("https://app.example")?;
//! let app = App::new().wrap(csrf);
//! # let _ = app;
//! # Ok(())
//! # }
//! ```

use actix_web::{
    HttpRequest,
    http::{Method, header},
};

mod origin;
mod same_origin;

use self::origin::{connection_origin, parse_serialized};
pub use self::{
    origin::Origin,
    same_origin::{SameOrigin, SameOriginMiddleware},
};

/// Why a request was judged cross-site.
///
/// # Examples
///
/// ```
/// use actix_web::test::TestRequest;
/// use imia::csrf::{CrossSite, check};
///
/// let req = TestRequest::post().insert_header(("Sec-Fetch-Site", "cross-site")).to_http_request();
/// assert_eq!(check(&req, &[]), Err(CrossSite::FetchSite));
/// let req = TestRequest::post().insert_header(("Host", "a.example")).insert_header(("Origin", "null")).to_http_request();
/// assert_eq!(check(&req, &[]), Err(CrossSite::Origin));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CrossSite {
    /// `Sec-Fetch-Site: cross-site`.
    FetchSite,
    /// An `Origin` of another scheme, host or port; `null`, malformed or repeated.
    Origin,
}

/// Checks one request against the origin derived from the connection; `trusted` lists extra
/// allowed origins (`https://app.example.com`; one that cannot be read as an origin allows
/// nothing). [`SameOrigin::check`] is the same check with configured public origins.
///
/// ```
/// use actix_web::test::TestRequest;
/// use imia::csrf::check;
///
/// let post = |origin| TestRequest::post().insert_header(("Host", "shop.example")).insert_header(("Origin", origin)).to_http_request();
/// assert!(check(&post("http://shop.example"), &[]).is_ok());
/// assert!(check(&post("https://evil.example"), &[]).is_err());
/// // A plain-http app is not the https origin of the same host, and the reverse.
/// assert!(check(&post("https://shop.example"), &[]).is_err());
/// assert!(check(&post("https://admin.example"), &["https://admin.example".to_owned()]).is_ok());
/// let curl = TestRequest::post().insert_header(("Host", "shop.example")).to_http_request();
/// assert!(check(&curl, &[]).is_ok());
/// ```
///
/// # Errors
///
/// [`CrossSite`] when the request is a cross-site state change.
pub fn check(req: &HttpRequest, trusted: &[String]) -> Result<(), CrossSite> {
    let trusted: Vec<Origin> = trusted.iter().filter_map(|t| Origin::parse(t).ok()).collect();
    check_origins(req, &[], &trusted)
}

fn check_origins(req: &HttpRequest, public: &[Origin], trusted: &[Origin]) -> Result<(), CrossSite> {
    if matches!(
        *req.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    ) {
        return Ok(());
    }
    let headers = req.headers();
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
    {
        return Err(CrossSite::FetchSite);
    }
    let mut sent = headers.get_all(header::ORIGIN);
    let Some(origin) = sent.next() else {
        return Ok(());
    };
    if sent.next().is_some() {
        return Err(CrossSite::Origin);
    }
    let origin = origin
        .to_str()
        .ok()
        .and_then(|o| parse_serialized(o.trim()).ok())
        .ok_or(CrossSite::Origin)?;
    let own = public.contains(&origin) || (public.is_empty() && connection_origin(req).as_ref() == Some(&origin));
    if own || trusted.contains(&origin) {
        Ok(())
    } else {
        Err(CrossSite::Origin)
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn post_to(uri: &str, headers: &[(&'static str, &'static str)]) -> HttpRequest {
        headers
            .iter()
            .fold(TestRequest::post().uri(uri), |r, h| r.insert_header(*h))
            .to_http_request()
    }

    pub(super) fn post(headers: &[(&'static str, &'static str)]) -> HttpRequest {
        post_to("/login", headers)
    }

    /// Whether `origin` may post to a plain-http app reached as `host`.
    fn accepted(host: &'static str, origin: &'static str) -> bool {
        check(&post(&[("Host", host), ("Origin", origin)]), &[]).is_ok()
    }

    #[test]
    fn origins() {
        let host = ("Host", "127.0.0.1:8000");
        assert!(check(&post(&[host, ("Origin", "http://127.0.0.1:8000")]), &[]).is_ok());
        assert!(check(&post(&[host, ("Origin", "http://127.0.0.1:8001")]), &[]).is_err());
        assert!(check(&post(&[host, ("Origin", "http://evil.example")]), &[]).is_err());
        assert!(check(&post(&[host, ("Origin", "null")]), &[]).is_err());
        assert!(check(&post(&[host, ("Origin", "http://127.0.0.1:8000.evil.example")]), &[]).is_err());
        assert!(accepted("shop.example", "http://shop.example"));
        assert!(accepted("shop.example", "http://shop.example:80"));
        assert!(accepted("shop.example:80", "http://shop.example"));
        assert!(accepted("SHOP.example", "HTTP://shop.EXAMPLE"));
        assert!(!accepted("shop.example", "ftp://shop.example"));
        assert!(!accepted("shop.example", "http://user@shop.example"));
    }

    #[test]
    fn the_scheme_is_part_of_the_origin() {
        // A plain-http app: its https twin is another origin, on any port.
        assert!(!accepted("127.0.0.1:8000", "https://127.0.0.1:8000"));
        assert!(!accepted("shop.example", "https://shop.example"));
        assert!(!accepted("shop.example", "https://shop.example:443"));
        assert!(!accepted("shop.example", "https://shop.example:80"));
        assert!(!accepted("shop.example:443", "https://shop.example"));
        // An https app (the request target says so): its plain-http twin is refused.
        let https = |origin| {
            post_to(
                "https://shop.example/login",
                &[("Host", "shop.example"), ("Origin", origin)],
            )
        };
        assert!(check(&https("https://shop.example"), &[]).is_ok());
        assert!(check(&https("https://shop.example:443"), &[]).is_ok());
        assert!(check(&https("HTTPS://Shop.Example"), &[]).is_ok());
        assert!(check(&https("http://shop.example"), &[]).is_err());
        assert!(check(&https("http://shop.example:443"), &[]).is_err());
    }

    #[test]
    fn forwarded_headers_do_not_choose_the_origin() {
        for forged in [
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "evil.example"),
            ("Forwarded", "proto=https;host=evil.example"),
        ] {
            let req = |origin| post(&[("Host", "shop.example"), forged, ("Origin", origin)]);
            assert!(check(&req("https://shop.example"), &[]).is_err(), "{forged:?}");
            assert!(check(&req("https://evil.example"), &[]).is_err(), "{forged:?}");
            assert!(check(&req("http://evil.example"), &[]).is_err(), "{forged:?}");
            assert!(check(&req("http://shop.example"), &[]).is_ok(), "{forged:?}");
        }
    }

    #[test]
    fn ipv6_literals() {
        assert!(accepted("[::1]:8000", "http://[::1]:8000"));
        assert!(accepted("[::1]:8000", "http://[0:0:0:0:0:0:0:1]:8000"));
        assert!(accepted("[0::1]:8000", "http://[::1]:8000"));
        assert!(accepted("[::1]", "http://[::1]:80"));
        assert!(accepted("[2001:DB8::1]", "http://[2001:db8::1]"));
        assert!(!accepted("[::1]:8000", "http://[::2]:8000"));
        assert!(!accepted("[::1]:8000", "http://[::1]:8001"));
        assert!(!accepted("[::1]:8000", "https://[::1]:8000"));
        assert!(!accepted("[::1]:8000", "http://::1:8000"));
        assert!(!accepted("[::1]:8000", "http://[::1%25lo]:8000"));
        assert!(!accepted("[::1]:8000", "http://[::1]8000"));
    }

    #[test]
    fn malformed_origins_are_refused() {
        for origin in [
            "null",
            "",
            "shop.example",
            "//shop.example",
            "http:/shop.example",
            "http://",
            "http://:80",
            "http://shop.example:",
            "http://shop.example:0",
            "http://shop.example:65536",
            "http://shop.example:080000",
            "http://shop.example:+80",
            "http://shop.example:80:80",
            "http://shop.example/",
            "http://shop.example/login",
            "http://shop.example?x",
            "http://shop.example#x",
            "http://user@shop.example",
            "http://user:pw@shop.example",
            "http://shop.example\\x",
            "http://shop example",
            "http://shop.example%2f",
            "http://shop.exampl\u{e9}",
            "javascript://shop.example",
            "http://[shop.example]",
        ] {
            assert!(!accepted("shop.example", origin), "{origin:?}");
        }
        // Not valid UTF-8 in the header.
        let req = TestRequest::post()
            .insert_header(("Host", "shop.example"))
            .insert_header((
                header::ORIGIN,
                header::HeaderValue::from_bytes(b"http://sh\xffp").unwrap(),
            ))
            .to_http_request();
        assert_eq!(check(&req, &[]), Err(CrossSite::Origin));
    }

    #[test]
    fn a_repeated_origin_is_refused() {
        let req = TestRequest::post()
            .insert_header(("Host", "shop.example"))
            .append_header(("Origin", "http://shop.example"))
            .append_header(("Origin", "http://shop.example"))
            .to_http_request();
        assert_eq!(check(&req, &[]), Err(CrossSite::Origin));
    }

    #[test]
    fn fetch_site() {
        assert!(check(&post(&[("Sec-Fetch-Site", "cross-site")]), &[]).is_err());
        assert!(check(&post(&[("Sec-Fetch-Site", "same-origin")]), &[]).is_ok());
        assert!(check(&post(&[("Sec-Fetch-Site", "none")]), &[]).is_ok());
    }

    #[test]
    fn clients_without_browser_headers_pass() {
        assert!(check(&post(&[("Host", "x")]), &[]).is_ok());
        assert!(check(&post(&[]), &[]).is_ok());
    }

    #[test]
    fn safe_methods_are_not_checked() {
        let get = TestRequest::get()
            .insert_header(("Origin", "http://evil.example"))
            .to_http_request();
        assert!(check(&get, &[]).is_ok());
    }
}
