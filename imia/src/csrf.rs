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

use std::{fmt, net::Ipv6Addr, rc::Rc, str::FromStr, sync::Arc};

use actix_web::{
    Error, HttpRequest, HttpResponse,
    body::EitherBody,
    dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready},
    http::{Method, header, uri},
};
use futures_util::future::{LocalBoxFuture, Ready, ready};

use crate::error::ConfigError;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Scheme {
    Http,
    Https,
}

impl Scheme {
    fn parse(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("http") {
            Some(Self::Http)
        } else if s.eq_ignore_ascii_case("https") {
            Some(Self::Https)
        } else {
            None
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Self::Http => 80,
            Self::Https => 443,
        }
    }
}

const NOT_AN_ORIGIN: &str =
    "expected scheme://host[:port] such as \"https://app.example\", without a path, query, fragment or user";
const BAD_PORT: &str = "the port must be a number from 1 to 65535";
const BAD_HOST: &str =
    "the host must be a DNS name (ASCII, punycode for others), an IPv4 address or an IPv6 address in brackets";
/// The longest DNS name.
const MAX_HOST_LEN: usize = 253;

/// A web origin: scheme (`http` or `https`), host and port, as browsers send it in `Origin`.
///
/// Hosts and schemes are lower-cased, IPv6 addresses written in their canonical form and the
/// scheme's default port made explicit, so that equal origins compare equal however they are
/// spelled.
///
/// # Examples
///
/// ```
/// use imia::csrf::Origin;
///
/// let origin = Origin::parse("HTTPS://App.Example:443/").unwrap();
/// assert_eq!(origin.to_string(), "https://app.example");
/// assert_eq!((origin.scheme(), origin.host(), origin.port()), ("https", "app.example", 443));
/// assert!(origin.is_https());
/// assert_eq!(origin, "https://app.example".parse().unwrap());
/// assert_ne!(origin, Origin::parse("http://app.example").unwrap());
/// assert_eq!(Origin::parse("http://[0:0::1]:8000").unwrap().to_string(), "http://[::1]:8000");
/// assert!(Origin::parse("app.example").is_err());
/// assert!(Origin::parse("https://app.example/login").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    scheme: Scheme,
    host: String,
    port: u16,
}

impl Origin {
    /// Reads an origin from configuration: `scheme://host[:port]`, with `http` or `https`,
    /// surrounding whitespace and one trailing `/` allowed.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidOrigin`] for anything else (`null`, a path, a user, another
    /// scheme, a port out of range, a host that is not ASCII).
    pub fn parse(origin: &str) -> Result<Self, ConfigError> {
        let trimmed = origin.trim();
        let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
        parse_serialized(trimmed).map_err(|reason| ConfigError::InvalidOrigin {
            origin: origin.to_owned(),
            reason,
        })
    }

    /// `"http"` or `"https"`.
    pub fn scheme(&self) -> &'static str {
        self.scheme.as_str()
    }

    /// The host, lower-cased; an IPv6 address in brackets (`[::1]`).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, the scheme's default when none was written.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the scheme is `https`.
    pub fn is_https(&self) -> bool {
        self.scheme == Scheme::Https
    }

    fn from_parts(scheme: Scheme, (host, port): (String, Option<u16>)) -> Self {
        Self {
            scheme,
            host,
            port: port.unwrap_or(scheme.default_port()),
        }
    }
}

impl FromStr for Origin {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Origin {
    /// The serialized origin, without the default port.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme.as_str(), self.host)?;
        if self.port != self.scheme.default_port() {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Origin").field(&self.to_string()).finish()
    }
}

/// A serialized origin exactly as browsers send it: `scheme://host[:port]`.
fn parse_serialized(origin: &str) -> Result<Origin, &'static str> {
    let (scheme, authority) = origin.split_once("://").ok_or(NOT_AN_ORIGIN)?;
    let scheme = Scheme::parse(scheme).ok_or("the scheme must be http or https")?;
    Ok(Origin::from_parts(scheme, parse_authority(authority)?))
}

