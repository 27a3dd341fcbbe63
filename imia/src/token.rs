//! The per-request identity: [`UserToken`] and [`LoginState`].

use std::{borrow::Cow, fmt, sync::Arc};

use crate::user::{ErasedUser, UserLike};

/// The display name of an anonymous visitor.
pub const ANONYMOUS_NAME: &str = "Anonymous";

/// How the identity on a request came about.
///
/// # Examples
///
/// ```
/// use imia::{LoginState, UserToken, testing::TestUser};
///
/// assert_eq!(UserToken::anonymous().state(), LoginState::Anonymous);
/// assert_eq!(UserToken::authenticated(TestUser::new("a")).state(), LoginState::Authenticated);
/// let remembered = UserToken::remembered(TestUser::new("a"));
/// assert_eq!(remembered.state(), LoginState::Remembered);
/// assert!(!remembered.is_fresh());
/// let acting = UserToken::impersonated(TestUser::new("b"), UserToken::authenticated(TestUser::new("a")));
/// assert_eq!(acting.state().to_string(), "impersonated");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LoginState {
    /// Nobody authenticated.
    Anonymous,
    /// Authenticated in this session or by credentials on this request.
    Authenticated,
    /// Restored from a remember-me cookie, without a fresh login. Apps may ask for a fresh
    /// login before sensitive actions.
    Remembered,
    /// A real user acting as another user.
    Impersonated,
}

impl LoginState {
    /// The state's lower-case name: `anonymous`, `authenticated`, `remembered` or `impersonated`.
    ///
    /// ```
    /// assert_eq!(imia::LoginState::Remembered.as_str(), "remembered");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Anonymous => "anonymous",
            Self::Authenticated => "authenticated",
            Self::Remembered => "remembered",
            Self::Impersonated => "impersonated",
        }
    }
}

impl fmt::Display for LoginState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is making the request.
///
/// The [`Authentication`](crate::Authentication) middleware puts one on every request it sees,
/// anonymous when nobody authenticated. Handlers take it as an extractor (or use
/// [`CurrentUser`](crate::CurrentUser) for typed access to an authenticated user).
///
/// Cloning is cheap (reference counts). The token is `Send + Sync`, so it can move into spawned
/// tasks.
///
/// # Examples
///
/// ```
/// use std::borrow::Cow;
/// use imia::{LoginState, UserLike, UserToken};
///
/// struct User { name: &'static str, scopes: Vec<String> }
/// impl UserLike for User {
///     fn id(&self) -> Cow<'_, str> { Cow::Borrowed(self.name) }
///     fn scopes(&self) -> Vec<String> { self.scopes.clone() }
/// }
///
/// let token = UserToken::authenticated(User { name: "ann", scopes: vec!["admin".into()] });
/// assert!(token.is_authenticated());
/// assert_eq!(token.id().as_deref(), Some("ann"));
/// assert!(token.has_scope("admin"));
/// assert!(!token.has_all(["admin", "billing"]));
/// assert_eq!(token.user::<User>().map(|u| u.name), Some("ann"));
///
/// let anonymous = UserToken::anonymous();
/// assert_eq!(anonymous.state(), LoginState::Anonymous);
/// assert_eq!(anonymous.display_name(), "Anonymous");
/// assert_eq!(anonymous.id(), None);
/// ```
#[derive(Clone)]
pub struct UserToken {
    state: LoginState,
    user: Option<Arc<dyn ErasedUser>>,
    original: Option<Arc<UserToken>>,
    /// Whether the login passed a second factor.
    second_factor: bool,
}

impl UserToken {
    /// The anonymous token. It allocates nothing.
    pub const fn anonymous() -> Self {
        Self {
            state: LoginState::Anonymous,
            user: None,
            original: None,
            second_factor: false,
        }
    }

    /// A token for `user`, authenticated freshly (by a login or by credentials on the request).
    pub fn authenticated<U: UserLike>(user: U) -> Self {
        Self::in_state(Arc::new(user), LoginState::Authenticated)
    }

    /// A token for `user`, restored from a remember-me cookie.
    pub fn remembered<U: UserLike>(user: U) -> Self {
        Self::in_state(Arc::new(user), LoginState::Remembered)
    }

