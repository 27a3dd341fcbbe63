//! Account recovery and sign-up (feature `account`): password resets and e-mail verification by
//! single-use links sent by mail, without the usual mistakes.
//!
//! - **Links** ([`links`](self#links)) are split tokens like remember-me: a selector looked up
//!   and a 256-bit validator of which only the SHA-256 is stored. Each has a [`Purpose`], a user,
//!   an expiry (a reset 1 hour, a verification 24 hours), is used up atomically (of two racing
//!   uses one wins), and is superseded by a newer one of the same purpose. Reset links are bound
//!   to the password they were issued under: any password change kills them.
//! - **Password reset** ([`Accounts::request_password_reset`], [`Accounts::reset_password`]):
//!   the request answers the same, after the same work, whether the address has an account or
//!   not (unknown addresses get nothing, or a notice with
//!   [`notify_unknown`](AccountsBuilder::notify_unknown)); requests are throttled per address
//!   and per client. A new password ends every session and remember-me token of the user (the
//!   security stamp); a second factor stays enrolled.
//! - **Sign-up** ([`Accounts::sign_up`], [`Accounts::verify_email`], needs a
//!   [`UserRegistry`]): a new account is unverified and cannot log in until the link in its
//!   mail is used; signing up with a taken address answers the same and mails that address a
//!   notice instead.
//! - **Changing the address** ([`Accounts::request_email_change`],
//!   [`Accounts::confirm_email_change`]): a link to the new address, a notice to the old one;
//!   the address changes only when the link is used.
//! - Mail goes through an [`Outbox`]: off the request path, so a slow mail server changes
//!   neither the timing nor the answer. Links are absolute URLs on the app's public origin,
//!   configured, never taken from the request's `Host` (which an attacker could set to their own
//!   host and receive the victim's link: "password reset poisoning").
//!
//! # Links
//!
//! [`LinkStore`] keeps them: [`InMemoryLinkStore`], or the Diesel `DieselLinkStore` (table
//! `imia_links`).

use std::{fmt, sync::Arc, time::Duration};

use actix_web::HttpRequest;

mod links;
mod mail;

use self::links::{DynLinkStore, LinkSecret};
pub use self::{
    links::{InMemoryLinkStore, LinkStore, LinkToken, Purpose, check_store_contract},
    mail::AccountMail,
};
use crate::{
    crypto::{constant_time_eq, unix_now},
    error::{BoxError, ProviderError},
    login::{LoginError, LoginManager, LoginThrottle},
    mail::Outbox,
    password::{PasswordError, PasswordHasher, PasswordPolicy, PolicyViolation},
    provider::{NewUser, UserProvider, UserRegistry},
    throttle::{Admission, Attempt, DynThrottle},
    user::UserLike,
};

