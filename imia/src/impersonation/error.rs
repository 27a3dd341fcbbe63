//! [`ImpersonationError`]: why an explicit impersonation request failed.

use actix_web::{HttpResponse, ResponseError, http::StatusCode};

use crate::error::ProviderError;

/// An explicit impersonation request was refused.
///
/// # Examples
///
/// ```
/// use actix_web::ResponseError;
/// use imia::impersonation::ImpersonationError;
///
/// let refused = ImpersonationError::Refused;
/// assert_eq!(refused.status_code(), 403); // the same for unknown and forbidden targets
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImpersonationError {
    /// Not permitted, or no such target: the same answer either way (403), so that nothing
    /// reveals whether an id exists.
    #[error("impersonation refused")]
    Refused,
    /// The user store failed (500/503).
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The session could not store the impersonation (500).
    #[error("the session could not store the impersonation")]
    Session,
}

impl ResponseError for ImpersonationError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Refused => StatusCode::FORBIDDEN,
            Self::Provider(err) => err.status(),
            Self::Session => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::new(self.status_code())
    }
}
