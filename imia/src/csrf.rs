//! Cross-site request forgery protection for state-changing requests, by origin checks.
//!
//! Browsers say where a request comes from: `Sec-Fetch-Site` (all current browsers) and
//! `Origin` (on every cross-origin request and on same-origin POSTs). [`SameOrigin`] refuses
//! (403) a state-changing request (`POST`, `PUT`, `PATCH`, `DELETE`) that:
//! - says `Sec-Fetch-Site: cross-site`, even without `Origin`;
//! - carries an `Origin` that is `null` or whose host and port are not the request's own `Host`
//!   (or a configured trusted origin).
//!
//! Requests with neither header (curl, server-to-server clients) are let through: they are not
//! browsers and cannot carry a victim's cookies unwittingly. `GET`, `HEAD` and `OPTIONS` are
//! never checked: they must not change state.
//!
//! Tokens can be added on top for defence in depth; these checks need no state, no form field
//! and no JavaScript.

use std::{fmt, rc::Rc, sync::Arc};

use actix_web::{
    Error, HttpRequest, HttpResponse,
    body::EitherBody,
    dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready},
    http::{Method, header},
};
use futures_util::future::{LocalBoxFuture, Ready, ready};

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
    /// An `Origin` of another host, or `null`.
    Origin,
}

/// Checks one request; `trusted` lists extra allowed origins (`https://app.example.com`).
///
/// ```
/// use actix_web::test::TestRequest;
/// use imia::csrf::check;
///
/// let same = TestRequest::post().insert_header(("Host", "shop.example")).insert_header(("Origin", "https://shop.example")).to_http_request();
/// let evil = TestRequest::post().insert_header(("Host", "shop.example")).insert_header(("Origin", "https://evil.example")).to_http_request();
/// let curl = TestRequest::post().insert_header(("Host", "shop.example")).to_http_request();
/// assert!(check(&same, &[]).is_ok());
/// assert!(check(&evil, &[]).is_err());
/// assert!(check(&curl, &[]).is_ok());
/// ```
///
/// # Errors
///
/// [`CrossSite`] when the request is a cross-site state change.
pub fn check(req: &HttpRequest, trusted: &[String]) -> Result<(), CrossSite> {
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
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let Ok(origin) = origin.to_str() else {
        return Err(CrossSite::Origin);
    };
    let origin = origin.trim();
    if trusted
        .iter()
        .any(|t| t.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        return Ok(());
    }
    let Some(authority) = origin_authority(origin) else {
        return Err(CrossSite::Origin);
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    match host {
        Some(host) if same_authority(&authority, host) => Ok(()),
        _ => Err(CrossSite::Origin),
    }
}

/// `host[:port]` of a serialized origin (`scheme://host[:port]`), with the scheme's default
/// port made explicit; `None` for `null` or anything that is not an origin.
fn origin_authority(origin: &str) -> Option<String> {
    let (scheme, rest) = origin.split_once("://")?;
    if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
        return None;
    }
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => "80",
        "https" => "443",
        _ => return None,
    };
    Some(with_port(rest, default_port))
}

fn with_port(authority: &str, default_port: &str) -> String {
    let has_port = match authority.rfind(':') {
        Some(i) => !authority[i..].contains(']'),
        None => false,
    };
    if has_port {
        authority.to_ascii_lowercase()
    } else {
        format!("{}:{default_port}", authority.to_ascii_lowercase())
    }
}

fn same_authority(origin: &str, host: &str) -> bool {
    // The Host header has no scheme: compare with both default ports made explicit.
    origin == with_port(host, "80") || origin == with_port(host, "443")
}

/// Middleware refusing cross-site state-changing requests with 403 (see the
/// [module docs](self)).
///
/// ```
/// use actix_web::App;
/// use imia::csrf::SameOrigin;
///
/// let app = App::new().wrap(SameOrigin::new().trust("https://admin.example.com"));
/// # let _ = app;
/// ```
#[derive(Clone, Default)]
pub struct SameOrigin {
    trusted: Arc<Vec<String>>,
}

impl SameOrigin {
    /// Checks against the request's own host only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also accepts requests from `origin` (`scheme://host[:port]`).
    #[must_use]
    pub fn trust(mut self, origin: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.trusted).push(origin.into());
        self
    }
}

impl fmt::Debug for SameOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SameOrigin").field("trusted", &self.trusted).finish()
    }
}

impl<S, B> Transform<S, ServiceRequest> for SameOrigin
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = SameOriginMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(SameOriginMiddleware {
            service: Rc::new(service),
            trusted: Arc::clone(&self.trusted),
        }))
    }
}

/// The service behind [`SameOrigin`].
#[doc(hidden)]
pub struct SameOriginMiddleware<S> {
    service: Rc<S>,
    trusted: Arc<Vec<String>>,
}

impl<S> fmt::Debug for SameOriginMiddleware<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SameOriginMiddleware").finish_non_exhaustive()
    }
}

impl<S, B> Service<ServiceRequest> for SameOriginMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        if let Err(why) = check(req.request(), &self.trusted) {
            tracing::warn!(reason = ?why, method = %req.method(), path = req.path(), "cross-site request refused");
            let resp = HttpResponse::Forbidden().finish();
            return Box::pin(ready(Ok(req.into_response(resp).map_into_right_body())));
        }
        let service = Rc::clone(&self.service);
        Box::pin(async move { service.call(req).await.map(ServiceResponse::map_into_left_body) })
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn post(headers: &[(&'static str, &'static str)]) -> HttpRequest {
        headers
            .iter()
            .fold(TestRequest::post().uri("/login"), |r, h| r.insert_header(*h))
            .to_http_request()
    }

    #[test]
    fn origins() {
        let host = ("Host", "127.0.0.1:8000");
        assert!(check(&post(&[host, ("Origin", "http://127.0.0.1:8000")]), &[]).is_ok());
        assert!(check(&post(&[host, ("Origin", "http://127.0.0.1:8001")]), &[]).is_err());
        assert!(check(&post(&[host, ("Origin", "http://evil.example")]), &[]).is_err());
        assert!(check(&post(&[host, ("Origin", "null")]), &[]).is_err());
        assert!(check(&post(&[host, ("Origin", "http://127.0.0.1:8000.evil.example")]), &[]).is_err());
        assert!(
            check(
                &post(&[("Host", "shop.example"), ("Origin", "https://shop.example")]),
                &[]
            )
            .is_ok()
        );
        assert!(
            check(
                &post(&[("Host", "shop.example"), ("Origin", "https://shop.example:443")]),
                &[]
            )
            .is_ok()
        );
        assert!(
            check(
                &post(&[("Host", "SHOP.example"), ("Origin", "https://shop.EXAMPLE")]),
                &[]
            )
            .is_ok()
        );
        assert!(check(&post(&[("Host", "[::1]:8000"), ("Origin", "http://[::1]:8000")]), &[]).is_ok());
        assert!(
            check(
                &post(&[("Host", "shop.example"), ("Origin", "ftp://shop.example")]),
                &[]
            )
            .is_err()
        );
        assert!(
            check(
                &post(&[("Host", "shop.example"), ("Origin", "https://user@shop.example")]),
                &[]
            )
            .is_err()
        );
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

    #[test]
    fn trusted_origins() {
        let trusted = vec!["https://admin.example".to_string()];
        assert!(
            check(
                &post(&[("Host", "api.example"), ("Origin", "https://admin.example")]),
                &trusted
            )
            .is_ok()
        );
    }
}