/// Why an account step failed. Render it yourself for forms; as a `ResponseError` it answers
/// with an empty body.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    /// The link is unknown, used, expired, superseded, for another purpose, or (a reset link)
    /// issued before the password last changed. 400.
    #[error("the link is invalid or has expired")]
    InvalidLink,
    /// Not an e-mail address. 400.
    #[error("not an e-mail address")]
    InvalidAddress,
    /// The new password breaks the [`PasswordPolicy`]. 400.
    #[error(transparent)]
    WeakPassword(#[from] PolicyViolation),
    /// The current password was wrong (changing the address). 403.
    #[error("wrong password")]
    InvalidPassword,
    /// The new address belongs to another account (confirming an address change). 409.
    #[error("the address belongs to another account")]
    AddressTaken,
    /// A store failed. 500, or 503 when unavailable.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// Too many password hashes are queued. 503.
    #[error("password hashing is saturated")]
    Busy,
    /// Something else failed. 500.
    #[error("the account step failed internally")]
    Internal(#[source] BoxError),
}

impl actix_web::ResponseError for AccountError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        use actix_web::http::StatusCode;
        match self {
            Self::InvalidLink | Self::InvalidAddress | Self::WeakPassword(_) => StatusCode::BAD_REQUEST,
            Self::InvalidPassword => StatusCode::FORBIDDEN,
            Self::AddressTaken => StatusCode::CONFLICT,
            Self::Provider(err) => err.status(),
            Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> actix_web::HttpResponse {
        actix_web::HttpResponse::new(self.status_code())
    }
}

impl From<PasswordError> for AccountError {
    fn from(err: PasswordError) -> Self {
        match err {
            PasswordError::TooLong => Self::WeakPassword(PolicyViolation::TooLong {
                max: crate::password::DEFAULT_MAX_PASSWORD_LEN,
            }),
            PasswordError::Busy => Self::Busy,
            PasswordError::Failed(e) => Self::Internal(e),
        }
    }
}

impl From<LoginError> for AccountError {
    fn from(err: LoginError) -> Self {
        match err {
            LoginError::InvalidCredentials => Self::InvalidPassword,
            LoginError::Provider(err) => Self::Provider(err),
            LoginError::Busy => Self::Busy,
            LoginError::Internal(err) => Self::Internal(err),
            other => Self::Internal(other.to_string().into()),
        }
    }
}

/// Password resets, sign-up with e-mail verification and address changes, over the app's
/// [`LoginManager`] (its users, hasher and sessions), a [`LinkStore`], an [`Outbox`] and the
/// [`AccountMail`] settings. Cloning is cheap.
///
/// # Examples
///
/// ```
/// use imia::{
///     SecretKey, UserLike,
///     account::{AccountMail, Accounts, InMemoryLinkStore},
///     login::LoginManager,
///     mail::{FileMailer, Outbox},
///     password::Argon2Hasher,
///     provider::InMemoryProvider,
/// };
///
/// #[derive(Clone, UserLike)]
/// struct User { id: u32, email: String, password_hash: String, security_stamp: String }
///
/// let users = InMemoryProvider::new(Vec::<User>::new());
/// let logins = LoginManager::new(users, Argon2Hasher::default(), SecretKey::generate());
/// let mail = AccountMail::new("Example <no-reply@example.com>", "https://app.example").unwrap();
/// let accounts = Accounts::builder(logins, InMemoryLinkStore::new(), Outbox::new(FileMailer::new("mail")), mail).build();
/// # let _ = accounts;
/// ```
pub struct Accounts<P: UserProvider, H> {
    inner: Arc<Inner<P, H>>,
}

struct Inner<P: UserProvider, H> {
    logins: LoginManager<P, H>,
    links: Box<dyn DynLinkStore>,
    outbox: Outbox,
    mail: AccountMail,
    policy: PasswordPolicy,
    throttle: Option<Arc<dyn DynThrottle>>,
    reset_ttl: Duration,
    verify_ttl: Duration,
    notify_unknown: bool,
}

impl<P: UserProvider, H> Clone for Accounts<P, H> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<P: UserProvider, H> fmt::Debug for Accounts<P, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Accounts")
            .field("mail", &self.inner.mail)
            .field("policy", &self.inner.policy)
            .field("reset_ttl", &self.inner.reset_ttl)
            .field("verify_ttl", &self.inner.verify_ttl)
            .finish_non_exhaustive()
    }
}

/// Builds [`Accounts`].
#[must_use]
pub struct AccountsBuilder<P: UserProvider, H> {
    inner: Inner<P, H>,
}

impl<P: UserProvider, H> fmt::Debug for AccountsBuilder<P, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountsBuilder").finish_non_exhaustive()
    }
}

impl<P: UserProvider, H> AccountsBuilder<P, H> {
    /// What a new password must be at sign-up and at a reset. Default: [`PasswordPolicy::new`]
    /// (8 characters or more, at most 1024 bytes).
    pub fn policy(mut self, policy: PasswordPolicy) -> Self {
        self.inner.policy = policy;
        self
    }

