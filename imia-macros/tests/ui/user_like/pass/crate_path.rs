mod reexport {
    pub use imia as auth;
}

use imia::UserLike;

#[derive(imia::UserLike)]
#[imia(crate = "reexport::auth")]
struct User {
    id: String,
}

fn main() {
    assert_eq!(User { id: "x".into() }.id(), "x");
}
