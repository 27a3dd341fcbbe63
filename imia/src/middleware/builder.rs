//! Building the [`Authentication`] middleware: the authenticator chain and the options.

use std::{fmt, sync::Arc};

use actix_web::http::header::HeaderValue;

use super::{Authentication, Config, Fallback, OnRejected, PathPattern, Policy, paths::Protection};
use crate::{
    authenticator::{Authenticator, DynAuthenticator},
    error::ConfigError,
    redirect,
};

/// One authenticator, or a tuple of them, for [`Authentication::new`] and
/// [`AuthenticationBuilder::authenticators`].
///
/// # Examples
///
/// One chain for two middlewares (pages with a login redirect, an API with 401s), built once:
///
/// ```
/// use std::borrow::Cow;
/// use imia::{
///     Authentication, Fallback, IntoAuthenticators, UserLike,
///     authenticator::{ApiKeyAuthenticator, TokenAuthenticator},
///     provider::InMemoryProvider,
/// };
///
/// #[derive(Clone)]
/// struct User;
/// impl UserLike for User {
///     fn id(&self) -> Cow<'_, str> { "u".into() }
/// }
///
/// fn chain(users: &InMemoryProvider<User>) -> impl IntoAuthenticators + use<> {
///     (TokenAuthenticator::bearer(users.clone()), ApiKeyAuthenticator::new(users.clone()))
/// }
///
/// let users = InMemoryProvider::new([User]);
/// let pages = Authentication::builder().authenticators(chain(&users)).login_url("/login").build().unwrap();
/// let api = Authentication::builder().authenticators(chain(&users)).fallback(Fallback::Error).build().unwrap();
/// # let _ = (pages, api);
/// ```
pub trait IntoAuthenticators {
    #[doc(hidden)]
    fn into_authenticators(self) -> Chain;
}

/// Authenticators in chain order (an implementation detail of [`IntoAuthenticators`]).
#[doc(hidden)]
pub struct Chain(pub(super) Vec<Box<dyn DynAuthenticator>>);

impl fmt::Debug for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter().map(|a| a.name())).finish()
    }
}

impl<A: Authenticator> IntoAuthenticators for A {
    fn into_authenticators(self) -> Chain {
        Chain(vec![Box::new(self)])
    }
}

macro_rules! tuple_authenticators {
    ($($name:ident)+) => {
        impl<$($name: Authenticator),+> IntoAuthenticators for ($($name,)+) {
            #[allow(non_snake_case)]
            fn into_authenticators(self) -> Chain {
                let ($($name,)+) = self;
                Chain(vec![$(Box::new($name)),+])
            }
        }
    };
}

tuple_authenticators!(A);
tuple_authenticators!(A B);
tuple_authenticators!(A B C);
tuple_authenticators!(A B C D);
tuple_authenticators!(A B C D E);
tuple_authenticators!(A B C D E F);
tuple_authenticators!(A B C D E F G);
tuple_authenticators!(A B C D E F G H);

/// Builds an [`Authentication`] middleware. Every setter documents its default.
///
/// # Examples
///
/// ```
/// use std::borrow::Cow;
/// use imia::{
///     Authentication, Fallback, PathPattern, UserLike,
///     authenticator::{ApiKeyAuthenticator, SessionAuthenticator},
///     error::ConfigError,
///     provider::InMemoryProvider,
///     SecretKey,
/// };
///
/// #[derive(Clone)]
/// struct User;
/// impl UserLike for User {
///     fn id(&self) -> Cow<'_, str> { "u".into() }
/// }
///
/// let users = InMemoryProvider::new([User]);
/// let pages = Authentication::builder()
///     .authenticator(SessionAuthenticator::new(users.clone(), SecretKey::generate()))
///     .authenticator(ApiKeyAuthenticator::new(users.clone()))
///     .exclude("/static")
///     .exclude(PathPattern::exact("/health"))
///     .login_url("/login")
///     .fallback(Fallback::Redirect) // anonymous browsers go to the login page
///     .build()
///     .unwrap();
/// # let _ = pages;
///
/// let both = Authentication::builder()
///     .authenticator(ApiKeyAuthenticator::new(users))
///     .include("/api")
///     .exclude("/api/public")
///     .build();
/// assert!(matches!(both, Err(ConfigError::IncludeAndExclude)));
/// ```
#[must_use]
pub struct AuthenticationBuilder {
    pub(super) authenticators: Vec<Box<dyn DynAuthenticator>>,
    include: Vec<PathPattern>,
    exclude: Vec<PathPattern>,
    fallback: Fallback,
    on_rejected: OnRejected,
    login_url: Option<String>,
    allow_preflight: bool,
}

