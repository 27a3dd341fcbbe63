//! What the middleware answers when nobody authenticated, or credentials were refused.

use std::sync::Arc;

use actix_web::{HttpMessage as _, HttpRequest, http::header::HeaderValue};

use crate::{error::Denial, redirect};

/// What the middleware does when nobody authenticated on a protected path.
///
/// # Examples
///
/// ```
/// use std::borrow::Cow;
/// use actix_web::{App, test, web};
/// use imia::{Authentication, Fallback, UserLike, authenticator::TokenAuthenticator, provider::InMemoryProvider};
///
/// #[derive(Clone)]
/// struct User;
/// impl UserLike for User {
///     fn id(&self) -> Cow<'_, str> { "u".into() }
/// }
///
/// # actix_rt::System::new().block_on(async {
/// let users = InMemoryProvider::new([User]);
/// for (fallback, status) in [(Fallback::Anonymous, 200), (Fallback::Error, 401)] {
///     let auth = Authentication::builder()
///         .authenticator(TokenAuthenticator::bearer(users.clone()))
///         .fallback(fallback)
///         .build()
///         .unwrap();
///     let app = test::init_service(App::new().wrap(auth).route("/", web::get().to(|| async { "hi" }))).await;
///     let resp = test::call_service(&app, test::TestRequest::get().to_request()).await;
///     assert_eq!(resp.status(), status);
/// }
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Fallback {
    /// Let the request through as anonymous; handlers decide (with [`CurrentUser`](crate::CurrentUser)
    /// or `#[protected]`). The default, as in the original library. (Named like
    /// [`OnRejected::Anonymous`], which lets rejected credentials through the same way.)
    #[default]
    Anonymous,
    /// Answer 401 with a `WWW-Authenticate` challenge from every authenticator that has one.
    Error,
    /// Redirect browsers to the login URL with a relative `next` (303 See Other); API clients
    /// (an `Authorization` header, or `Accept` with JSON but not HTML) get the 401 instead.
    Redirect,
}

impl Fallback {
    /// The former name of [`Fallback::Anonymous`].
    #[deprecated(
        since = "0.2.0",
        note = "renamed to `Fallback::Anonymous`, like `OnRejected::Anonymous`"
    )]
    #[allow(non_upper_case_globals)]
    pub const Nothing: Fallback = Fallback::Anonymous;
}

/// What the middleware does when an authenticator rejects the credentials it found.
///
/// # Examples
///
/// ```
/// use std::borrow::Cow;
/// use actix_web::{App, test, web};
/// use imia::{Authentication, OnRejected, UserLike, authenticator::TokenAuthenticator, provider::InMemoryProvider};
///
/// #[derive(Clone)]
/// struct User;
/// impl UserLike for User {
///     fn id(&self) -> Cow<'_, str> { "u".into() }
/// }
///
/// # actix_rt::System::new().block_on(async {
/// let users = InMemoryProvider::new([User]);
/// for (on_rejected, status) in [(OnRejected::Respond, 401), (OnRejected::Anonymous, 200)] {
///     let auth = Authentication::builder()
///         .authenticator(TokenAuthenticator::bearer(users.clone()))
///         .on_rejected(on_rejected)
///         .build()
///         .unwrap();
///     let app = test::init_service(App::new().wrap(auth).route("/", web::get().to(|| async { "hi" }))).await;
///     let req = test::TestRequest::get().insert_header(("Authorization", "Bearer unknown-token")).to_request();
///     assert_eq!(test::call_service(&app, req).await.status(), status);
/// }
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OnRejected {
    /// Answer at once: 400 for malformed credentials, 401 with challenges for invalid ones. The
    /// chain never falls through to weaker credentials. The default.
    #[default]
    Respond,
    /// Treat the request as anonymous (what the original library did); the [`Fallback`] then
    /// applies.
    Anonymous,
}

/// How "please authenticate" is answered: shared by the middleware, the extractors and
/// `#[protected]`, and put on every request the middleware sees.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub(crate) login_url: Option<String>,
    pub(crate) challenges: Arc<[HeaderValue]>,
}

impl Policy {
    /// The denial for an anonymous request: a redirect for browsers when a login URL is set,
    /// else a 401 with challenges.
    pub(crate) fn denial(&self, req: &HttpRequest) -> Denial {
        match &self.login_url {
            Some(url) if !redirect::is_api_client(req) => Denial::redirect(redirect::location(url, req)),
            _ => self.challenge(),
        }
    }

    pub(crate) fn challenge(&self) -> Denial {
        Denial::challenge_shared(Arc::clone(&self.challenges))
    }

    /// The policy on a request, or a bare 401 when the middleware did not run.
    pub(crate) fn of(req: &HttpRequest) -> Arc<Policy> {
        req.extensions().get::<Arc<Policy>>().cloned().unwrap_or_else(|| {
            Arc::new(Policy {
                login_url: None,
                challenges: Arc::from([]),
            })
        })
    }
}
