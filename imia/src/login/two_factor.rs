//! The second factor in the login flow: the pending login and its second step, enrolment and
//! removal (feature `two-factor`).

use std::time::Duration;

use actix_web::{HttpMessage as _, HttpRequest};

use super::{LoginError, LoginManager, LoginOptions};
use crate::{
    UserToken,
    crypto::unix_now_ms,
    password::PasswordHasher,
    provider::UserProvider,
    session_state::{self, PendingLogin},
    throttle::{Admission, Attempt},
    two_factor::{Enrolment, RecoveryCodes, TwoFactor, TwoFactorError, Verified},
    user::UserLike,
};

/// A login completed by its second step.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CompletedLogin {
    /// The logged-in user's token (also on the request), marked as having passed a second
    /// factor.
    pub token: UserToken,
    /// The local path the first step asked to go to, if any.
    pub next: Option<String>,
    /// Which second factor it was.
    pub method: Verified,
}

impl<P, H> LoginManager<P, H>
where
    P: UserProvider,
    P::User: Clone,
    H: PasswordHasher,
{
    /// The second factors, with [`two_factor`](super::LoginManagerBuilder::two_factor).
    pub fn two_factor(&self) -> Option<&TwoFactor> {
        self.inner.two_factor.as_ref()
    }

    fn two_factor_or_err(&self) -> Result<&TwoFactor, TwoFactorError> {
        self.two_factor().ok_or_else(|| {
            tracing::error!("second factors are not configured: LoginManagerBuilder::two_factor");
            TwoFactorError::NotConfigured
        })
    }

    /// The first step went through for a user with a second factor: the session holds a
    /// pending login and nothing else of a login.
    pub(super) async fn begin_second_step(
        &self,
        req: &HttpRequest,
        username: &str,
        user_id: &str,
        fingerprint: String,
        options: &LoginOptions,
    ) -> Result<(), LoginError> {
        let Some(two_factor) = self.two_factor() else {
            return Ok(());
        };
        // A new password step: the code attempts start over (the throttle still counts them).
        two_factor.reset_attempts(user_id).await?;
        let pending = PendingLogin {
            user_id: user_id.to_owned(),
            username: username.to_owned(),
            fingerprint,
            expires_at: unix_now_ms().saturating_add(millis(two_factor.pending_ttl_value())),
            remember: options.remember,
            next: options.next.clone(),
            failures: 0,
        };
        session_state::begin_pending(req, &pending)?;
        req.extensions_mut().insert(UserToken::anonymous());
        tracing::info!(user.id = %user_id, "password accepted; waiting for the second factor");
        Ok(())
    }

    /// Whether the request's session holds a pending login that still waits for its second
    /// factor (for the code form: without one, send the user to the password form). An expired
    /// one is ended here.
    pub fn has_pending_login(&self, req: &HttpRequest) -> bool {
        live_pending(req).is_some()
    }

    /// The second step of a login: checks `code`, a TOTP code or a recovery code, for the
    /// session's pending login. On success, renews the session id, logs the user in (marked as
    /// having passed a second factor), issues the remember-me token when the first step asked
    /// for it, and answers where the first step asked to go.
    ///
    /// Each code counts towards the login throttle, like a password; the
    /// [`max_attempts`](TwoFactor::max_attempts)-th wrong code (five by default) ends the
    /// pending login, however many requests race, and the user must give the password again.
    ///
    /// # Errors
    ///
    /// [`TwoFactorError::InvalidCode`] for a wrong code (the pending login waits on),
    /// [`TwoFactorError::TooManyAttempts`] for the last wrong code allowed,
    /// [`TwoFactorError::NoPendingLogin`] without a live pending login (never started, expired,
    /// ended, or the user's password changed meanwhile), [`TwoFactorError::Provider`] and
    /// [`TwoFactorError::Internal`] when a store or the session fails.
    pub async fn complete_login(&self, req: &HttpRequest, code: &str) -> Result<CompletedLogin, TwoFactorError> {
        let two_factor = self.two_factor_or_err()?;
        let inner = &*self.inner;
        let Some(mut pending) = live_pending(req) else {
            return Err(TwoFactorError::NoPendingLogin);
        };
        let max = two_factor.max_attempts_value();
        if pending.failures >= max {
            session_state::end_pending(req);
            return Err(TwoFactorError::NoPendingLogin);
        }
        // The user as they are now: still active, with the password and stamp of the first step.
        let user = match inner.provider.find_by_id(&pending.user_id).await? {
            Some(user) if user.is_active() && inner.secret.user_fingerprint_matches(&user, &pending.fingerprint) => {
                user
            }
            _ => {
                session_state::end_pending(req);
                tracing::info!(user.id = %pending.user_id, "pending login ended: the account changed since the password step");
                return Err(TwoFactorError::NoPendingLogin);
            }
        };
        let user_id = pending.user_id.clone();
        let attempt = Attempt {
            username: &pending.username,
            addr: req.peer_addr().map(|a| a.ip()),
        };
        let admission = Admission::ask(inner.throttle.as_ref(), attempt).await?;
        let verified = if admission.is_refused() {
            tracing::warn!(user.id = %user_id, "second factor code throttled");
            None
        } else if !two_factor.reserve_attempt(&user_id).await? {
            // Other requests used the attempts up: this pending login is over.
            admission.abandon().await?;
            session_state::end_pending(req);
            tracing::warn!(user.id = %user_id, "pending login ended: no code attempts left");
            return Err(TwoFactorError::NoPendingLogin);
        } else {
            match two_factor.verify(&user_id, code).await {
                Ok(verified) => verified,
                // Removed meanwhile: the stamp rotated, so the fingerprint check above would
                // have caught it; a racing removal lands here.
                Err(TwoFactorError::NotEnabled) => {
                    admission.abandon().await?;
                    session_state::end_pending(req);
                    return Err(TwoFactorError::NoPendingLogin);
                }
                Err(err) => return Err(err),
            }
        };
        let Some(method) = verified else {
            admission.failed().await?;
            pending.failures += 1;
            if pending.failures >= max {
                session_state::end_pending(req);
                tracing::warn!(user.id = %user_id, failures = pending.failures, "pending login ended: too many wrong codes");
                return Err(TwoFactorError::TooManyAttempts);
            }
            session_state::update_pending(req, &pending)?;
            return Err(TwoFactorError::InvalidCode);
        };
        admission.succeeded().await?;
        two_factor.reset_attempts(&user_id).await?;
        let fingerprint = inner.secret.user_fingerprint(&user);
        session_state::establish(req, user.clone(), &fingerprint)?;
        session_state::mark_second_factor(req, true)?;
        let token = UserToken::authenticated(user.clone()).with_second_factor();
        req.extensions_mut().insert(token.clone());
        tracing::info!(user.id = %user_id, second_factor = ?method, "login");
        self.enforce_session_limit(&user_id).await;
        if pending.remember {
            self.remember_after_login(req, &user).await;
        }
        Ok(CompletedLogin {
            token,
            next: pending.next,
            method,
        })
    }

    /// Whether the user with id `user_id` has a second factor on; `false` without
    /// [`two_factor`](super::LoginManagerBuilder::two_factor).
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn has_two_factor(&self, user_id: &str) -> Result<bool, TwoFactorError> {
        match self.two_factor() {
            Some(two_factor) => Ok(two_factor.is_enabled(user_id).await?),
            None => Ok(false),
        }
    }

    /// Starts enrolling the request's `user` in a second factor (a fresh login is required:
    /// not a remembered session, not while impersonating). Calling it again before
    /// [`confirm_two_factor`](Self::confirm_two_factor) replaces the secret.
    ///
    /// # Errors
    ///
    /// [`TwoFactorError::FreshLoginRequired`], [`TwoFactorError::Impersonating`],
    /// [`TwoFactorError::Unauthenticated`], [`TwoFactorError::AlreadyEnabled`],
    /// [`TwoFactorError::Provider`].
    pub async fn begin_two_factor(&self, req: &HttpRequest, user: &P::User) -> Result<Enrolment, TwoFactorError> {
        let two_factor = self.two_factor_or_err()?;
        require_fresh(req, user)?;
        let account = user.username().unwrap_or_else(|| user.display_name()).into_owned();
        two_factor.begin(&user.id(), &account).await
    }

    /// Completes the enrolment with a first `code`: the second factor is on, the user's other
    /// sessions and remember-me tokens end (the security stamp), this session counts as having
    /// passed it; answers the recovery codes, to show once.
    ///
    /// If the other sessions cannot be ended (a provider without security stamps and no session
    /// index), that is logged and the second factor stays on.
    ///
    /// # Errors
    ///
    /// [`TwoFactorError::InvalidCode`] (nothing enabled), [`TwoFactorError::NoEnrolment`], and
    /// those of [`begin_two_factor`](Self::begin_two_factor).
    pub async fn confirm_two_factor(
        &self,
        req: &HttpRequest,
        user: &P::User,
        code: &str,
    ) -> Result<RecoveryCodes, TwoFactorError> {
        let two_factor = self.two_factor_or_err()?;
        require_fresh(req, user)?;
        let codes = two_factor.confirm(&user.id(), code).await?;
        self.end_others_after_change(req, "second factor enrolled").await;
        session_state::mark_second_factor(req, true)?;
        Ok(codes)
    }

    /// Removes the request's `user`'s second factor after checking their current `password`
    /// (counted by the login throttle); the user's other sessions and remember-me tokens end.
    ///
    /// # Errors
    ///
    /// [`TwoFactorError::InvalidPassword`] (nothing changed), [`TwoFactorError::NotEnabled`],
    /// and those of [`begin_two_factor`](Self::begin_two_factor).
    pub async fn disable_two_factor(
        &self,
        req: &HttpRequest,
        user: &P::User,
        password: &str,
    ) -> Result<(), TwoFactorError> {
        let two_factor = self.two_factor_or_err()?;
        require_fresh(req, user)?;
        self.check_current_password(req, user, password).await?;
        if !two_factor.remove(&user.id()).await? {
            return Err(TwoFactorError::NotEnabled);
        }
        self.end_others_after_change(req, "second factor removed").await;
        session_state::mark_second_factor(req, false)?;
        Ok(())
    }

    /// New recovery codes for the request's `user`, replacing every old one, after checking
    /// their current `password`.
    ///
    /// # Errors
    ///
    /// As [`disable_two_factor`](Self::disable_two_factor).
    pub async fn regenerate_recovery_codes(
        &self,
        req: &HttpRequest,
        user: &P::User,
        password: &str,
    ) -> Result<RecoveryCodes, TwoFactorError> {
        let two_factor = self.two_factor_or_err()?;
        require_fresh(req, user)?;
        self.check_current_password(req, user, password).await?;
        two_factor.regenerate_recovery_codes(&user.id()).await
    }

    /// Ends the other sessions after the second factor changed; a failure is logged.
    async fn end_others_after_change(&self, req: &HttpRequest, why: &'static str) {
        if let Err(err) = self.end_other_sessions(req).await {
            tracing::error!(error.display = %err, why, "could not end the user's other sessions");
        }
    }
}

/// The session's pending login, unless it expired (then it is ended, and the expiry audited).
fn live_pending(req: &HttpRequest) -> Option<PendingLogin> {
    let pending = session_state::pending(req)?;
    if pending.expires_at <= unix_now_ms() {
        session_state::end_pending(req);
        tracing::info!(user.id = %pending.user_id, "pending login expired");
        return None;
    }
    Some(pending)
}

/// Refuses unless `req` is `user`'s own fresh login: not anonymous, not remembered, not
/// impersonating.
fn require_fresh<U: UserLike>(req: &HttpRequest, user: &U) -> Result<(), TwoFactorError> {
    let extensions = req.extensions();
    let Some(token) = extensions.get::<UserToken>() else {
        return Err(TwoFactorError::Unauthenticated);
    };
    if token.is_impersonated() {
        return Err(TwoFactorError::Impersonating);
    }
    if token.id().as_deref() != Some(&*user.id()) {
        return Err(TwoFactorError::Unauthenticated);
    }
    if !token.is_fresh() {
        return Err(TwoFactorError::FreshLoginRequired);
    }
    Ok(())
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
