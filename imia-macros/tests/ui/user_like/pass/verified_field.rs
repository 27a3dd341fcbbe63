//! A field named `email_verified`, or marked `#[imia(verified)]`, says whether the user's
//! address is verified; without one, every user is.
use imia::UserLike;

#[derive(UserLike)]
struct ByName {
    id: u32,
    email_verified: bool,
}

#[derive(UserLike)]
struct Marked {
    id: u32,
    #[imia(verified)]
    confirmed: Option<bool>,
}

#[derive(UserLike)]
struct Skipped {
    id: u32,
    #[imia(skip)]
    #[allow(dead_code)]
    email_verified: bool,
}

#[derive(UserLike)]
struct Without {
    id: u32,
}

fn main() {
    assert!(ByName { id: 1, email_verified: true }.is_verified());
    assert!(!ByName { id: 1, email_verified: false }.is_verified());

    assert!(Marked { id: 2, confirmed: Some(true) }.is_verified());
    assert!(!Marked { id: 2, confirmed: Some(false) }.is_verified());
    assert!(!Marked { id: 2, confirmed: None }.is_verified(), "None: unverified");

    assert!(Skipped { id: 3, email_verified: false }.is_verified(), "the default");
    assert!(Without { id: 4 }.is_verified(), "the default");
}
