//! HTTP-level tests of imia: one binary, files by concern.

/// The type of an un-started test app: `fn app() -> TestApp!()`.
macro_rules! TestApp {
    () => {
        actix_web::App<
            impl actix_web::dev::ServiceFactory<
                actix_web::dev::ServiceRequest,
                Config = (),
                Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
                Error = actix_web::Error,
                InitError = (),
            >,
        >
    };
}

#[cfg(all(feature = "account", feature = "macros"))]
mod account;
mod api_key;
#[cfg(feature = "session")]
mod auth;
mod basic;
mod chain;
mod common;
mod extractors;
#[cfg(feature = "fuzzing")]
mod fuzz_regressions;
#[cfg(feature = "session")]
mod impersonation;
#[cfg(feature = "account")]
mod link_store;
#[cfg(feature = "session")]
mod login;
#[cfg(all(feature = "macros", feature = "session"))]
mod macros;
mod paths;
#[cfg(all(feature = "diesel", feature = "sqlite"))]
mod providers;
#[cfg(all(feature = "redis", feature = "session"))]
mod redis_sessions;
#[cfg(feature = "session")]
mod remember;
mod servers;
#[cfg(feature = "session")]
mod session;
#[cfg(all(feature = "diesel", feature = "session"))]
mod session_store;
#[cfg(any(feature = "redis", feature = "diesel"))]
mod throttle;
mod token;
#[cfg(all(feature = "two-factor", feature = "macros"))]
mod two_factor;
#[cfg(feature = "two-factor")]
mod two_factor_store;
