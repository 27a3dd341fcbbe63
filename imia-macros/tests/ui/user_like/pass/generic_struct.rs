use std::fmt::Display;

use imia::UserLike;

#[derive(UserLike)]
struct User<Id: Display, Extra> {
    id: Id,
    username: String,
    #[imia(skip)]
    #[allow(dead_code)]
    name: Extra,
}

fn main() {
    let u = User { id: 9u8, username: "carol".to_string(), name: [0u8; 4] };
    assert_eq!(u.id(), "9");
    assert_eq!(u.display_name(), "carol");
}