    /// Throttles reset requests and sign-ups per address (the e-mail) and per client, with the
    /// throttle's [`ThrottlePolicy`](crate::throttle::ThrottlePolicy): every request counts.
    /// Over the limit, requests get the same answer and nothing is sent. Default: none.
    pub fn throttle(mut self, throttle: impl LoginThrottle) -> Self {
        self.inner.throttle = Some(Arc::new(throttle));
        self
    }

    /// How long a reset link works. Default: 1 hour.
    pub fn reset_ttl(mut self, ttl: Duration) -> Self {
        self.inner.reset_ttl = ttl;
        self
    }

    /// How long a verification (or address change) link works. Default: 24 hours.
    pub fn verify_ttl(mut self, ttl: Duration) -> Self {
        self.inner.verify_ttl = ttl;
        self
    }

    /// Whether a reset request for an address without an account mails that address a notice
    /// ("someone asked to reset a password; there is no account here"). Default: `false`
    /// (nothing is sent).
    pub fn notify_unknown(mut self, notify: bool) -> Self {
        self.inner.notify_unknown = notify;
        self
    }

    /// Builds the accounts.
    pub fn build(self) -> Accounts<P, H> {
        Accounts {
            inner: Arc::new(self.inner),
        }
    }
}

/// An address as typed, trimmed and in lower case, when it is one.
fn normalize_address(typed: &str) -> Option<String> {
    let address = typed.trim().to_lowercase();
    (address.len() <= 254 && address.parse::<lettre::Address>().is_ok()).then_some(address)
}

