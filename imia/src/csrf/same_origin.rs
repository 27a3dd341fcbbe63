//! The [`SameOrigin`] middleware: its configuration and the service that refuses cross-site
//! requests.

use std::{fmt, rc::Rc, sync::Arc};

use actix_web::{
    Error, HttpRequest, HttpResponse,
    body::EitherBody,
    dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready},
};
use futures_util::future::{LocalBoxFuture, Ready, ready};

use super::{CrossSite, Origin, check_origins};
use crate::error::ConfigError;

/// Middleware refusing cross-site state-changing requests with 403 (see the
/// [module docs](super)).
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
    use crate::csrf::{check, tests::post};

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