/// `host[:port]`, as in an origin or a `Host` header: the host lower-cased (an IPv6 address in
/// its canonical form, in brackets) and the port if one is written.
fn parse_authority(authority: &str) -> Result<(String, Option<u16>), &'static str> {
    let (host, rest) = if let Some(inner) = authority.strip_prefix('[') {
        let (literal, rest) = inner.split_once(']').ok_or(BAD_HOST)?;
        let ip: Ipv6Addr = literal.parse().map_err(|_| BAD_HOST)?;
        (format!("[{ip}]"), rest)
    } else {
        let end = authority.find(':').unwrap_or(authority.len());
        let (host, rest) = authority.split_at(end);
        if host.is_empty() {
            return Err(NOT_AN_ORIGIN);
        }
        if host.contains(['/', '?', '#', '@']) {
            return Err(NOT_AN_ORIGIN);
        }
        let valid = host.len() <= MAX_HOST_LEN
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
        if !valid {
            return Err(BAD_HOST);
        }
        (host.to_ascii_lowercase(), rest)
    };
    if rest.is_empty() {
        return Ok((host, None));
    }
    let digits = rest.strip_prefix(':').ok_or(NOT_AN_ORIGIN)?;
    if digits.contains(['/', '?', '#', '@']) {
        return Err(NOT_AN_ORIGIN);
    }
    if digits.is_empty() || digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BAD_PORT);
    }
    match digits.parse::<u16>() {
        Ok(port) if port > 0 => Ok((host, Some(port))),
        _ => Err(BAD_PORT),
    }
}

/// The origin the request was sent to, from the connection and the `Host` header (see the
/// [module docs](self#the-applications-own-origin)); `None` when there is no usable host.
fn connection_origin(req: &HttpRequest) -> Option<Origin> {
    let scheme = if req.app_config().secure() || req.uri().scheme() == Some(&uri::Scheme::HTTPS) {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let authority = match req.headers().get(header::HOST) {
        Some(host) => host.to_str().ok()?,
        None => req.uri().authority()?.as_str(),
    };
    parse_authority(authority)
        .ok()
        .map(|parts| Origin::from_parts(scheme, parts))
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

/// Middleware refusing cross-site state-changing requests with 403 (see the
/// [module docs](self)).
///
/// ```
/// use actix_web::App;
/// use imia::csrf::SameOrigin;
///
/// # fn main() -> Result<(), imia::error::ConfigError> {
/// // The app's own origin, derived from each request's connection and `Host`:
/// let app = App::new().wrap(SameOrigin::new());
/// # let _ = app;
/// // The origins the app is served as, and another site that may post to it:
/// let csrf = SameOrigin::new()
///     .try_public_origins(["https://app.example", "https://www.app.example"])?
///     .try_trust("https://admin.example.com")?;
/// let app = App::new().wrap(csrf);
/// # let _ = app;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Default)]
pub struct SameOrigin {
    origins: Arc<Origins>,
}

#[derive(Debug, Clone, Default)]
struct Origins {
    public: Vec<Origin>,
    trusted: Vec<Origin>,
}

impl SameOrigin {
    /// Checks against the origin each request was sent to (its connection's scheme, its `Host`),
    /// until [public origins](Self::public_origin) are set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an origin the application is served as (call again for more). Once one is set,
    /// requests are compared with these (and the [trusted](Self::trust) ones) instead of the
    /// origin derived from the connection, so set every origin users reach the app by.
    ///
    /// ```
    /// use actix_web::test::TestRequest;
    /// use imia::csrf::{Origin, SameOrigin};
    ///
    /// let csrf = SameOrigin::new().public_origin(Origin::parse("https://app.example").unwrap());
    /// let post = |origin| TestRequest::post().insert_header(("Host", "10.0.0.7:8000")).insert_header(("Origin", origin)).to_http_request();
    /// assert!(csrf.check(&post("https://app.example")).is_ok());
    /// assert!(csrf.check(&post("http://app.example")).is_err());
    /// assert!(csrf.check(&post("http://10.0.0.7:8000")).is_err());
    /// ```
    #[must_use]
    pub fn public_origin(mut self, origin: Origin) -> Self {
        Arc::make_mut(&mut self.origins).public.push(origin);
        self
    }

    /// [`public_origin`](Self::public_origin) from text (`https://app.example`).
    ///
    /// ```
    /// use imia::{csrf::SameOrigin, error::ConfigError};
    ///
    /// assert!(SameOrigin::new().try_public_origin("https://app.example").is_ok());
    /// let err = SameOrigin::new().try_public_origin("app.example").unwrap_err();
    /// assert!(matches!(err, ConfigError::InvalidOrigin { .. }));
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidOrigin`] when `origin` is not one (see [`Origin::parse`]).
    pub fn try_public_origin(self, origin: &str) -> Result<Self, ConfigError> {
        Ok(self.public_origin(Origin::parse(origin)?))
    }

    /// [`try_public_origin`](Self::try_public_origin) for each of `origins`.
    ///
    /// ```
    /// use imia::csrf::SameOrigin;
    ///
    /// assert!(SameOrigin::new().try_public_origins(["https://app.example", "https://app.example:8443"]).is_ok());
    /// assert!(SameOrigin::new().try_public_origins(["https://app.example", "null"]).is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidOrigin`] for the first that is not an origin.
    pub fn try_public_origins<I>(mut self, origins: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        for origin in origins {
            self = self.try_public_origin(origin.as_ref())?;
        }
        Ok(self)
    }

    /// Also accepts requests from `origin` (`scheme://host[:port]`), compared by scheme, host and
    /// port. A value that is not an origin accepts nothing and is logged as an error at
    /// configuration; [`try_trust`](Self::try_trust) reports it instead.
    #[must_use]
    pub fn trust(mut self, origin: impl Into<String>) -> Self {
        let origin = origin.into();
        match Origin::parse(&origin) {
            Ok(origin) => Arc::make_mut(&mut self.origins).trusted.push(origin),
            Err(err) => tracing::error!(%err, "SameOrigin::trust: not an origin, nothing is trusted for it"),
        }
        self
    }

    /// [`trust`](Self::trust), refusing a value that is not an origin.
    ///
    /// ```
    /// use imia::csrf::SameOrigin;
    ///
    /// assert!(SameOrigin::new().try_trust("https://admin.example").is_ok());
    /// assert!(SameOrigin::new().try_trust("https://admin.example/login").is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidOrigin`] when `origin` is not one (see [`Origin::parse`]).
    pub fn try_trust(mut self, origin: &str) -> Result<Self, ConfigError> {
        let origin = Origin::parse(origin)?;
        Arc::make_mut(&mut self.origins).trusted.push(origin);
        Ok(self)
    }

    /// Checks one request as the middleware does, for use inside a handler.
    ///
    /// ```
    /// use actix_web::test::TestRequest;
    /// use imia::csrf::{CrossSite, SameOrigin};
    ///
    /// let csrf = SameOrigin::new();
    /// let post = |origin| TestRequest::post().insert_header(("Host", "127.0.0.1:8000")).insert_header(("Origin", origin)).to_http_request();
    /// assert!(csrf.check(&post("http://127.0.0.1:8000")).is_ok());
    /// assert_eq!(csrf.check(&post("https://127.0.0.1:8000")), Err(CrossSite::Origin));
    /// ```
    ///
    /// # Errors
    ///
    /// [`CrossSite`] when the request is a cross-site state change.
    pub fn check(&self, req: &HttpRequest) -> Result<(), CrossSite> {
        check_origins(req, &self.origins.public, &self.origins.trusted)
    }
}

impl fmt::Debug for SameOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SameOrigin")
            .field("public", &self.origins.public)
            .field("trusted", &self.origins.trusted)
            .finish()
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
            config: self.clone(),
        }))
    }
}

