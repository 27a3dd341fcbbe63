//! Why a second-factor step failed.

use actix_web::{HttpResponse, ResponseError, http::StatusCode};

use crate::{
    error::{BoxError, ProviderError},
    login::LoginError,
};

/// Why a second-factor step (the second step of a login, an enrolment, a removal) failed.
/// Render it yourself for forms; as a `ResponseError` it answers with an empty body.
///
/// # Examples
///
/// ```
/// use actix_web::ResponseError;
/// use imia::two_factor::TwoFactorError;
///
/// assert_eq!(TwoFactorError::InvalidCode.status_code(), 400);
/// assert_eq!(TwoFactorError::NoPendingLogin.status_code(), 401);
/// assert_eq!(TwoFactorError::FreshLoginRequired.status_code(), 401);
/// assert_eq!(TwoFactorError::InvalidPassword.status_code(), 403);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TwoFactorError {
    /// A wrong, used or replayed code. 400.
    #[error("invalid code")]
    InvalidCode,
    /// A wrong code that was the last one allowed: the pending login has ended, and the user
    /// must give the password again. 400.
    #[error("too many wrong codes")]
    TooManyAttempts,
    /// No pending login: none was started, it expired, it was ended by too many wrong codes, or
    /// the password changed meanwhile. Start from the password. 401.
    #[error("no login is waiting for a second factor")]
    NoPendingLogin,
    /// Nobody is logged in. 401.
    #[error("not logged in")]
    Unauthenticated,
    /// The session was restored from remember-me: log in with the password first. 401.
    #[error("a fresh login is required")]
    FreshLoginRequired,
    /// The current password was wrong (removing the second factor). 403.
    #[error("wrong password")]
    InvalidPassword,
    /// Refused while impersonating: staff acting as a user cannot change the user's second
    /// factor. 403.
    #[error("refused while impersonating")]
    Impersonating,
    /// The user has a second factor on already. 409.
    #[error("a second factor is enabled already")]
    AlreadyEnabled,
    /// The user has no second factor. 409.
    #[error("no second factor is enabled")]
    NotEnabled,
    /// No enrolment waits for confirmation (or another one replaced it). 409.
    #[error("no enrolment was started")]
    NoEnrolment,
    /// The app's login manager has no [`TwoFactor`](super::TwoFactor). 501.
    #[error("second factors are not configured")]
    NotConfigured,
    /// A store failed. 500, or 503 when unavailable.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// Too many password checks are queued. 503.
    #[error("password checks are saturated")]
    Busy,
    /// Something else failed (the session, a secret that does not open). 500.
    #[error("the second-factor step failed internally")]
    Internal(#[source] BoxError),
}

impl ResponseError for TwoFactorError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::InvalidCode | Self::TooManyAttempts => StatusCode::BAD_REQUEST,
            Self::NoPendingLogin | Self::Unauthenticated | Self::FreshLoginRequired => StatusCode::UNAUTHORIZED,
            Self::InvalidPassword | Self::Impersonating => StatusCode::FORBIDDEN,
            Self::AlreadyEnabled | Self::NotEnabled | Self::NoEnrolment => StatusCode::CONFLICT,
            Self::NotConfigured => StatusCode::NOT_IMPLEMENTED,
            Self::Provider(err) => err.status(),
            Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::new(self.status_code())
    }
}

impl From<LoginError> for TwoFactorError {
    fn from(err: LoginError) -> Self {
        match err {
            LoginError::InvalidCredentials => Self::InvalidPassword,
            LoginError::Impersonating => Self::Impersonating,
            LoginError::Provider(err) => Self::Provider(err),
            LoginError::Busy => Self::Busy,
            LoginError::Internal(err) => Self::Internal(err),
            other => Self::Internal(other.to_string().into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(TwoFactorError::TooManyAttempts.status_code(), 400);
        assert_eq!(TwoFactorError::Impersonating.status_code(), 403);
        assert_eq!(TwoFactorError::AlreadyEnabled.status_code(), 409);
        assert_eq!(TwoFactorError::from(LoginError::Busy).status_code(), 503);
        assert_eq!(TwoFactorError::from(LoginError::InvalidCredentials).status_code(), 403);
        assert!(
            TwoFactorError::Internal("x".into())
                .error_response()
                .status()
                .is_server_error()
        );
    }
}