    /// A token for `target`, impersonated by the real user of `original`.
    ///
    /// The token's user, id, name and scopes are the target's; [`original`](Self::original)
    /// keeps the real user. An anonymous `original` cannot impersonate: the result is then
    /// `original` itself.
    pub fn impersonated<U: UserLike>(target: U, original: UserToken) -> Self {
        Self::impersonating(Arc::new(target), original)
    }

    /// Like [`impersonated`](Self::impersonated), for a target that is already shared.
    #[deprecated(since = "0.2.0", note = "an internal constructor; use `UserToken::impersonated`")]
    #[doc(hidden)]
    pub fn impersonated_arc<U: UserLike>(target: Arc<U>, original: UserToken) -> Self {
        Self::impersonating(target, original)
    }

    /// A token for the shared `target`, impersonated by the real user of `original`.
    pub(crate) fn impersonating<U: UserLike>(target: Arc<U>, original: UserToken) -> Self {
        if original.is_anonymous() {
            return original;
        }
        // Never nest: the original is always a real user.
        let original = match original.original {
            Some(real) => real,
            None => Arc::new(original),
        };
        Self {
            state: LoginState::Impersonated,
            user: Some(target),
            original: Some(original),
            second_factor: false,
        }
    }

    /// A token for a shared user in the given state. `LoginState::Anonymous` and
    /// `LoginState::Impersonated` (which needs an original user) give the anonymous token;
    /// use [`impersonated`](Self::impersonated) for the latter.
    #[deprecated(
        since = "0.2.0",
        note = "an internal constructor; use `UserToken::authenticated` or `UserToken::remembered`"
    )]
    #[doc(hidden)]
    pub fn with_state<U: UserLike>(user: Arc<U>, state: LoginState) -> Self {
        Self::in_state(user, state)
    }

    /// A token for a shared user in `state`; the anonymous token for states that need more.
    pub(crate) fn in_state<U: UserLike>(user: Arc<U>, state: LoginState) -> Self {
        match state {
            LoginState::Authenticated | LoginState::Remembered => Self {
                state,
                user: Some(user),
                original: None,
                second_factor: false,
            },
            LoginState::Anonymous | LoginState::Impersonated => Self::anonymous(),
        }
    }

    /// How this identity came about.
    pub fn state(&self) -> LoginState {
        self.state
    }

    /// Whether a user is present (in any state but anonymous).
    pub fn is_authenticated(&self) -> bool {
        self.user.is_some()
    }

    /// Whether nobody authenticated.
    pub fn is_anonymous(&self) -> bool {
        self.user.is_none()
    }

    /// Whether the identity comes from a fresh authentication rather than a remember-me cookie.
    /// An impersonation counts as fresh when the real user's login was.
    pub fn is_fresh(&self) -> bool {
        match self.state {
            LoginState::Authenticated => true,
            LoginState::Impersonated => self.original.as_deref().is_some_and(Self::is_fresh),
            LoginState::Anonymous | LoginState::Remembered => false,
        }
    }

    /// This token, marked as a login that passed a second factor (a TOTP code, a recovery code,
    /// a passkey). The session authenticator marks sessions that completed the
    /// [two-step login](crate::two_factor); a custom authenticator marks its users by answering
    /// [`Outcome::SecondFactor`](crate::authenticator::Outcome::SecondFactor). An anonymous or
    /// remembered token stays unmarked: neither passed anything in this login.
    ///
    /// ```
    /// use imia::{UserToken, testing::TestUser};
    ///
    /// let token = UserToken::authenticated(TestUser::new("ann"));
    /// assert!(!token.passed_second_factor());
    /// assert!(token.with_second_factor().passed_second_factor());
    /// assert!(!UserToken::anonymous().with_second_factor().passed_second_factor());
    /// assert!(!UserToken::remembered(TestUser::new("ann")).with_second_factor().passed_second_factor());
    /// ```
    #[must_use]
    pub fn with_second_factor(mut self) -> Self {
        self.second_factor = self.state == LoginState::Authenticated;
        self
    }

    /// Whether this login passed a second factor. While impersonating: whether the real user's
    /// login did.
    pub fn passed_second_factor(&self) -> bool {
        match &self.original {
            Some(real) => real.second_factor,
            None => self.second_factor,
        }
    }

    /// Whether this token was restored from a remember-me cookie.
    pub fn is_remembered(&self) -> bool {
        self.state == LoginState::Remembered
    }

    /// Whether a real user is acting as another user.
    pub fn is_impersonated(&self) -> bool {
        self.original.is_some()
    }

    /// The user's id (`None` when anonymous).
    pub fn id(&self) -> Option<Cow<'_, str>> {
        self.user.as_deref().map(|u| u.id())
    }

    /// The user's display name, `Anonymous` when nobody authenticated.
    pub fn display_name(&self) -> Cow<'_, str> {
        match self.user.as_deref() {
            Some(u) => u.display_name(),
            None => Cow::Borrowed(ANONYMOUS_NAME),
        }
    }

    /// The user's username, if the model has one.
    pub fn username(&self) -> Option<Cow<'_, str>> {
        self.user.as_deref().and_then(|u| u.username())
    }

    /// The user's scopes (empty when anonymous).
    pub fn scopes(&self) -> Vec<String> {
        self.user.as_deref().map(|u| u.scopes()).unwrap_or_default()
    }

    /// Whether the user holds `scope` (exact, case-sensitive match). Anonymous holds nothing.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.user.as_deref().is_some_and(|u| u.has_scope(scope))
    }

    /// Whether the user holds every scope in `scopes` (true for an empty list when
    /// authenticated, false when anonymous).
    pub fn has_all<I>(&self, scopes: I) -> bool
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.is_authenticated() && scopes.into_iter().all(|s| self.has_scope(s.as_ref()))
    }

    /// Whether the user holds at least one scope in `scopes` (false for an empty list).
    pub fn has_any<I>(&self, scopes: I) -> bool
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        scopes.into_iter().any(|s| self.has_scope(s.as_ref()))
    }

    /// The user as the type it was authenticated as, or `None` when anonymous or of another type.
    pub fn user<U: UserLike>(&self) -> Option<&U> {
        self.user.as_deref()?.as_any().downcast_ref::<U>()
    }

    /// A shared handle to the user, typed, like [`user`](Self::user).
    pub fn user_arc<U: UserLike>(&self) -> Option<Arc<U>> {
        self.user.clone()?.into_any().downcast::<U>().ok()
    }

    /// The user through the [`UserLike`] interface, whatever its type.
    pub fn user_like(&self) -> Option<&dyn UserLike> {
        self.user.as_deref().map(|u| u as &dyn UserLike)
    }

    /// While impersonating: the real user's token. `None` otherwise.
    pub fn original(&self) -> Option<&UserToken> {
        self.original.as_deref()
    }

    /// While impersonating: the real user's id. `None` otherwise.
    pub fn original_id(&self) -> Option<Cow<'_, str>> {
        self.original.as_deref().and_then(UserToken::id)
    }

    /// The real user behind the request: the original user while impersonating, else this token.
    pub fn real(&self) -> &UserToken {
        self.original.as_deref().unwrap_or(self)
    }
}

