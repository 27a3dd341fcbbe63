//! What a login form asks for besides the credentials.

use crate::redirect::safe_next;

/// What a login asks for besides the username and password: to be remembered on this device,
/// and where to go afterwards. Both survive the second step of a login with a second factor.
///
/// # Examples
///
/// ```
/// use imia::login::LoginOptions;
///
/// let options = LoginOptions::new().remember(true).next("/reports?year=2024");
/// assert!(options.remembers());
/// assert_eq!(options.next_path(), Some("/reports?year=2024"));
/// // Only local paths are kept: anything else is dropped.
/// assert_eq!(LoginOptions::new().next("https://evil.example/").next_path(), None);
/// assert_eq!(LoginOptions::new().next("//evil.example").next_path(), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoginOptions {
    pub(crate) remember: bool,
    pub(crate) next: Option<String>,
}

impl LoginOptions {
    /// Not remembered, nowhere next.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether to issue a remember-me token once the user is logged in.
    #[must_use]
    pub fn remember(mut self, remember: bool) -> Self {
        self.remember = remember;
        self
    }

    /// Where to go after the login: kept only when it is a safe local path
    /// ([`safe_next`]); anything else is dropped.
    #[must_use]
    pub fn next(mut self, next: &str) -> Self {
        self.next = safe_next(next).map(str::to_owned);
        self
    }

    /// Whether the login asks to be remembered.
    pub fn remembers(&self) -> bool {
        self.remember
    }

    /// The kept local path to go to after the login.
    pub fn next_path(&self) -> Option<&str> {
        self.next.as_deref()
    }
}
