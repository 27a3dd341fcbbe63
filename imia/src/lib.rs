//! Authentication for actix-web: users, providers, authenticators, middleware and guards.
//!
//! imia puts an identity on every request. An [`Authentication`] middleware runs a chain of
//! [authenticators](authenticator) (session, HTTP Basic, bearer and other token schemes, API
//! keys, your own) against a [user provider](provider), stops at the first user found, and
//! leaves a [`UserToken`] on the request, anonymous when nobody authenticated. Handlers read it
//! with the [`UserToken`] and [`CurrentUser`] extractors, or check scopes with
//! [`require_scopes`].
//!
//! # Quick start
//!
//! ```
//! use std::borrow::Cow;
//! use actix_web::{App, HttpResponse, test, web};
//! use imia::{Authentication, UserLike, UserToken, authenticator::ApiKeyAuthenticator, provider::InMemoryProvider};
//!
//! #[derive(Clone)]
//! struct User { email: &'static str, name: &'static str }
//!
//! impl UserLike for User {
//!     fn id(&self) -> Cow<'_, str> { self.email.into() }
//!     fn display_name(&self) -> Cow<'_, str> { self.name.into() }
//! }
//!
//! async fn whoami(token: UserToken) -> HttpResponse {
//!     HttpResponse::Ok().body(token.display_name().into_owned())
//! }
//!
//! # actix_rt::System::new().block_on(async {
//! let users = InMemoryProvider::from_map([
//!     ("user1@example.com", User { email: "user1@example.com", name: "User1" }),
//! ]);
//! let app = test::init_service(
//!     App::new()
//!         .wrap(Authentication::new(ApiKeyAuthenticator::new(users)))
//!         .route("/", web::get().to(whoami)),
//! )
//! .await;
//!
//! let req = test::TestRequest::get().uri("/?apikey=user1@example.com").to_request();
//! assert_eq!(test::call_and_read_body(&app, req).await, "User1");
//! let req = test::TestRequest::get().uri("/").to_request();
//! assert_eq!(test::call_and_read_body(&app, req).await, "Anonymous");
//! # });
//! ```
//!
//! # Concepts
//!
//! - **Users** implement [`UserLike`]: an id, a display name, a password hash, scopes, an
//!   active flag.
//! - **Providers** ([`provider::UserProvider`]) load users by id, username or token.
//! - **Authenticators** ([`authenticator::Authenticator`]) read credentials from a request and
//!   answer "authenticated", "no credentials here" or "rejected".
//! - **The middleware** ([`Authentication`]) chains them, decides which paths are covered
//!   ([`PathPattern`]), and what happens to anonymous requests ([`Fallback`]) and rejected
//!   credentials ([`OnRejected`]).
//! - **The token** ([`UserToken`]) tells handlers who is there, in which [`LoginState`], with
//!   which scopes.
//! - **Errors** ([`error`]) answer with deliberate statuses and empty bodies: 401 (or a redirect to
//!   the login page), 403, 400, and opaque 500/503 when a store fails.
//! - **Sessions** (feature `session`): [`login`] checks passwords ([`password`]) and logs users
//!   in and out, [`remember`] keeps them logged in across browser restarts, [`impersonation`]
//!   lets staff act as a user, [`csrf`] refuses cross-site state changes, [`redirect`] keeps the
//!   way back after a login local.
//! - **Databases** (features `sqlite`, `postgres`, `mysql`): the `diesel` module has a user
//!   provider, a session store and a remember-me store over diesel-async.
//! - **Tests** of apps that use imia: [`testing`] puts a user on a test request, or logs one in
//!   through the app's own session configuration.
//!
//! # Guide
//!
#![doc = concat!("The guide is in the repository's `docs/` directory, starting at [`docs/README.md`](", env!("CARGO_PKG_REPOSITORY"), "/blob/main/docs/README.md):")]
//! eighteen chapters from a quick start to deployment on several servers, the security model,
//! migrating from the Python library, testing, second factors, and account recovery and sign-up.
//! Its code blocks run as doctests of this crate.
//!
//! # Feature flags
//!
//! | Name | Description | Default? |
//! |---|---|---|
//! | `macros` | `#[derive(UserLike)]` and `#[protected]` (the `imia-macros` crate) | yes |
//! | `session` | sessions on actix-session: [`authenticator::SessionAuthenticator`], `login`, `remember`, `impersonation`, [`StrictSessionStore`], [`TimeoutSessionStore`], the session cookie helpers of [`testing`] | yes |
//! | `diesel` | the `diesel` module's building blocks over diesel-async and deadpool; pick a backend below | no |
//! | `sqlite` | `diesel` on SQLite, compiled in (no system library) | no |
//! | `postgres` | `diesel` on PostgreSQL through tokio-postgres (no libpq) | no |
//! | `mysql` | `diesel` on MySQL and MariaDB through mysql_async (no libmysqlclient) | no |
//! | `two-factor` | second factors in the login flow: TOTP codes and recovery codes ([`two_factor`]); implies `session` | no |
//! | `account` | password resets, verified sign-up and address changes by single-use links ([`account`]); implies `session` and `mail` | no |
//! | `mail` | account e-mails: the [`mail::Mailer`] trait, a file mailer and an outbox that sends off the request path, on lettre | no |
//! | `smtp` | an SMTP mailer on lettre (tokio, STARTTLS or TLS through rustls, authentication); implies `mail` | no |
//! | `fuzzing` | unstable entry points into the parsers, for the fuzz targets and their regression tests; not part of the API | no |
//!
//! Each feature builds alone. [`testing`] is always compiled: see its documentation for why.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// Lets `::imia::` paths generated by imia-macros resolve inside this crate too.
#[allow(unused_extern_crates)]
extern crate self as imia;

