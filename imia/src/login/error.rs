//! Why a login or a password change failed.

use actix_web::{HttpResponse, ResponseError, http::StatusCode};

use crate::{
    error::{BoxError, ProviderError},
    password::PasswordError,
};

/// Why a login (or a password change) failed. Render it yourself for forms; as a
/// `ResponseError` it answers with an empty body.
///
/// # Examples
///
/// ```
/// use actix_web::{HttpResponse, ResponseError};
/// use imia::login::LoginError;
///
/// fn answer(result: Result<(), LoginError>) -> HttpResponse {
///     match result {
///         Ok(()) => HttpResponse::SeeOther().insert_header(("Location", "/app")).finish(),
///         // One message for every credential problem: nothing tells which one it was.
///         Err(LoginError::InvalidCredentials) => HttpResponse::Ok().body("Invalid username or password."),
///         // The store or the hasher failed: 500, or 503 when busy or unavailable.
///         Err(other) => other.error_response(),
///     }
/// }
///
/// assert_eq!(answer(Err(LoginError::InvalidCredentials)).status(), 200);
/// assert_eq!(answer(Err(LoginError::Busy)).status(), 503);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoginError {
    /// Wrong credentials, whatever the reason (unknown user, wrong password, inactive user, no
    /// usable password, throttled, missing fields). 401.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// A new password that cannot be used (empty, or longer than the hasher accepts). 400.
    #[error("the new password cannot be used")]
    InvalidNewPassword,
    /// The password was right, and the user has a second factor: the session now holds a
    /// pending login, anonymous until [`Auth::complete_login`](crate::Auth::complete_login)
    /// takes a code (feature `two-factor`). Send the user to the code form. 401.
    #[error("a second factor is required")]
    SecondFactorRequired,
    /// The password was right, but the account's e-mail address is not verified yet
    /// ([`UserLike::is_verified`](crate::UserLike::is_verified)): the user must follow the
    /// verification link first. Only a right password gets this answer, so it tells nothing to
    /// someone who does not know the password. 403.
    #[error("the e-mail address is not verified")]
    Unverified,
    /// A login guard refused; its error answers.
    #[error("login refused: {0}")]
    Guard(actix_web::Error),
    /// The user store, or a shared throttle's store, failed. 500, or 503 when it is
    /// unavailable. Failure counters are not touched.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The request is impersonating a user: account changes (a password change) are refused,
    /// so that staff acting as a user cannot change the user's credentials. 403.
    #[error("refused while impersonating")]
    Impersonating,
    /// The app keeps no session index ([`LoginManagerBuilder::sessions`](super::LoginManagerBuilder::sessions)):
    /// sessions cannot be listed or ended one by one. 501.
    #[error("sessions cannot be listed without a session index")]
    SessionsUnavailable,
    /// Too many password checks are queued. 503.
    #[error("password checks are saturated")]
    Busy,
    /// Something else failed (the hasher, the session). 500.
    #[error("login failed internally")]
    Internal(#[source] BoxError),
}

impl ResponseError for LoginError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::InvalidCredentials | Self::SecondFactorRequired => StatusCode::UNAUTHORIZED,
            Self::InvalidNewPassword => StatusCode::BAD_REQUEST,
            Self::Impersonating | Self::Unverified => StatusCode::FORBIDDEN,
            Self::SessionsUnavailable => StatusCode::NOT_IMPLEMENTED,
            Self::Guard(err) => err.as_response_error().status_code(),
            Self::Provider(err) => err.status(),
            Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Guard(err) => err.error_response(),
            _ => HttpResponse::new(self.status_code()),
        }
    }
}

impl From<PasswordError> for LoginError {
    fn from(err: PasswordError) -> Self {
        match err {
            PasswordError::TooLong => Self::InvalidCredentials,
            PasswordError::Busy => Self::Busy,
            PasswordError::Failed(e) => Self::Internal(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_statuses() {
        assert_eq!(LoginError::InvalidCredentials.status_code(), 401);
        assert_eq!(LoginError::Busy.status_code(), 503);
        assert_eq!(LoginError::InvalidNewPassword.status_code(), 400);
        assert_eq!(LoginError::Impersonating.status_code(), 403);
        assert_eq!(LoginError::from(PasswordError::TooLong).status_code(), 401);
        let guard = LoginError::Guard(actix_web::error::ErrorForbidden("closed"));
        assert_eq!(guard.status_code(), 403);
    }
}