impl<P, H> Accounts<P, H>
where
    P: UserProvider,
    P::User: Clone,
    H: PasswordHasher,
{
    /// Starts a builder.
    pub fn builder(
        logins: LoginManager<P, H>,
        links: impl LinkStore,
        outbox: Outbox,
        mail: AccountMail,
    ) -> AccountsBuilder<P, H> {
        AccountsBuilder {
            inner: Inner {
                logins,
                links: Box::new(links),
                outbox,
                mail,
                policy: PasswordPolicy::new(),
                throttle: None,
                reset_ttl: Purpose::PasswordReset.default_ttl(),
                verify_ttl: Purpose::VerifyEmail.default_ttl(),
                notify_unknown: false,
            },
        }
    }

    /// The login manager.
    pub fn logins(&self) -> &LoginManager<P, H> {
        &self.inner.logins
    }

    /// The password policy.
    pub fn policy(&self) -> &PasswordPolicy {
        &self.inner.policy
    }

    /// Whether the throttle lets a request for `address` from `req`'s client through (and
    /// counts it). Refused requests are answered like any other and do nothing.
    async fn admitted(&self, req: &HttpRequest, address: &str) -> Result<bool, AccountError> {
        let attempt = Attempt {
            username: address,
            addr: req.peer_addr().map(|a| a.ip()),
        };
        let admission = Admission::ask(self.inner.throttle.as_ref(), attempt).await?;
        if admission.is_refused() {
            tracing::warn!(address.tag = %self.inner.logins.secret().log_tag(address), "account request throttled");
            return Ok(false);
        }
        // Every request spends the budget, answered or not.
        admission.failed().await?;
        Ok(true)
    }

    /// Issues a link of `purpose` for `user_id` and supersedes the user's older ones of that
    /// purpose: the token to put in the URL.
    async fn issue(
        &self,
        purpose: Purpose,
        user_id: &str,
        binding: String,
        payload: String,
    ) -> Result<String, AccountError> {
        let secret = LinkSecret::generate()?;
        let now = unix_now();
        let ttl = match purpose {
            Purpose::PasswordReset => self.inner.reset_ttl,
            _ => self.inner.verify_ttl,
        };
        let mut token = LinkToken::new(
            &secret.selector,
            secret.validator_hash(),
            purpose.as_str(),
            user_id,
            now.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX)),
        );
        token.binding = binding;
        token.payload = payload;
        token.created_at = now;
        self.inner
            .links
            .delete_user_dyn(user_id, Some(purpose.as_str()), None)
            .await?;
        self.inner.links.insert_dyn(&token).await?;
        Ok(secret.to_token())
    }

    /// The stored link of `purpose` that `token` names, unexpired and matching; `None`
    /// otherwise.
    async fn valid_link(&self, token: &str, purpose: Purpose) -> Result<Option<(LinkSecret, LinkToken)>, AccountError> {
        let Some(secret) = LinkSecret::parse(token) else {
            return Ok(None);
        };
        let Some(stored) = self.inner.links.find_dyn(&secret.selector).await? else {
            return Ok(None);
        };
        let valid = stored.purpose == purpose.as_str() && stored.expires_at > unix_now() && secret.matches(&stored);
        Ok(valid.then_some((secret, stored)))
    }

    /// Uses up the link of `purpose` that `token` names: the stored link, once.
    async fn take_link(&self, token: &str, purpose: Purpose) -> Result<LinkToken, AccountError> {
        let (secret, stored) = self
            .valid_link(token, purpose)
            .await?
            .ok_or(AccountError::InvalidLink)?;
        if !self
            .inner
            .links
            .consume_dyn(&secret.selector, &stored.validator_hash)
            .await?
        {
            return Err(AccountError::InvalidLink);
        }
        Ok(stored)
    }

    /// Hands `message` to the outbox; a full outbox is logged, the answer stays the same.
    fn post(&self, message: Result<lettre::Message, AccountError>) {
        match message {
            Ok(message) => {
                let _ = self.inner.outbox.send(message);
            }
            Err(err) => tracing::error!(error.display = %err, "could not build an account e-mail"),
        }
    }

    /// Asks for a password reset for the account with address `email`. Answers `Ok(())` for
    /// every address, known, unknown or malformed, after the same work (a user lookup and two
    /// link-store operations); only a known, active account gets a link (the mail is sent off
    /// the request path), and an unknown address a notice with
    /// [`notify_unknown`](AccountsBuilder::notify_unknown).
    ///
    /// # Errors
    ///
    /// Only when a store fails ([`AccountError::Provider`]).
    pub async fn request_password_reset(&self, req: &HttpRequest, email: &str) -> Result<(), AccountError> {
        let Some(address) = normalize_address(email) else {
            return Ok(());
        };
        if !self.admitted(req, &address).await? {
            return Ok(());
        }
        let inner = &*self.inner;
        let user = inner.logins.provider().find_by_username(&address).await?;
        match user.filter(UserLike::is_active) {
            Some(user) => {
                let binding = inner.logins.secret().link_binding(&user);
                let token = self
                    .issue(Purpose::PasswordReset, &user.id(), binding, String::new())
                    .await?;
                tracing::info!(user.id = %user.id(), "password reset link issued");
                self.post(inner.mail.reset(&address, &token));
            }
            None => {
                // The same store work as for an account: a cleanup and a lookup.
                let secret = LinkSecret::generate()?;
                inner.links.delete_expired_dyn(unix_now()).await?;
                inner.links.find_dyn(&secret.selector).await?;
                tracing::info!(address.tag = %inner.logins.secret().log_tag(&address), "password reset asked for an unknown address");
                if inner.notify_unknown {
                    self.post(inner.mail.unknown_account(&address));
                }
            }
        }
        Ok(())
    }

    /// Whether `token` is a reset link that can still be used (for the page that asks for the
    /// new password). Nothing is used up.
    ///
    /// # Errors
    ///
    /// [`AccountError::InvalidLink`] when it is not, [`AccountError::Provider`].
    pub async fn check_reset_link(&self, token: &str) -> Result<(), AccountError> {
        let (_, stored) = self
            .valid_link(token, Purpose::PasswordReset)
            .await?
            .ok_or(AccountError::InvalidLink)?;
        let user = self.bound_user(&stored).await?;
        drop(user);
        Ok(())
    }

    /// The active user a link is for, when it is bound to their current password and security
    /// stamp (reset and address-change links are).
    async fn bound_user(&self, stored: &LinkToken) -> Result<P::User, AccountError> {
        let inner = &*self.inner;
        let user = inner
            .logins
            .provider()
            .find_by_id(&stored.user_id)
            .await?
            .filter(UserLike::is_active)
            .ok_or(AccountError::InvalidLink)?;
        let binding = inner.logins.secret().link_binding(&user);
        if !constant_time_eq(binding.as_bytes(), stored.binding.as_bytes()) {
            return Err(AccountError::InvalidLink);
        }
        Ok(user)
    }

    /// Sets a new password through a reset link: checks the link and the new password, uses the
    /// link up (of two racing uses, one wins), hashes and stores the password, then ends every
    /// session and remember-me token of the user (this request's session too). A second factor
    /// stays enrolled.
    ///
    /// # Errors
    ///
    /// [`AccountError::InvalidLink`] (nothing changed), [`AccountError::WeakPassword`] (the link
    /// still works), [`AccountError::Provider`], [`AccountError::Busy`].
    pub async fn reset_password(&self, req: &HttpRequest, token: &str, new_password: &str) -> Result<(), AccountError> {
        let inner = &*self.inner;
        let (secret, stored) = self
            .valid_link(token, Purpose::PasswordReset)
            .await?
            .ok_or(AccountError::InvalidLink)?;
        let user = match self.bound_user(&stored).await {
            Ok(user) => user,
            Err(err) => {
                if matches!(err, AccountError::InvalidLink) {
                    // Issued under another password: of no use to anyone any more.
                    inner
                        .links
                        .consume_dyn(&secret.selector, &stored.validator_hash)
                        .await?;
                }
                return Err(err);
            }
        };
        inner.policy.check(new_password)?;
        // Hashed before the link is used up: a saturated hasher leaves the link working.
        let hash = inner.logins.hasher().hash(new_password).await?;
        if !inner
            .links
            .consume_dyn(&secret.selector, &stored.validator_hash)
            .await?
        {
            return Err(AccountError::InvalidLink);
        }
        if !inner.logins.provider().update_password_hash(&user, &hash).await? {
            return Err(AccountError::Internal(
                "the user provider cannot store password hashes".into(),
            ));
        }
        let user_id = user.id().into_owned();
        if let Err(err) = inner.logins.end_every_session(&user_id).await {
            tracing::error!(user.id = %user_id, error.display = %err, "could not end the user's sessions after a password reset");
        }
        // Every other link of the user goes too: an address change someone asked for with the
        // old password among them.
        inner.links.delete_user_dyn(&user_id, None, None).await?;
        if crate::session_state::session_user_id(req).as_deref() == Some(user_id.as_str()) {
            crate::login::logout(req);
        }
        tracing::info!(user.id = %user_id, "password reset");
        Ok(())
    }
}