/// The service behind [`SameOrigin`].
#[doc(hidden)]
pub struct SameOriginMiddleware<S> {
    service: Rc<S>,
    config: SameOrigin,
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
        if let Err(why) = self.config.check(req.request()) {
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

    fn post_to(uri: &str, headers: &[(&'static str, &'static str)]) -> HttpRequest {
        headers
            .iter()
            .fold(TestRequest::post().uri(uri), |r, h| r.insert_header(*h))
            .to_http_request()
    }

    fn post(headers: &[(&'static str, &'static str)]) -> HttpRequest {
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
    fn without_a_usable_host_only_configured_origins_pass() {
        for host in ["", "shop.example:99999", "us er@shop.example", "[::1"] {
            let req = post(&[("Host", host), ("Origin", "http://shop.example")]);
            assert!(check(&req, &[]).is_err(), "{host:?}");
        }
        let req = TestRequest::post()
            .insert_header(("Origin", "http://shop.example"))
            .to_http_request();
        assert!(check(&req, &[]).is_err());
        let csrf = SameOrigin::new().try_public_origin("http://shop.example").unwrap();
        assert!(csrf.check(&req).is_ok());
    }

    #[test]
    fn public_origins_replace_the_derived_one() {
        let csrf = SameOrigin::new().try_public_origin("https://app.example").unwrap();
        let req = |origin| post(&[("Host", "127.0.0.1:8000"), ("Origin", origin)]);
        assert!(csrf.check(&req("https://app.example")).is_ok());
        assert!(csrf.check(&req("https://app.example:443")).is_ok());
        assert!(csrf.check(&req("HTTPS://APP.EXAMPLE")).is_ok());
        assert!(csrf.check(&req("http://app.example")).is_err());
        assert!(csrf.check(&req("https://app.example:8443")).is_err());
        assert!(csrf.check(&req("https://evil.example")).is_err());
        assert!(
            csrf.check(&req("http://127.0.0.1:8000")).is_err(),
            "the Host is not consulted"
        );
        assert!(csrf.check(&req("null")).is_err());
        // Without Origin, as before: browsers' cross-site marker, or a non-browser client.
        assert!(csrf.check(&post(&[("Sec-Fetch-Site", "cross-site")])).is_err());
        assert!(csrf.check(&post(&[("Host", "127.0.0.1:8000")])).is_ok());

        let several = SameOrigin::new()
            .try_public_origins(["https://app.example", "http://localhost:8000"])
            .unwrap();
        assert!(several.check(&req("https://app.example")).is_ok());
        assert!(several.check(&req("http://localhost:8000")).is_ok());
        assert!(several.check(&req("https://localhost:8000")).is_err());
    }

    #[test]
    fn configured_origins_are_validated() {
        for bad in [
            "app.example",
            "null",
            "",
            "https://",
            "https://app.example/login",
            "https://app.example//",
            "https://user@app.example",
            "https://app.example:0",
            "https://app.example:70000",
            "ftp://app.example",
            "https://\u{e9}.example",
            "https://[::1",
        ] {
            let err = Origin::parse(bad).unwrap_err();
            assert!(
                matches!(&err, ConfigError::InvalidOrigin { origin, .. } if origin == bad),
                "{bad:?}"
            );
            assert!(err.to_string().contains("invalid origin"), "{err}");
            assert!(SameOrigin::new().try_public_origin(bad).is_err(), "{bad:?}");
            assert!(SameOrigin::new().try_trust(bad).is_err(), "{bad:?}");
        }
        let err = SameOrigin::new().try_public_origins(["https://a.example", "a.example"]);
        assert!(matches!(err, Err(ConfigError::InvalidOrigin { origin, .. }) if origin == "a.example"));
        assert_eq!(
            Origin::parse(" https://App.Example/ ").unwrap().to_string(),
            "https://app.example"
        );
        assert_eq!(
            Origin::parse("http://a.example:80").unwrap().to_string(),
            "http://a.example"
        );
        assert_eq!(
            Origin::parse("http://a.example:8080").unwrap().to_string(),
            "http://a.example:8080"
        );
        assert_eq!(Origin::parse("https://[::1]").unwrap().to_string(), "https://[::1]");
        assert!(!Origin::parse("http://a.example").unwrap().is_https());
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
        let req = |origin| post(&[("Host", "api.example"), ("Origin", origin)]);
        let trusted = vec!["https://admin.example/".to_string(), "not an origin".to_string()];
        assert!(check(&req("https://admin.example"), &trusted).is_ok());
        assert!(check(&req("https://admin.example:443"), &trusted).is_ok());
        assert!(check(&req("http://admin.example"), &trusted).is_err());
        assert!(check(&req("https://admin.example:8443"), &trusted).is_err());
        assert!(check(&req("not an origin"), &trusted).is_err());
        assert!(check(&req("http://api.example"), &trusted).is_ok());

        let csrf = SameOrigin::new().trust("https://admin.example").trust("admin.example");
        assert_eq!(
            csrf.origins.trusted.len(),
            1,
            "a value that is not an origin trusts nothing"
        );
        assert!(csrf.check(&req("https://admin.example")).is_ok());
        assert!(csrf.check(&req("http://admin.example")).is_err());
        // Trusted origins add to configured public origins too.
        let csrf = SameOrigin::new()
            .try_public_origin("https://api.example")
            .unwrap()
            .try_trust("https://admin.example")
            .unwrap();
        assert!(csrf.check(&req("https://admin.example")).is_ok());
        assert!(csrf.check(&req("https://api.example")).is_ok());
        assert!(csrf.check(&req("http://api.example")).is_err());
    }
}
