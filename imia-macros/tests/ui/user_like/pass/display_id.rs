use std::fmt;

use imia::UserLike;

/// An id type of the application's own, like a UUID.
#[derive(Clone, Copy)]
struct UserId(u128);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

#[derive(UserLike)]
struct User {
    id: UserId,
    #[imia(password)]
    secret: Option<String>,
    active: Option<bool>,
}

fn main() {
    let u = User { id: UserId(255), secret: Some("hash".into()), active: None };
    assert_eq!(u.id(), "000000000000000000000000000000ff");
    assert_eq!(u.hashed_password(), "hash");
    assert!(!u.is_active(), "None means inactive");
}