#[doc(hidden)]
pub mod __private;
#[cfg(feature = "account")]
pub mod account;
pub mod authenticator;
mod cookies;
mod crypto;
pub mod csrf;
#[cfg(any(feature = "session", feature = "diesel", feature = "redis"))]
mod deadline;
#[cfg(feature = "diesel")]
pub mod diesel;
pub mod error;
mod extract;
/// Unstable entry points for the fuzz targets; not part of the API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(feature = "session")]
pub mod impersonation;
#[cfg(feature = "session")]
pub mod login;
#[cfg(feature = "mail")]
pub mod mail;
mod middleware;
pub mod password;
pub mod provider;
pub mod redirect;
#[cfg(feature = "session")]
pub mod remember;
mod secret;
#[cfg(feature = "session")]
mod session_state;
#[cfg(feature = "session")]
mod session_timeout;
#[cfg(feature = "session")]
pub mod sessions;
#[cfg(feature = "session")]
mod strict_store;
pub mod testing;
pub mod throttle;
mod token;
#[cfg(feature = "two-factor")]
pub mod two_factor;
mod user;

pub use crate::{
    extract::{CurrentUser, FreshUser, SecondFactorUser, UserTokenExt, require_scopes},
    middleware::{
        Authentication, AuthenticationBuilder, AuthenticationMiddleware, Fallback, IntoAuthenticators, OnRejected,
        PathPattern,
    },
    secret::{MIN_SECRET_LEN, SecretKey, SecretKeyError},
    token::{ANONYMOUS_NAME, LoginState, UserToken},
    user::UserLike,
};

#[cfg(feature = "macros")]
pub use imia_macros::{UserLike, protected};
#[cfg(feature = "session")]
pub use login::Auth;
#[cfg(feature = "session")]
pub use session_timeout::TimeoutSessionStore;
#[cfg(feature = "session")]
#[allow(deprecated)]
pub use strict_store::SESSION_ORIGIN_KEY;
#[cfg(feature = "session")]
pub use strict_store::StrictSessionStore;

// The guide in `docs/`: the code blocks of every chapter run as doctests.
#[cfg(all(doctest, feature = "macros", feature = "session"))]
mod guide {
    #[doc = include_str!("../../docs/README.md")]
    mod contents {}
    #[doc = include_str!("../../docs/quick-start.md")]
    mod quick_start {}
    #[doc = include_str!("../../docs/users.md")]
    mod users {}
    #[cfg(feature = "sqlite")]
    #[doc = include_str!("../../docs/providers.md")]
    mod providers {}
    #[doc = include_str!("../../docs/middleware.md")]
    mod middleware {}
    #[doc = include_str!("../../docs/authenticators.md")]
    mod authenticators {}
    #[doc = include_str!("../../docs/extractors.md")]
    mod extractors {}
    #[doc = include_str!("../../docs/protected.md")]
    mod protected {}
    #[doc = include_str!("../../docs/passwords.md")]
    mod passwords {}
    #[cfg(feature = "sqlite")]
    #[doc = include_str!("../../docs/login.md")]
    mod login {}
    #[doc = include_str!("../../docs/remember-me.md")]
    mod remember_me {}
    #[cfg(feature = "sqlite")]
    #[doc = include_str!("../../docs/sessions.md")]
    mod sessions {}
    #[doc = include_str!("../../docs/impersonation.md")]
    mod impersonation {}
    #[cfg(feature = "postgres")]
    #[doc = include_str!("../../docs/deployment.md")]
    mod deployment {}
    #[doc = include_str!("../../docs/security.md")]
    mod security {}
    #[doc = include_str!("../../docs/migrating.md")]
    mod migrating {}
    #[cfg(feature = "sqlite")]
    #[doc = include_str!("../../docs/testing.md")]
    mod testing {}
    #[cfg(all(feature = "sqlite", feature = "two-factor"))]
    #[doc = include_str!("../../docs/two-factor.md")]
    mod two_factor {}
    #[cfg(all(feature = "sqlite", feature = "account"))]
    #[doc = include_str!("../../docs/accounts.md")]
    mod accounts {}
    // The README's first example compiles too.
    #[doc = include_str!("../../README.md")]
    mod readme {}
}

#[cfg(test)]
mod guide_tests {
    /// Every chapter in `docs/` is compiled as a doctest above and listed in the contents.
    #[test]
    fn every_chapter_is_a_doctest_and_in_the_contents() {
        let lib = include_str!("lib.rs");
        let docs = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs");
        let contents = std::fs::read_to_string(format!("{docs}/README.md")).expect("docs/README.md");
        let mut chapters = 0;
        for entry in std::fs::read_dir(docs).expect("the docs directory") {
            let name = entry
                .expect("a directory entry")
                .file_name()
                .into_string()
                .expect("a UTF-8 name");
            if !name.ends_with(".md") {
                continue;
            }
            assert!(
                lib.contains(&format!("include_str!(\"../../docs/{name}\")")),
                "docs/{name} is not compiled as a doctest"
            );
            if name != "README.md" {
                chapters += 1;
                assert!(
                    contents.contains(&format!("]({name})")),
                    "docs/{name} is not in docs/README.md"
                );
            }
        }
        assert_eq!(
            chapters, 18,
            "the crate docs and docs/README.md count eighteen chapters"
        );
    }
}