impl fmt::Debug for AuthenticationBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthenticationBuilder")
            .field("authenticators", &self.authenticators.len())
            .field("include", &self.include)
            .field("exclude", &self.exclude)
            .field("fallback", &self.fallback)
            .field("on_rejected", &self.on_rejected)
            .field("login_url", &self.login_url)
            .field("allow_preflight", &self.allow_preflight)
            .finish()
    }
}

impl AuthenticationBuilder {
    /// Every setting at its default: no authenticator yet, all paths covered,
    /// [`Fallback::Anonymous`], [`OnRejected::Respond`], no login URL, preflights not exempt.
    pub(super) fn new() -> Self {
        Self {
            authenticators: Vec::new(),
            include: Vec::new(),
            exclude: Vec::new(),
            fallback: Fallback::Anonymous,
            on_rejected: OnRejected::Respond,
            login_url: None,
            allow_preflight: false,
        }
    }

    /// Appends one authenticator to the chain (tried after those added before it).
    pub fn authenticator(mut self, authenticator: impl Authenticator) -> Self {
        self.authenticators.push(Box::new(authenticator));
        self
    }

    /// Appends authenticators (one, or a tuple tried in order) to the chain.
    pub fn authenticators(mut self, authenticators: impl IntoAuthenticators) -> Self {
        self.authenticators.extend(authenticators.into_authenticators().0);
        self
    }

    /// Covers only paths matching this pattern (call again for more). A `&str` is a
    /// segment-aware prefix starting with `/`, compared literally; see [`PathPattern`]. Default:
    /// every path is covered. Exclusive with [`exclude`](Self::exclude).
    pub fn include(mut self, pattern: impl Into<PathPattern>) -> Self {
        self.include.push(pattern.into());
        self
    }

    /// Covers every path except those matching this pattern (call again for more). Paths the
    /// router could read differently (encoded slashes, dot segments, `;`) are never excluded.
    /// A `&str` is a prefix starting with `/`, as for [`include`](Self::include). Exclusive with
    /// [`include`](Self::include).
    pub fn exclude(mut self, pattern: impl Into<PathPattern>) -> Self {
        self.exclude.push(pattern.into());
        self
    }

    /// What to do when nobody authenticated on a covered path. Default: [`Fallback::Anonymous`].
    pub fn fallback(mut self, fallback: Fallback) -> Self {
        self.fallback = fallback;
        self
    }

    /// What to do with rejected credentials. Default: [`OnRejected::Respond`].
    pub fn on_rejected(mut self, on_rejected: OnRejected) -> Self {
        self.on_rejected = on_rejected;
        self
    }

    /// The login page (a local path, may carry a query). When set, browsers that must
    /// authenticate are redirected there with `next` (by the middleware under
    /// [`Fallback::Redirect`], and by [`CurrentUser`](crate::CurrentUser) and `#[protected]`
    /// under any fallback); the login page itself is never redirected. Default: none.
    pub fn login_url(mut self, url: impl Into<String>) -> Self {
        self.login_url = Some(url.into());
        self
    }

