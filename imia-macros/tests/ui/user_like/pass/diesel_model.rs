use diesel::prelude::*;
use imia::UserLike;

diesel::table! {
    users (id) {
        id -> Integer,
        email -> Text,
        display_name -> Nullable<Text>,
        password_hash -> Nullable<Text>,
        scopes -> Text,
        api_token -> Nullable<Text>,
        is_active -> Bool,
    }
}

#[derive(Queryable, Selectable, UserLike, Clone, Debug)]
#[diesel(table_name = users)]
struct User {
    id: i32,
    email: String,
    display_name: Option<String>,
    password_hash: Option<String>,
    /// A space- or comma-separated column.
    scopes: String,
    api_token: Option<String>,
    is_active: bool,
}

fn main() {
    let u = User {
        id: 5,
        email: "bob@example.com".into(),
        display_name: None,
        password_hash: None,
        scopes: "admin, billing:read".into(),
        api_token: None,
        is_active: true,
    };
    assert_eq!(u.id(), "5");
    assert_eq!(u.display_name(), "bob@example.com");
    assert_eq!(u.hashed_password(), "");
    assert_eq!(u.scopes(), ["admin", "billing:read"]);
}
