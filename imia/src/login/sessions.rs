//! Seeing and ending a user's sessions through the [`LoginManager`]: log out everywhere, end
//! one session or every other one, and the per-user limit.

use actix_web::{HttpMessage as _, HttpRequest};

use super::{LoginError, LoginManager};
use crate::{
    UserToken,
    password::PasswordHasher,
    provider::UserProvider,
    session_state::current_handle,
    sessions::{DynSessionIndex, SessionInfo, is_handle},
};

impl<P, H> LoginManager<P, H>
where
    P: UserProvider,
    P::User: Clone,
    H: PasswordHasher,
{
    /// Logs the request's real user out everywhere: rotates their security stamp
    /// ([`UserProvider::rotate_security_stamp`]), so that every session of theirs is anonymous
    /// at its next request whatever the session store; revokes every remember-me token of
    /// theirs; and logs this request out ([`logout`](Self::logout)). An anonymous request is
    /// just logged out.
    ///
    /// # Errors
    ///
    /// [`LoginError::Internal`] when the provider keeps no security stamps (the other sessions
    /// stay logged in until they expire), [`LoginError::Provider`] when a store fails. This
    /// request is logged out in every case.
    pub async fn logout_everywhere(&self, req: &HttpRequest) -> Result<(), LoginError> {
        let user_id = real_user_id(req);
        let mut result = Ok(());
        if let Some(user_id) = &user_id {
            result = self.end_every_session(user_id).await;
        }
        let logged_out = self.logout(req).await;
        if let Some(user_id) = &user_id {
            tracing::info!(user.id = %user_id, ended_by = %user_id, "logged out everywhere");
        }
        result.and(logged_out)
    }

    /// Ends every session and remember-me token of the user with id `user_id`: by rotating
    /// their security stamp and revoking their tokens. For administrators ending another user's
    /// sessions, and for [`logout_everywhere`](Self::logout_everywhere).
    ///
    /// # Errors
    ///
    /// [`LoginError::Internal`] when the provider keeps no security stamps, or does not know the
    /// user; [`LoginError::Provider`] when a store fails. The tokens are revoked in every case.
    pub async fn end_every_session(&self, user_id: &str) -> Result<(), LoginError> {
        let rotated = self.inner.provider.rotate_security_stamp(user_id).await;
        let revoked = match &self.inner.remember {
            Some(remember) => remember.revoke_user(user_id).await.map(drop),
            None => Ok(()),
        };
        let deleted = match &self.inner.sessions {
            Some(index) => index.end_sessions_dyn(user_id, None).await.map(drop),
            None => Ok(()),
        };
        match rotated? {
            true => {}
            false => {
                tracing::error!(
                    user.id = %user_id,
                    "could not end the user's sessions: the provider keeps no security stamp for them \
                     (UserProvider::rotate_security_stamp)"
                );
                return Err(LoginError::Internal(
                    "the user provider keeps no security stamps".into(),
                ));
            }
        }
        revoked?;
        deleted?;
        tracing::info!(user.id = %user_id, "every session of the user ended");
        Ok(())
    }

    /// The sessions of the request's real user, newest first, the request's own marked
    /// [`current`](SessionInfo::current); empty for an anonymous request.
    ///
    /// # Errors
    ///
    /// [`LoginError::SessionsUnavailable`] without a [`sessions`](super::LoginManagerBuilder::sessions)
    /// index, [`LoginError::Provider`] when it fails.
    pub async fn sessions(&self, req: &HttpRequest) -> Result<Vec<SessionInfo>, LoginError> {
        let index = self.index()?;
        let Some(user_id) = real_user_id(req) else {
            return Ok(Vec::new());
        };
        let current = current_handle(req);
        let mut sessions = index.sessions_dyn(&user_id).await?;
        for session in &mut sessions {
            session.current = current.as_deref() == Some(session.id.as_str());
        }
        Ok(sessions)
    }

    /// Ends the request's real user's session with handle `id`: it is anonymous at its next
    /// request (the current one too, when `id` is its own). Whether there was such a session of
    /// the user: an id of another user's session, an unknown or a malformed id ends nothing and
    /// is `false`.
    ///
    /// # Errors
    ///
    /// [`LoginError::SessionsUnavailable`] without an index, [`LoginError::Provider`] when it
    /// fails.
    pub async fn end_session(&self, req: &HttpRequest, id: &str) -> Result<bool, LoginError> {
        let index = self.index()?;
        let Some(user_id) = real_user_id(req) else {
            return Ok(false);
        };
        if !is_handle(id) {
            return Ok(false);
        }
        let ended = index.end_session_dyn(&user_id, id).await?;
        if ended {
            tracing::info!(user.id = %user_id, session = %id, ended_by = %user_id, "session ended");
        }
        Ok(ended)
    }

    /// Ends every other session of the request's real user and keeps this one: rotates their
    /// security stamp (which ends every session, whatever the store, the cookie store
    /// included), renews this session's fingerprint, revokes the remember-me tokens of the
    /// other devices, and deletes the other sessions from the index when there is one.
    ///
    /// # Errors
    ///
    /// [`LoginError::Internal`] when the provider keeps no security stamps and there is no
    /// index (nothing could end the other sessions), [`LoginError::InvalidCredentials`] for an
    /// anonymous request, [`LoginError::Provider`] when a store fails.
    pub async fn end_other_sessions(&self, req: &HttpRequest) -> Result<u64, LoginError> {
        let Some(user_id) = real_user_id(req) else {
            return Err(LoginError::InvalidCredentials);
        };
        let rotated = self.inner.provider.rotate_security_stamp(&user_id).await?;
        if rotated {
            // This session stays: a new fingerprint under the new stamp; the other devices'
            // remember-me tokens are revoked, this device's re-issued.
            self.update_session_auth_hash(req, &user_id).await?;
        } else if let Some(remember) = &self.inner.remember {
            remember.password_changed(req, &user_id).await?;
        }
        let ended = match &self.inner.sessions {
            Some(index) => index.end_sessions_dyn(&user_id, current_handle(req).as_deref()).await?,
            None if rotated => 0,
            None => {
                tracing::error!(
                    user.id = %user_id,
                    "could not end the other sessions: no session index and no security stamp"
                );
                return Err(LoginError::Internal(
                    "the user provider keeps no security stamps and there is no session index".into(),
                ));
            }
        };
        tracing::info!(user.id = %user_id, ended, ended_by = %user_id, "other sessions ended");
        Ok(ended)
    }

    fn index(&self) -> Result<&dyn DynSessionIndex, LoginError> {
        self.inner.sessions.as_deref().ok_or(LoginError::SessionsUnavailable)
    }

    /// With [`max_sessions`](super::LoginManagerBuilder::max_sessions): ends the least recently used
    /// sessions of the user so that the one being made fits. A failure is logged; the login
    /// stands.
    pub(super) async fn enforce_session_limit(&self, user_id: &str) {
        let (Some(index), Some(max)) = (&self.inner.sessions, self.inner.max_sessions) else {
            return;
        };
        let mut sessions = match index.sessions_dyn(user_id).await {
            Ok(sessions) => sessions,
            Err(err) => {
                tracing::error!(user.id = %user_id, error.display = %err, "could not count the user's sessions");
                return;
            }
        };
        // The new session is not stored yet: keep `max - 1` of the others, the most recently used.
        if sessions.len() < max {
            return;
        }
        sessions.sort_by(|a, b| {
            b.last_seen_at
                .cmp(&a.last_seen_at)
                .then(b.created_at.cmp(&a.created_at))
        });
        for old in sessions.split_off(max - 1) {
            match index.end_session_dyn(user_id, &old.id).await {
                Ok(_) => tracing::info!(
                    user.id = %user_id, session = %old.id, ended_by = "session limit",
                    "session ended"
                ),
                Err(err) => {
                    tracing::error!(user.id = %user_id, error.display = %err, "could not end a session over the limit")
                }
            }
        }
    }
}

/// The id of the real user of `req` (the impersonator while impersonating), as the
/// `Authentication` middleware found it: `None` when anonymous or without the middleware (an
/// unchecked session must not act for a user).
fn real_user_id(req: &HttpRequest) -> Option<String> {
    req.extensions()
        .get::<UserToken>()
        .and_then(|token| token.real().id().map(|id| id.into_owned()))
}
