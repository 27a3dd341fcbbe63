//! Token authentication: `Authorization: <scheme> <token>` (RFC 6750 for `Bearer`).

use std::{borrow::Cow, fmt};

use actix_web::HttpRequest;

use super::{
    Authenticator, Challenge, Outcome, Rejection,
    header::{self, AuthHeader},
};
use crate::{error::AuthError, provider::UserProvider};

/// Authenticates `Authorization: <scheme> <token>` through
/// [`UserProvider::find_by_token`], for any scheme: `Token`, `Bearer`
/// ([`TokenAuthenticator::bearer`]) or your own.
///
/// The scheme matches case-insensitively; one or more spaces may follow it. The token must be a
/// `token68` (RFC 6750 §2.1: letters, digits and `-._~+/`, then optional `=` padding) no longer
/// than the credential cap. A header for another scheme is not this authenticator's business
/// ([`Outcome::NoCredentials`]); a malformed token is rejected as malformed, an unknown one (or
/// one of an inactive user) as invalid.
///
/// # Examples
///
/// ```
/// use std::borrow::Cow;
/// use imia::{UserLike, authenticator::TokenAuthenticator, provider::InMemoryProvider};
///
/// #[derive(Clone)]
/// struct Service { name: &'static str, token: &'static str }
/// impl UserLike for Service {
///     fn id(&self) -> Cow<'_, str> { self.name.into() }
///     fn api_token(&self) -> Option<&str> { Some(self.token) }
/// }
///
/// let services = InMemoryProvider::new([Service { name: "billing", token: "s3cr3t" }]);
/// let bearer = TokenAuthenticator::bearer(services.clone());  // Authorization: Bearer s3cr3t
/// let token = TokenAuthenticator::new(services, "Token");     // Authorization: Token s3cr3t
/// # let _ = (bearer, token);
/// ```
pub struct TokenAuthenticator<P> {
    provider: P,
    scheme: Cow<'static, str>,
    challenge: Challenge,
    max_len: usize,
}

impl<P> TokenAuthenticator<P> {
    /// Authenticates tokens sent with `scheme` (e.g. `"Token"`). The challenge is the bare scheme.
    pub fn new(provider: P, scheme: impl Into<Cow<'static, str>>) -> Self {
        let scheme = scheme.into();
        Self {
            provider,
            challenge: Challenge::scheme(&scheme),
            scheme,
            max_len: header::DEFAULT_MAX_CREDENTIAL_LEN,
        }
    }

    /// The `Bearer` preset (RFC 6750).
    pub fn bearer(provider: P) -> Self {
        Self::new(provider, "Bearer")
    }

    /// Adds a realm to the challenge: `<scheme> realm="…"`.
    #[must_use]
    pub fn realm(mut self, realm: &str) -> Self {
        self.challenge = Challenge::with_realm(&self.scheme, Some(realm));
        self
    }

    /// Caps the `Authorization` header's length. Default:
    /// [`DEFAULT_MAX_CREDENTIAL_LEN`](super::DEFAULT_MAX_CREDENTIAL_LEN).
    #[must_use]
    pub fn max_credential_len(mut self, len: usize) -> Self {
        self.max_len = len;
        self
    }

    /// The scheme this authenticator reads.
    pub fn scheme(&self) -> &str {
        &self.scheme
    }
}

impl<P> fmt::Debug for TokenAuthenticator<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenAuthenticator")
            .field("scheme", &self.scheme)
            .field("max_len", &self.max_len)
            .finish_non_exhaustive()
    }
}

/// Extracts the token for `scheme`, or says why there is none.
pub(crate) fn parse<'a>(found: AuthHeader<'a>) -> Result<Option<&'a str>, Rejection> {
    match found {
        AuthHeader::Absent => Ok(None),
        AuthHeader::Malformed(reason) => Err(Rejection::malformed(reason)),
        AuthHeader::Credentials([]) => Err(Rejection::malformed("scheme without a token")),
        AuthHeader::Credentials(token) if header::is_token68(token) => {
            // token68 is ASCII, so this cannot fail.
            std::str::from_utf8(token)
                .map(Some)
                .map_err(|_| Rejection::malformed("token is not ASCII"))
        }
        AuthHeader::Credentials(_) => Err(Rejection::malformed("token is not a token68")),
    }
}

impl<P: UserProvider> Authenticator for TokenAuthenticator<P> {
    type User = P::User;

    async fn authenticate(&self, req: &HttpRequest) -> Result<Outcome<P::User>, AuthError> {
        match parse(header::credentials(req, &self.scheme, self.max_len)) {
            Ok(None) => Ok(Outcome::NoCredentials),
            Err(rejection) => Ok(Outcome::Rejected(rejection)),
            Ok(Some(token)) => {
                let user = self.provider.find_by_token(token).await?;
                Ok(super::accept(user, "unknown token"))
            }
        }
    }

    fn challenge(&self) -> Option<Challenge> {
        Some(self.challenge.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authenticator::RejectionKind;

    fn p(v: &str) -> Result<Option<&str>, Rejection> {
        parse(header::from_value_for_tests(v.as_bytes(), "Token"))
    }

    #[test]
    fn reads_tokens() {
        assert_eq!(p("Token abc").unwrap(), Some("abc"));
        assert_eq!(p("token  abc==").unwrap(), Some("abc=="));
        assert_eq!(p("Bearer abc").unwrap(), None);
        assert_eq!(p("abc").unwrap(), None);
        assert_eq!(p("").unwrap(), None);
    }

    #[test]
    fn refuses_what_is_not_a_token68() {
        for bad in [
            "Token",
            "Token a b",
            "Token a=b",
            "Token ===",
            "Token ab,c",
            "Token ab\"c",
            "Token é",
        ] {
            let err = p(bad).expect_err(bad);
            assert_eq!(err.kind(), RejectionKind::Malformed, "{bad}");
        }
    }
}