impl Default for UserToken {
    fn default() -> Self {
        Self::anonymous()
    }
}

impl fmt::Display for UserToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display_name())
    }
}

/// Shows the state and ids only: never the password hash or anything else of the user.
impl fmt::Debug for UserToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("UserToken");
        d.field("state", &self.state).field("id", &self.id());
        if let Some(original) = self.original_id() {
            d.field("original_id", &original);
        }
        d.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct User {
        id: &'static str,
        name: &'static str,
        scopes: &'static [&'static str],
    }

    impl UserLike for User {
        fn id(&self) -> Cow<'_, str> {
            Cow::Borrowed(self.id)
        }
        fn display_name(&self) -> Cow<'_, str> {
            Cow::Borrowed(self.name)
        }
        fn hashed_password(&self) -> &str {
            "secret-hash"
        }
        fn scopes(&self) -> Vec<String> {
            self.scopes.iter().map(|s| s.to_string()).collect()
        }
    }

    fn root() -> User {
        User {
            id: "root@localhost",
            name: "Root",
            scopes: &["a", "b"],
        }
    }

    fn customer() -> User {
        User {
            id: "customer@localhost",
            name: "Customer",
            scopes: &["c"],
        }
    }

    #[test]
    fn anonymous_token_has_no_identity() {
        let t = UserToken::anonymous();
        assert!(t.is_anonymous());
        assert!(!t.is_authenticated());
        assert!(!t.is_fresh());
        assert_eq!(t.state(), LoginState::Anonymous);
        assert_eq!(t.id(), None);
        assert_eq!(t.display_name(), "Anonymous");
        assert_eq!(t.to_string(), "Anonymous");
        assert!(t.scopes().is_empty());
        assert!(!t.has_scope("a"));
        assert!(!t.has_all(Vec::<String>::new()));
        assert!(t.original().is_none());
        assert!(t.user::<User>().is_none());
    }

    #[test]
    fn authenticated_token_delegates_to_the_user() {
        let t = UserToken::authenticated(root());
        assert!(t.is_authenticated());
        assert!(t.is_fresh());
        assert_eq!(t.state(), LoginState::Authenticated);
        assert_eq!(t.id().as_deref(), Some("root@localhost"));
        assert_eq!(t.display_name(), "Root");
        assert_eq!(t.to_string(), "Root");
        assert_eq!(t.scopes(), vec!["a".to_string(), "b".to_string()]);
        assert!(t.original().is_none());
        assert_eq!(t.original_id(), None);
        assert_eq!(t.user::<User>().map(|u| u.id), Some("root@localhost"));
        struct Other;
        impl UserLike for Other {
            fn id(&self) -> Cow<'_, str> {
                "other".into()
            }
        }
        assert!(t.user::<Other>().is_none());
        assert!(t.user_arc::<Other>().is_none());
        assert!(t.user_arc::<User>().is_some());
    }

    #[test]
    fn scope_checks_are_exact_and_case_sensitive() {
        let t = UserToken::authenticated(root());
        assert!(t.has_scope("a"));
        assert!(!t.has_scope("A"));
        assert!(!t.has_scope("a "));
        assert!(!t.has_scope(""));
        assert!(t.has_all(["a", "b"]));
        assert!(t.has_all(Vec::<&str>::new()));
        assert!(!t.has_all(["a", "z"]));
        assert!(t.has_any(["z", "b"]));
        assert!(!t.has_any(["z"]));
        assert!(!t.has_any(Vec::<&str>::new()));
    }

    #[test]
    fn remembered_token_is_authenticated_but_not_fresh() {
        let t = UserToken::remembered(root());
        assert!(t.is_authenticated());
        assert!(t.is_remembered());
        assert!(!t.is_fresh());
        assert_eq!(t.state().as_str(), "remembered");
    }

    #[test]
    fn impersonation_keeps_the_real_user_and_never_nests() {
        let real = UserToken::authenticated(root());
        let t = UserToken::impersonated(customer(), real);
        assert_eq!(t.state(), LoginState::Impersonated);
        assert!(t.is_authenticated());
        assert!(t.is_impersonated());
        assert!(t.is_fresh());
        assert_eq!(t.id().as_deref(), Some("customer@localhost"));
        assert_eq!(t.display_name(), "Customer");
        assert!(t.has_scope("c"));
        assert!(!t.has_scope("a"));
        assert_eq!(t.original_id().as_deref(), Some("root@localhost"));
        assert_eq!(t.real().id().as_deref(), Some("root@localhost"));

        let nested = UserToken::impersonated(root(), t);
        assert_eq!(nested.original_id().as_deref(), Some("root@localhost"));
        assert!(nested.original().is_some_and(|o| !o.is_impersonated()));
    }

    #[test]
    fn anonymous_cannot_impersonate() {
        let t = UserToken::impersonated(customer(), UserToken::anonymous());
        assert!(t.is_anonymous());
        assert_eq!(t.original_id(), None);
    }

    #[test]
    fn impersonating_from_a_remembered_login_is_not_fresh() {
        let t = UserToken::impersonated(customer(), UserToken::remembered(root()));
        assert!(!t.is_fresh());
    }

    #[test]
    fn with_state_refuses_states_that_need_more() {
        assert!(UserToken::in_state(Arc::new(root()), LoginState::Impersonated).is_anonymous());
        assert!(UserToken::in_state(Arc::new(root()), LoginState::Anonymous).is_anonymous());
    }

    #[test]
    fn debug_never_shows_the_password_hash() {
        let dbg = format!(
            "{:?}",
            UserToken::impersonated(customer(), UserToken::authenticated(root()))
        );
        assert!(dbg.contains("customer@localhost"), "{dbg}");
        assert!(dbg.contains("original_id"), "{dbg}");
        assert!(!dbg.contains("secret-hash"), "{dbg}");
    }

    #[test]
    fn token_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<UserToken>();
    }
}