impl<P, H> Accounts<P, H>
where
    P: UserRegistry,
    P::User: Clone,
    H: PasswordHasher,
{
    /// Signs up a new account: checks the address and the password, hashes it (off the
    /// workers), creates the account unverified and mails it a verification link. An address
    /// that has an account already gets the same answer, after the same work, and a notice
    /// ("someone tried to sign up with your address") instead; an account that was never
    /// verified gets a new verification link (the way to ask for one again; the password given
    /// is not used). `name` is the display name (the
    /// address's local part when empty).
    ///
    /// # Errors
    ///
    /// [`AccountError::InvalidAddress`], [`AccountError::WeakPassword`] (these say nothing about
    /// existing accounts), [`AccountError::Provider`], [`AccountError::Busy`].
    pub async fn sign_up(
        &self,
        req: &HttpRequest,
        email: &str,
        name: &str,
        password: &str,
    ) -> Result<(), AccountError> {
        let inner = &*self.inner;
        let address = normalize_address(email).ok_or(AccountError::InvalidAddress)?;
        inner.policy.check(password)?;
        let name = match name.trim() {
            "" => address.split('@').next().unwrap_or_default().to_owned(),
            name => name.chars().take(100).collect(),
        };
        if !self.admitted(req, &address).await? {
            return Ok(());
        }
        let hash = inner.logins.hasher().hash(password).await?;
        let created = inner
            .logins
            .provider()
            .create_user(NewUser::new(&address, &name, &hash))
            .await?;
        match created {
            Some(user) => {
                let token = self
                    .issue(Purpose::VerifyEmail, &user.id(), String::new(), String::new())
                    .await?;
                tracing::info!(user.id = %user.id(), "account created; verification link issued");
                self.post(inner.mail.verify(&address, &token));
            }
            None => match inner.logins.provider().find_by_username(&address).await? {
                // Signed up before and never verified: a fresh link (the older one is superseded).
                Some(user) if user.is_active() && !user.is_verified() => {
                    let token = self
                        .issue(Purpose::VerifyEmail, &user.id(), String::new(), String::new())
                        .await?;
                    tracing::info!(user.id = %user.id(), "sign-up again before verifying; a new verification link issued");
                    self.post(inner.mail.verify(&address, &token));
                }
                _ => {
                    tracing::info!(address.tag = %inner.logins.secret().log_tag(&address), "sign-up with a taken address");
                    self.post(inner.mail.taken(&address));
                }
            },
        }
        Ok(())
    }

    /// Uses a verification link: the account's address is verified and it can log in.
    ///
    /// # Errors
    ///
    /// [`AccountError::InvalidLink`], [`AccountError::Provider`].
    pub async fn verify_email(&self, token: &str) -> Result<(), AccountError> {
        let stored = self.take_link(token, Purpose::VerifyEmail).await?;
        if !self.inner.logins.provider().mark_verified(&stored.user_id).await? {
            return Err(AccountError::InvalidLink);
        }
        tracing::info!(user.id = %stored.user_id, "e-mail address verified");
        Ok(())
    }

    /// Asks to change the logged-in `user`'s address to `new_email`, after checking their
    /// current `password` (counted by the login throttle): a link to the new address, a notice
    /// to the old one. The address changes only when the link is used.
    ///
    /// # Errors
    ///
    /// [`AccountError::InvalidAddress`], [`AccountError::InvalidPassword`],
    /// [`AccountError::Provider`].
    pub async fn request_email_change(
        &self,
        req: &HttpRequest,
        user: &P::User,
        new_email: &str,
        password: &str,
    ) -> Result<(), AccountError> {
        let inner = &*self.inner;
        let address = normalize_address(new_email).ok_or(AccountError::InvalidAddress)?;
        inner.logins.check_current_password(req, user, password).await?;
        // Bound to the password: a password change or a reset cancels the move.
        let binding = inner.logins.secret().link_binding(user);
        let token = self
            .issue(Purpose::ChangeEmail, &user.id(), binding, address.clone())
            .await?;
        tracing::info!(user.id = %user.id(), "address change link issued");
        self.post(inner.mail.change_email(&address, &token));
        if let Some(old) = user.username() {
            self.post(inner.mail.change_notice(&old, &address));
        }
        Ok(())
    }

    /// Uses an address-change link: the account's address becomes the new one (verified).
    ///
    /// # Errors
    ///
    /// [`AccountError::InvalidLink`], [`AccountError::AddressTaken`] (another account took
    /// the address meanwhile), [`AccountError::Provider`].
    pub async fn confirm_email_change(&self, token: &str) -> Result<(), AccountError> {
        let stored = self.take_link(token, Purpose::ChangeEmail).await?;
        self.bound_user(&stored).await?;
        if !self
            .inner
            .logins
            .provider()
            .change_email(&stored.user_id, &stored.payload)
            .await?
        {
            return Err(AccountError::AddressTaken);
        }
        tracing::info!(user.id = %stored.user_id, "e-mail address changed");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_normalized_or_refused() {
        assert_eq!(
            normalize_address(" Ann@Example.COM ").as_deref(),
            Some("ann@example.com")
        );
        for bad in [
            "",
            "ann",
            "@example.com",
            "ann@",
            "a b@example.com",
            &format!("{}@example.com", "a".repeat(250)),
        ] {
            assert_eq!(normalize_address(bad), None, "{bad:?}");
        }
    }
}