    /// Shorthand for `.login_url(url).fallback(Fallback::Redirect)`.
    #[deprecated(
        since = "0.2.0",
        note = "one name for the login page: use `.login_url(url).fallback(Fallback::Redirect)`"
    )]
    pub fn redirect_to(self, url: impl Into<String>) -> Self {
        self.login_url(url).fallback(Fallback::Redirect)
    }

    /// Lets CORS preflight requests (`OPTIONS` with `Access-Control-Request-Method`, which never
    /// carry credentials) through the fallback, for a CORS layer wrapped inside this middleware
    /// to answer. Default: `false`.
    ///
    /// Anyone can send such a request, so only a CORS answer (one that carries
    /// `Access-Control-Allow-Origin`) is let out: when a handler that takes every method
    /// answers instead, its response is replaced by the fallback's 401. Such a handler still
    /// runs; prefer wrapping the CORS layer outside `Authentication`, so that preflights never
    /// reach it.
    pub fn allow_preflight(mut self, allow: bool) -> Self {
        self.allow_preflight = allow;
        self
    }

    /// Checks the configuration and builds the middleware.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when no authenticator was given, both include and exclude patterns were
    /// given, a pattern cannot be a path ([`ConfigError::InvalidPattern`]: a prefix or exact
    /// path without its leading `/`, a prefix holding regular-expression characters, as in
    /// `"app2"` or `"^/admin"`), [`Fallback::Redirect`] has no login URL, or the login URL is not
    /// a local path.
    ///
    /// ```
    /// # use std::borrow::Cow;
    /// use imia::{Authentication, UserLike, authenticator::ApiKeyAuthenticator, error::ConfigError, provider::InMemoryProvider};
    /// # #[derive(Clone)]
    /// # struct User;
    /// # impl UserLike for User {
    /// #     fn id(&self) -> Cow<'_, str> { "u".into() }
    /// # }
    /// let users = InMemoryProvider::new([User]);
    /// for pattern in ["app2", "^/admin"] {
    ///     let err = Authentication::builder()
    ///         .authenticator(ApiKeyAuthenticator::new(users.clone()))
    ///         .include(pattern)
    ///         .build()
    ///         .unwrap_err();
    ///     assert!(matches!(err, ConfigError::InvalidPattern { .. }));
    /// }
    /// ```
    pub fn build(self) -> Result<Authentication, ConfigError> {
        if self.authenticators.is_empty() {
            return Err(ConfigError::NoAuthenticator);
        }
        if !self.include.is_empty() && !self.exclude.is_empty() {
            return Err(ConfigError::IncludeAndExclude);
        }
        for pattern in self.include.iter().chain(&self.exclude) {
            pattern.check_is_path()?;
        }
        if self.fallback == Fallback::Redirect && self.login_url.is_none() {
            return Err(ConfigError::MissingLoginUrl);
        }
        if let Some(url) = &self.login_url
            && (redirect::safe_next(url).is_none() || HeaderValue::from_str(url).is_err())
        {
            return Err(ConfigError::InvalidLoginUrl(url.clone()));
        }
        Ok(self.build_config())
    }

    pub(super) fn build_config(self) -> Authentication {
        let protection = if !self.include.is_empty() {
            Protection::Include(self.include)
        } else if !self.exclude.is_empty() {
            Protection::Exclude(self.exclude)
        } else {
            Protection::All
        };
        let challenges: Vec<HeaderValue> = self
            .authenticators
            .iter()
            .filter_map(|a| a.challenge_dyn())
            .map(|c| c.header_value().clone())
            .fold(Vec::new(), |mut acc, c| {
                if !acc.contains(&c) {
                    acc.push(c);
                }
                acc
            });
        let login_path = self
            .login_url
            .as_deref()
            .map(|u| u.split(['?', '#']).next().unwrap_or(u).to_owned());
        let authenticators = self.authenticators;
        Authentication {
            config: Arc::new(Config {
                authenticators,
                protection,
                fallback: self.fallback,
                on_rejected: self.on_rejected,
                allow_preflight: self.allow_preflight,
                login_path,
                policy: Arc::new(Policy {
                    login_url: self.login_url,
                    challenges: challenges.into(),
                }),
            }),
        }
    }
}
